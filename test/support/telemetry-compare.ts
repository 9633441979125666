// Compares a diagnostic's rows from the rollups with the seed's SQL as written. numeric and bigint
// columns (strings from pg) must match digit for digit; float8 ones (failure_rate, hidden_ratio,
// p95) within 1e-9 relative. The seed's ORDER BY leaves ties unordered (features by total_cost,
// tools by failures), so rows are matched by their group key and the ORDER BY columns are
// compared in sequence.
import type { DiagnosticName } from '../../activities/telemetry';

type Row = Record<string, unknown>;

const KEYS: Record<DiagnosticName, string[]> = {
  hourlyCost: ['hour'],
  traffic: ['hour'],
  triggers: ['hour', 'trigger_type'],
  hiddenRatio: ['day'],
  tokens: ['hour'],
  features: ['day', 'feature'],
  toolFailures: ['tool_name'],
};
const ORDER: Record<DiagnosticName, string[]> = {
  hourlyCost: ['hour'],
  traffic: ['hour'],
  triggers: ['hour', 'trigger_type'],
  hiddenRatio: ['day'],
  tokens: ['hour'],
  features: ['day', 'total_cost'],
  toolFailures: ['failures'],
};

function show(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  return value === null ? 'null' : String(value);
}

function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number')
    return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  return show(a) === show(b) && typeof a === typeof b;
}

/** null when equal, else what differs first. */
export function diffDiagnostic(name: DiagnosticName, fast: Row[], seed: Row[]): string | null {
  if (fast.length !== seed.length) return `${name}: ${fast.length} rows, the seed's SQL ${seed.length}`;
  const orderOf = (rows: Row[]) => rows.map((r) => ORDER[name].map((c) => show(r[c])).join('|'));
  const fo = orderOf(fast);
  const so = orderOf(seed);
  const at = fo.findIndex((v, i) => v !== so[i]);
  if (at >= 0) return `${name}: row ${at} is ordered by (${fo[at]}), the seed's SQL by (${so[at]})`;
  const byKey = new Map(seed.map((r) => [KEYS[name].map((c) => show(r[c])).join('|'), r]));
  for (const row of fast) {
    const key = KEYS[name].map((c) => show(row[c])).join('|');
    const other = byKey.get(key);
    if (!other) return `${name}: group ${key} is not in the seed's SQL result`;
    const cols = new Set([...Object.keys(row), ...Object.keys(other)]);
    for (const col of cols)
      if (!same(row[col], other[col]))
        return `${name} ${key}: ${col} = ${show(row[col])}, the seed's SQL says ${show(other[col])}`;
  }
  return null;
}
