// Request bodies at the edge. Alertmanager's webhook v4 as it really arrives (see INTEGRATIONS.md):
// timestamps with any offset, generatorURL a plain string, fingerprint and truncatedAlerts absent
// on old Alertmanagers.
import { z } from 'zod';
import { CHANGE_KINDS } from '../../activities/db/incident-store';
import { DECISIONS } from '../../workflows/definitions';

/**
 * Caps on what one request may carry, inside Temporal's limits (2 MB per payload, keyword search
 * attributes) and the store's: a label value is at most 1024 characters, an annotation 8192, 64 of
 * each per alert, 1000 alerts per request (set Alertmanager's `max_alerts` below that). Labels
 * become keyword search attributes (alertname, service, job, environment, env, priority), which
 * Temporal keeps up to 2048 bytes as JSON: 1024 characters of `€` or `"` are over that.
 */
export const LIMITS = {
  labelValue: 1024,
  labelValueJsonBytes: 2048,
  annotation: 8192,
  labels: 64,
  alerts: 1000,
  text: 2000,
} as const;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Text Postgres and Temporal can hold: no NUL byte, no unpaired UTF-16 surrogate. */
const text = (max: number) =>
  z
    .string()
    .max(max, `at most ${max} characters`)
    .refine((v) => !v.includes('\u0000'), 'contains a NUL byte')
    .refine((v) => !LONE_SURROGATE.test(v), 'contains an unpaired surrogate');

const keyValues = (max: number) =>
  z
    .record(text(128), text(max))
    .refine((l) => Object.keys(l).length <= LIMITS.labels, `at most ${LIMITS.labels} entries`);
const labelValue = text(LIMITS.labelValue).refine(
  (v) => Buffer.byteLength(JSON.stringify(v)) <= LIMITS.labelValueJsonBytes,
  `at most ${LIMITS.labelValueJsonBytes} bytes as JSON (Temporal's limit for a keyword search attribute)`,
);
const labels = z
  .record(text(128), labelValue)
  .refine((l) => Object.keys(l).length <= LIMITS.labels, `at most ${LIMITS.labels} entries`);

/** An RFC 3339 time the store can keep: Alertmanager's zero time (year 1) is fine, year 0 is not. */
const time = z
  .string()
  .datetime({ offset: true })
  .refine((v) => Number(v.slice(0, 4)) >= 1, 'year 0000 is not a time the store can keep');

export const alertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: labels.refine(
    (l) => typeof l.alertname === 'string' && l.alertname.length > 0,
    'labels.alertname is required',
  ),
  annotations: keyValues(LIMITS.annotation).default({}),
  startsAt: time,
  endsAt: time.optional(),
  generatorURL: text(LIMITS.text).optional(),
  fingerprint: text(128).optional(),
});

export const alertmanagerSchema = z.object({
  version: z.literal('4'),
  groupKey: text(LIMITS.annotation),
  truncatedAlerts: z.number().int().nonnegative().optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: text(256),
  groupLabels: labels.default({}),
  commonLabels: labels.default({}),
  commonAnnotations: labels.default({}),
  externalURL: text(LIMITS.text).default(''),
  alerts: z
    .array(alertSchema)
    .min(1)
    .max(LIMITS.alerts, `at most ${LIMITS.alerts} alerts per request: set max_alerts in Alertmanager's webhook_config`),
});
export type AlertmanagerPayload = z.infer<typeof alertmanagerSchema>;
export type WebhookAlert = z.infer<typeof alertSchema>;

export const changeEventSchema = z.object({
  service: text(LIMITS.labelValue).min(1),
  environment: text(LIMITS.labelValue).min(1),
  kind: z.enum(CHANGE_KINDS),
  version: text(256).optional(),
  description: text(LIMITS.text).optional(),
  at: time.optional(),
  actor: text(256).optional(),
});

export const decisionSchema = z.object({
  step: text(128).min(1),
  decision: z.enum(DECISIONS),
  by: text(256).min(1),
  comment: text(LIMITS.text).optional(),
});
