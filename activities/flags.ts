// The LLM app's feature_flags as it is: the seed's (feature, enabled), plus a value column,
// updated_at and updated_by only where the table has them. A change records the row as it was and
// as it left it; its undo puts the prior row back with a compare-and-set, so a flag someone changed
// meanwhile (a kill switch, a tuned limit) is never overwritten. Each change is one statement: a
// worker that dies while it waits on a lock leaves a change that lands whole or not at all.
import { escapeIdentifier, type Pool } from 'pg';

/** A flag row as the runbook saw it: null is "no row". `value` only where the value column is used. */
export type FlagRow = { enabled: boolean; value?: string | null } | null;

export interface FlagChange {
  feature: string;
  enabled: boolean;
  value?: string;
  /** The seed's cost cap: the row changes only while the last hour's spend is above this (USD). */
  whenLastHourCostAbove?: number;
}

export interface AppliedChange {
  prior: FlagRow;
  /** The row as the change left it; null when the change changed nothing (the cap was not reached). */
  applied: FlagRow;
  summary: string;
}

export type RestoreResult =
  { outcome: 'restored' | 'unchanged'; summary: string } | { outcome: 'conflict'; current: FlagRow; summary: string };

interface Columns {
  value?: string;
  updatedAt: boolean;
  updatedBy: boolean;
}

export class ValueColumnMissing extends Error {}

export function showFlag(row: FlagRow): string {
  if (!row) return 'no row';
  return `enabled=${row.enabled}${row.value !== undefined ? ` value=${row.value ?? 'null'}` : ''}`;
}

export class FlagTable {
  constructor(
    private readonly pool: Pool,
    private readonly valueColumn: string,
  ) {}

  /** The columns the app's table has, read from the catalog (no DDL, no rights beyond the table's). */
  private async columns(): Promise<Columns> {
    const { rows } = await this.pool.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_name = 'feature_flags' AND table_schema = ANY (current_schemas(false))`,
    );
    const has = new Set(rows.map((r) => r.column_name));
    if (!has.has('feature') || !has.has('enabled'))
      throw new Error('feature_flags (feature, enabled) is not readable in the app database');
    return {
      value: has.has(this.valueColumn) ? escapeIdentifier(this.valueColumn) : undefined,
      updatedAt: has.has('updated_at'),
      updatedBy: has.has('updated_by'),
    };
  }

  async read(feature: string): Promise<FlagRow> {
    const cols = await this.columns();
    const { rows } = await this.pool.query<{ enabled: boolean; value?: string | null }>(
      `SELECT enabled${cols.value ? `, ${cols.value}::text AS value` : ''} FROM feature_flags WHERE feature = $1`,
      [feature],
    );
    return rows[0] ? toRow(rows[0], cols) : null;
  }

  /** Sets the flag (inserting its row if absent, except for the cost cap, which only changes a row). */
  async apply(change: FlagChange, author: string): Promise<AppliedChange> {
    const cols = await this.columns();
    if (change.value !== undefined && !cols.value)
      throw new ValueColumnMissing(
        `feature_flags has no column "${this.valueColumn}" for the value ${change.value} of ${change.feature} (dataSources.featureFlags.valueColumn)`,
      );
    const params: unknown[] = [change.feature, change.enabled];
    const sets = ['enabled = $2'];
    const insertCols = ['feature', 'enabled'];
    const insertVals = ['$1', '$2'];
    if (cols.value && change.value !== undefined) {
      params.push(change.value);
      sets.push(`${cols.value} = $${params.length}`);
      insertCols.push(cols.value);
      insertVals.push(`$${params.length}`);
    }
    stamp(cols, params, sets, insertCols, insertVals, author);
    let condition = 'true';
    if (change.whenLastHourCostAbove !== undefined) {
      params.push(change.whenLastHourCostAbove);
      // The seed's cost-cap statement: the row changes only while the last hour's spend is above the cap.
      condition = `(SELECT coalesce(sum(cost_usd), 0) FROM inference_events WHERE created_at > now() - interval '1 hour') > $${params.length}`;
    }
    const insert =
      change.whenLastHourCostAbove === undefined
        ? `INSERT INTO feature_flags (${insertCols.join(', ')}) SELECT ${insertVals.join(', ')} WHERE NOT EXISTS (SELECT 1 FROM prior) RETURNING 1`
        : 'SELECT 1 WHERE false';
    const { rows } = await this.pool.query<{
      prior: { enabled: boolean; value?: string | null } | null;
      changed: string;
    }>(
      `WITH prior AS (
         SELECT enabled${cols.value ? `, ${cols.value}::text AS value` : ''} FROM feature_flags WHERE feature = $1 FOR UPDATE
       ), updated AS (
         UPDATE feature_flags SET ${sets.join(', ')} WHERE feature = $1 AND ${condition} RETURNING 1
       ), inserted AS (${insert})
       SELECT (SELECT row_to_json(prior) FROM prior) AS prior,
              (SELECT count(*) FROM updated) + (SELECT count(*) FROM inserted) AS changed`,
      params,
    );
    const prior = rows[0].prior ? toRow(rows[0].prior, cols) : null;
    if (Number(rows[0].changed) === 0)
      return { prior, applied: null, summary: `${change.feature} left as it is (${showFlag(prior)})` };
    const applied: FlagRow = {
      enabled: change.enabled,
      ...(cols.value ? { value: change.value ?? prior?.value ?? null } : {}),
    };
    return { prior, applied, summary: `feature_flags.${change.feature} ${showFlag(prior)} → ${showFlag(applied)}` };
  }

  /** Puts the prior row back, but only while the row is still as the change left it. */
  async restore(feature: string, prior: FlagRow, applied: FlagRow, author: string): Promise<RestoreResult> {
    if (!applied)
      return { outcome: 'unchanged', summary: `${feature}: the change changed nothing, nothing to put back` };
    const cols = await this.columns();
    const params: unknown[] = [feature, applied.enabled];
    let still = 'feature = $1 AND enabled = $2';
    if (cols.value && applied.value !== undefined) {
      params.push(applied.value);
      still += ` AND ${cols.value}::text IS NOT DISTINCT FROM $${params.length}`;
    }
    let sql: string;
    if (!prior) sql = `DELETE FROM feature_flags WHERE ${still} RETURNING 1`;
    else {
      params.push(prior.enabled);
      const sets = [`enabled = $${params.length}`];
      if (cols.value && prior.value !== undefined) {
        params.push(prior.value);
        sets.push(`${cols.value} = $${params.length}`);
      }
      stamp(cols, params, sets, [], [], author);
      sql = `UPDATE feature_flags SET ${sets.join(', ')} WHERE ${still} RETURNING 1`;
    }
    const { rowCount } = await this.pool.query(sql, params);
    if (rowCount) return { outcome: 'restored', summary: `feature_flags.${feature} back to ${showFlag(prior)}` };
    const current = await this.read(feature);
    if (same(current, prior))
      return { outcome: 'unchanged', summary: `feature_flags.${feature} already ${showFlag(prior)}` };
    return {
      outcome: 'conflict',
      current,
      summary: `feature_flags.${feature} was changed since the mitigation (now ${showFlag(current)}; set ${showFlag(applied)} by the mitigation, ${showFlag(prior)} before the incident): left as it is`,
    };
  }
}

/** The row is as the change meant it to be: after a crash, the change took effect. */
export function same(a: FlagRow, b: FlagRow): boolean {
  if (!a || !b) return a === b;
  return a.enabled === b.enabled && (a.value === undefined || b.value === undefined || a.value === b.value);
}

function toRow(r: { enabled: boolean; value?: string | null }, cols: Columns): FlagRow {
  return { enabled: r.enabled, ...(cols.value ? { value: r.value ?? null } : {}) };
}

/** Who changed the row and when, where the table keeps that. */
function stamp(
  cols: Columns,
  params: unknown[],
  sets: string[],
  insertCols: string[],
  insertVals: string[],
  author: string,
) {
  if (cols.updatedAt) {
    sets.push('updated_at = now()');
    insertCols.push('updated_at');
    insertVals.push('now()');
  }
  if (cols.updatedBy) {
    params.push(author);
    sets.push(`updated_by = $${params.length}`);
    insertCols.push('updated_by');
    insertVals.push(`$${params.length}`);
  }
}
