// The one config file: alert routing, responders, approval policy, actions, data sources and
// notification targets. Secrets stay in the environment; this file names them at most.
import { z } from 'zod';
import { MAINTENANCE_RUNBOOKS, RUNBOOK_IDS } from '../workflows/definitions';
import { DRILL_RUNBOOKS, findScenario, scenariosOf } from '../workflows/drills/scenarios';

const duration = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d|w)$/, 'a duration like 15m'),
]);

/** `host` or `host:port` (an IPv6 address in brackets), nothing more: no scheme, path or user. */
function isHostEntry(entry: string): boolean {
  try {
    const u = new URL(`http://${entry}`);
    const e = entry.toLowerCase();
    return e === u.hostname || e === u.host || e === `${u.hostname}:80`;
  } catch {
    return false;
  }
}

const argv = z.array(z.string().min(1)).min(1, 'an argv array: program first, then its arguments');

// `{name}` in a feature, value, threshold or argv element is filled from the incident's service and
// environment, the runbook's parameters and the diagnosis (e.g. `{feature}`, `{autoSaveIntervalMs}`)
// when the action runs; a name none of them has is refused when the config loads.
const flagChange = z.object({
  feature: z.string().min(1),
  enabled: z.boolean(),
  value: z.string().optional(),
  /** The seed's cost cap: change an existing row only while the last hour's cost is above this (USD). */
  whenLastHourCostAbove: z.union([z.number().nonnegative(), z.string().min(1)]).optional(),
});

/** The provider's Admin API (POST /v1/organizations/api_keys/{id}) with ANTHROPIC_ADMIN_KEY. */
const providerKeyChange = z.object({ keyId: z.string(), status: z.enum(['inactive', 'archived']) });

export const actionSchema = z
  .object({
    run: argv.optional(),
    undo: argv.optional(),
    flag: flagChange.optional(),
    /** Gone: a flag change is undone by putting its row back as it was before the incident. */
    undoFlag: z
      .unknown()
      .optional()
      .refine(
        (v) => v === undefined,
        'undoFlag is no longer used: undo restores the flag row as it was before the incident',
      ),
    providerKey: providerKeyChange.optional(),
    timeout: duration.default('10m'),
    cwd: z.string().optional(),
    /** Names of worker environment variables passed to the command (secrets stay out of history). */
    env: z.array(z.string()).default([]),
  })
  .refine(
    (a) => (a.run ? 1 : 0) + (a.flag ? 1 : 0) + (a.providerKey ? 1 : 0) === 1,
    'give exactly one of run (argv), flag or providerKey',
  );
export type ActionConfig = z.infer<typeof actionSchema>;

const responder = z.object({
  name: z.string().min(1),
  /** sha256 hex of the responder's API token. */
  tokenSha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 hex of the token'),
  roles: z.array(z.string().min(1)).min(1),
  slackUserId: z.string().optional(),
});

const route = z.object({
  /** Alertmanager matchers, all of which must match: `alertname=~"Api.*"`, `severity!="info"`. */
  match: z.array(z.string().min(1)).min(1),
  runbook: z.enum(RUNBOOK_IDS),
  params: z.record(z.string(), z.unknown()).default({}),
});

const target = z.object({
  slackChannel: z.string().optional(),
  pagerduty: z.boolean().default(false),
  email: z.string().optional(),
});

const releaseWindow = z.object({
  days: z.array(z.enum(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])).min(1),
  start: z.string().regex(/^\d\d:\d\d$/, 'HH:MM'),
  end: z.string().regex(/^\d\d:\d\d$/, 'HH:MM'),
  /** Minutes east of UTC, so the check needs no time-zone database. */
  utcOffsetMinutes: z.number().int().min(-720).max(840).default(0),
});

export const configSchema = z.object({
  routes: z.array(route).default([]),
  responders: z.array(responder).default([]),
  approvals: z
    .object({
      defaultRoles: z.array(z.string()).min(1).default(['oncall']),
      stepRoles: z.record(z.string(), z.array(z.string()).min(1)).default({}),
      preApproved: z.array(z.string()).default([]),
      /**
       * The Temporal deployment authenticates its own users (Web UI behind SSO, API keys or mTLS per
       * person): signal decisions then act, recorded as authenticated by Temporal.
       */
      trustTemporalSignals: z.boolean().default(false),
    })
    .prefault({}),
  actions: z.record(z.string(), actionSchema).default({}),
  dataSources: z
    .object({
      prometheus: z
        .object({
          url: z.string().url().optional(),
          /** PromQL label matchers scoping every query; {service} and {environment} are filled in. */
          selector: z.string().default('service="{service}",environment="{environment}"'),
          metric: z.string().default('http_requests_total'),
          rateWindow: z.string().default('5m'),
        })
        .prefault({}),
      loki: z
        .object({
          url: z.string().url().optional(),
          selector: z.string().default('{service="{service}",environment="{environment}"}'),
          errorFilter: z.string().default('|~ "(?i)(error|exception)"'),
        })
        .prefault({}),
      traces: z.object({ url: z.string().url().optional() }).prefault({}),
      statusPages: z.array(z.object({ name: z.string(), url: z.string().url() })).default([]),
      redisUrl: z.string().optional(),
      /**
       * The LLM app's flags table, the seed's `feature_flags (feature, enabled)`. A flag change's value
       * goes to `valueColumn` only when the table has that column; `updated_at`/`updated_by` are
       * written only where they exist.
       */
      featureFlags: z
        .object({
          valueColumn: z
            .string()
            .regex(/^[a-z_][a-z0-9_]*$/, 'a column name')
            .default('value'),
        })
        .prefault({}),
      /** The app's own view of the LLM provider: PromQL, {service} and {environment} filled in. */
      llmProvider: z
        .object({
          errorRatioQuery: z
            .string()
            .default(
              'sum(rate(llm_provider_requests_total{service="{service}",status!~"2.."}[5m])) / sum(rate(llm_provider_requests_total{service="{service}"}[5m]))',
            ),
          latencyP99Query: z
            .string()
            .default(
              'histogram_quantile(0.99, sum by (le) (rate(llm_provider_request_duration_seconds_bucket{service="{service}"}[5m])))',
            ),
          /** A quality signal such as an eval score or 1 - negative-feedback rate; none by default. */
          qualityQuery: z.string().optional(),
        })
        .prefault({}),
      otelEndpoints: z.array(z.string().url()).default([]),
      /** host:port of the TLS endpoints whose certificates certificate-management watches. */
      tlsEndpoints: z.array(z.string().regex(/^[^:\s]+(:\d+)?$/, 'host or host:port')).default([]),
      /** The log directories log-management watches: size, rotation and retention. */
      logs: z
        .object({
          directories: z.array(z.string().min(1)).default([]),
          /** A file larger than this means rotation is not running. */
          maxFileMb: z.number().positive().default(500),
          maxTotalMb: z.number().positive().default(10_240),
          retentionDays: z.number().positive().default(14),
        })
        .prefault({}),
      /** Where the database dumps land (pg_dump -Fc), and the scratch server a restore check uses. */
      backups: z
        .object({
          directory: z.string().min(1).optional(),
          suffix: z.string().default('.dump'),
          /** A non-production server (RESTORE_CHECK_DATABASE_URL): the check creates and drops a database there. */
          scratchDatabaseUrl: z.string().optional(),
        })
        .prefault({}),
    })
    .prefault({}),
  notifications: z.record(z.string(), target).default({}),
  escalation: z.array(z.string()).default([]),
  releaseWindows: z.array(releaseWindow).default([]),
  /** The synthetic LLM-provider probe: a Temporal Schedule that runs the connectivity test. */
  probe: z
    .object({
      /** Off: the worker creates no schedule. On, it does so only when ANTHROPIC_API_KEY is set. */
      enabled: z.boolean().default(true),
      every: duration.default('1m'),
      service: z.string().min(1).default('api'),
      environment: z.string().min(1).default('prod'),
    })
    .prefault({}),
  /**
   * Scheduled maintenance: a Temporal Schedule per runbook runs the automated checks of its
   * document; a failing pass opens that runbook. Unlisted runbooks keep their default (see
   * client/maintenance-schedules.ts).
   */
  maintenance: z
    .object({
      service: z.string().min(1).default('api'),
      environment: z.string().min(1).default('prod'),
      schedules: z
        .partialRecord(
          z.enum(MAINTENANCE_RUNBOOKS),
          z.object({ enabled: z.boolean().optional(), every: duration.optional() }),
        )
        .default({}),
    })
    .prefault({}),
  /** Drills on a schedule: each runs a built runbook against its scenario with nothing changed. */
  drills: z
    .object({
      /** A notification target told when a scheduled drill does not reach its conclusion. */
      notifyOnFailure: z.string().min(1).optional(),
      schedules: z
        .array(
          z
            .object({
              runbook: z.enum(DRILL_RUNBOOKS),
              scenario: z.string().min(1),
              every: duration.default('7d'),
            })
            .superRefine((d, ctx) => {
              if (!findScenario(d.runbook, d.scenario))
                ctx.addIssue({
                  code: 'custom',
                  path: ['scenario'],
                  message: `no drill scenario "${d.scenario}" for ${d.runbook}; known: ${scenariosOf(d.runbook).join(', ')}`,
                });
            }),
        )
        .default([]),
    })
    .prefault({}),
  /**
   * The cost-spike rollups of the app's telemetry, kept in the store by a Temporal Schedule that
   * only reads the app's database: every `every`, hours older than `lateness` settle (younger ones
   * are read live, so rows that late still count), `retention` back.
   */
  telemetryRollup: z
    .object({
      enabled: z.boolean().default(true),
      every: duration.default('5m'),
      lateness: duration.default('2h'),
      retention: duration.default('14d'),
    })
    .prefault({}),
  /** The catalogue runbooks' documents (catalogue/runbooks/*.md) as the worker runs them. */
  catalogue: z
    .object({
      /**
       * Hosts a document's `check http` may reach besides the data sources' (Prometheus, Loki,
       * traces, status pages, OTLP and TLS endpoints, ANTHROPIC_BASE_URL) and the URLs in this
       * file's catalogue `vars`: `host` (any port) or `host:port`. Any other host is not fetched.
       */
      httpHosts: z.array(z.string().refine(isHostEntry, 'a host or host:port, e.g. api.internal:8080')).default([]),
    })
    .prefault({}),
  runbooks: z
    .partialRecord(z.enum(RUNBOOK_IDS), z.object({ params: z.record(z.string(), z.unknown()).default({}) }))
    .default({}),
  gateway: z
    .object({
      bodyLimitBytes: z
        .number()
        .int()
        .positive()
        .default(2 * 1024 * 1024),
      /** Names the gateway answers to besides loopback (its Host header); anything else gets 421. */
      hosts: z.array(z.string().min(1).max(253)).default([]),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
