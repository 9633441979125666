// Request bodies at the edge. Alertmanager's webhook v4 as it really arrives (see INTEGRATIONS.md):
// timestamps with any offset, generatorURL a plain string, fingerprint and truncatedAlerts absent
// on old Alertmanagers.
import { z } from 'zod';
import { CHANGE_KINDS } from '../../activities/db/incident-store';
import { DECISIONS } from '../../workflows/definitions';

const labels = z.record(z.string(), z.string());

export const alertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: labels.refine(
    (l) => typeof l.alertname === 'string' && l.alertname.length > 0,
    'labels.alertname is required',
  ),
  annotations: labels.default({}),
  startsAt: z.string().datetime({ offset: true }),
  endsAt: z.string().datetime({ offset: true }).optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().optional(),
});

export const alertmanagerSchema = z.object({
  version: z.literal('4'),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().nonnegative().optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: labels.default({}),
  commonLabels: labels.default({}),
  commonAnnotations: labels.default({}),
  externalURL: z.string().default(''),
  alerts: z.array(alertSchema).min(1),
});
export type AlertmanagerPayload = z.infer<typeof alertmanagerSchema>;
export type WebhookAlert = z.infer<typeof alertSchema>;

export const changeEventSchema = z.object({
  service: z.string().min(1),
  environment: z.string().min(1),
  kind: z.enum(CHANGE_KINDS),
  version: z.string().optional(),
  description: z.string().max(2000).optional(),
  at: z.string().datetime({ offset: true }).optional(),
  actor: z.string().optional(),
});

export const decisionSchema = z.object({
  step: z.string().min(1),
  decision: z.enum(DECISIONS),
  by: z.string().min(1),
  comment: z.string().max(2000).optional(),
});
