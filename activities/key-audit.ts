// Key compromise: "audit recent usage for unauthorized calls". Usage per API key, user and tenant
// in the audit window against the window before it: what is new or grew sharply is listed.
import type { Deps } from './deps';
import { observe, type Observed } from './http';

export interface UsageRow {
  dimension: 'api_key_id' | 'user_id' | 'tenant' | 'user_agent';
  name: string;
  requests: number;
  cost: number;
  before: number;
}

export interface UsageAudit {
  from: string;
  to: string;
  requests: number;
  /** New in the window, or at least 3 times the window before. */
  suspicious: UsageRow[];
}

export function createKeyAuditActivities({ telemetry }: Deps) {
  return {
    async auditKeyUsage(input: { nowMs: number; windowMs: number }): Promise<Observed<UsageAudit>> {
      const to = new Date(input.nowMs);
      const from = new Date(input.nowMs - input.windowMs);
      const prev = new Date(input.nowMs - 2 * input.windowMs);
      return observe(async () => {
        const { rows } = await telemetry.query<{
          dimension: UsageRow['dimension'];
          name: string;
          requests: string;
          cost: string;
          before: string;
        }>(
          `WITH e AS (SELECT * FROM inference_events WHERE created_at > $3 AND created_at <= $2),
           dims AS (
             SELECT 'api_key_id' AS dimension, api_key_id AS name, created_at, cost_usd FROM e
             UNION ALL SELECT 'user_id', user_id, created_at, cost_usd FROM e
             UNION ALL SELECT 'tenant', tenant, created_at, cost_usd FROM e
             UNION ALL SELECT 'user_agent', user_agent, created_at, cost_usd FROM e
           )
           SELECT dimension, name, count(*) FILTER (WHERE created_at > $1) AS requests,
                  coalesce(sum(cost_usd) FILTER (WHERE created_at > $1), 0) AS cost,
                  count(*) FILTER (WHERE created_at <= $1) AS before
           FROM dims WHERE name IS NOT NULL GROUP BY 1, 2
           HAVING count(*) FILTER (WHERE created_at > $1) >= 3 * greatest(1, count(*) FILTER (WHERE created_at <= $1))
           ORDER BY 4 DESC LIMIT 20`,
          [from, to, prev],
        );
        const total = await telemetry.query<{ n: string }>(
          'SELECT count(*) AS n FROM inference_events WHERE created_at > $1 AND created_at <= $2',
          [from, to],
        );
        return {
          from: from.toISOString(),
          to: to.toISOString(),
          requests: Number(total.rows[0].n),
          suspicious: rows.map((r) => ({
            dimension: r.dimension,
            name: r.name,
            requests: Number(r.requests),
            cost: Number(r.cost),
            before: Number(r.before),
          })),
        };
      }, 'inference_events by api_key_id, user_id, tenant, user_agent: audit window vs the window before');
    },
  };
}
