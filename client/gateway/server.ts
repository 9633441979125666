// The HTTP gateway: Alertmanager webhook, change events, incidents and decisions, health.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { describeIssues } from '../../config/load';
import { Router } from '../../config/routing';
import { ParamsError } from '../../config/params';
import type { Config } from '../../config/schema';
import type { IncidentStore } from '../../activities/db/incident-store';
import { DecisionRefused, incidentKey, Incidents, TemporalUnavailable, type StartRequest } from '../incidents';
import { incidentWorkflowId, TASK_QUEUE, type AlertEvent, type RunbookId } from '../../workflows/definitions';
import {
  alertmanagerSchema,
  changeEventSchema,
  decisionSchema,
  type AlertmanagerPayload,
  type WebhookAlert,
} from './schemas';

export interface GatewayDeps {
  client: Client;
  config: Config;
  store: IncidentStore;
  /** WEBHOOK_TOKEN: when set, Alertmanager must present it (Bearer, or basic-auth password). */
  webhookToken?: string;
  /** CHANGES_TOKEN: what deploy pipelines may present to POST /events/changes. */
  changesToken?: string;
  decisionTimeoutMs?: number;
  /** Task queue for started runbooks; tests give each file its own. */
  taskQueue?: string;
  /** DECISION_SIGNING_KEY: proves to the worker the decisions whose responder token was checked here. */
  signingKey?: string;
  log?: (line: string) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Alerts of one incident and status, delivered together; `outcomes` holds each one's receipt so far. */
interface Delivery {
  workflowId: string;
  /** The incident key: the group key and environment, hashed. */
  incident: string;
  start: StartRequest;
  params: Record<string, unknown>;
  events: AlertEvent[];
  outcomes: Pick<AlertOutcome, 'alertname' | 'status' | 'key'>[];
}

export interface AlertOutcome {
  alertname: string;
  status: string;
  key: string;
  runbook?: string;
  workflowId?: string;
  outcome: 'started' | 'joined' | 'ignored';
  reason?: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

function safeEqual(a: string, b: string): boolean {
  // Hash both so lengths match and the compare takes the same time whatever the input.
  return timingSafeEqual(sha256(a), sha256(b));
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  // A web page can post text/plain or a form to any origin without a preflight: JSON endpoints take JSON only.
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    return Promise.reject(new HttpError(415, `content-type must be application/json, not "${type || 'none'}"`));
  }
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new HttpError(413, `body of ${declared} bytes is over the ${limit}-byte limit`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit keep draining, but hold nothing, so the 413 still reaches the sender.
      if (size > limit) reject(new HttpError(413, `body is over the ${limit}-byte limit`));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson<T>(raw: Buffer, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `body is not JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new HttpError(400, `invalid body:\n${describeIssues(parsed.error)}`, {
      fields: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return parsed.data;
}

function alertKey(alert: WebhookAlert): string {
  if (alert.fingerprint) return alert.fingerprint;
  const sorted = Object.keys(alert.labels)
    .sort()
    .map((k) => `${k}=${alert.labels[k]}`)
    .join(',');
  return sha256(sorted).toString('hex').slice(0, 16);
}

export function createGateway(deps: GatewayDeps): http.Server {
  const { config, store } = deps;
  const router = Router.fromConfig(config);
  const incidents = Incidents.create(deps.client, config, deps.taskQueue, deps.signingKey);
  const log = deps.log ?? ((line: string) => console.log(line));
  const responders = config.responders.map((r) => ({ ...r, token: Buffer.from(r.tokenSha256, 'hex') }));
  const allowedHosts = new Set([
    'localhost',
    '127.0.0.1',
    '[::1]',
    ...config.gateway.hosts.map((h) => h.toLowerCase()),
  ]);

  function checkWebhookAuth(req: http.IncomingMessage): void {
    if (!deps.webhookToken) return;
    const header = req.headers.authorization ?? '';
    let presented = '';
    if (header.startsWith('Bearer ')) presented = header.slice(7);
    else if (header.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      presented = decoded.slice(decoded.indexOf(':') + 1);
    }
    if (!presented || !safeEqual(presented, deps.webhookToken))
      throw new HttpError(401, 'missing or wrong webhook token');
  }

  /**
   * Change events weigh in a diagnosis: once any token is configured they take a Bearer token, the
   * webhook's, a responder's, or their own (CHANGES_TOKEN), so nobody plants a deploy.
   */
  function checkChangeAuth(req: http.IncomingMessage): void {
    if (!deps.changesToken && !deps.webhookToken && responders.length === 0) return;
    const header = req.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7) : '';
    const digest = sha256(presented);
    const known =
      presented &&
      ([deps.changesToken, deps.webhookToken].some((t) => t && safeEqual(presented, t)) ||
        responders.some((r) => timingSafeEqual(r.token, digest)));
    if (!known)
      throw new HttpError(
        401,
        'change events need a Bearer token: CHANGES_TOKEN, the webhook token or a responder token',
      );
  }

  /** The responder behind a bearer token; undefined when no responders are configured (open access). */
  function responderFor(req: http.IncomingMessage): { name: string } | undefined {
    if (responders.length === 0) return undefined;
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    const digest = sha256(token);
    const match = token ? responders.find((r) => timingSafeEqual(r.token, digest)) : undefined;
    if (!match) throw new HttpError(401, 'no valid responder token (Authorization: Bearer <token>)');
    return match;
  }

  /**
   * What to do with one alert: an outcome already (ignored, or unchanged for the open incident), or
   * the delivery it needs; deliveries to one incident go together (`deliver`).
   */
  async function triage(payload: AlertmanagerPayload, alert: WebhookAlert): Promise<AlertOutcome | Delivery> {
    const key = alertKey(alert);
    const base = { alertname: alert.labels.alertname, status: alert.status, key };
    const route = router.route(alert.labels, alert.annotations);
    if (!route.runbook) return { ...base, outcome: 'ignored', reason: route.reason };
    const runbook: RunbookId = route.runbook;
    const environment = alert.labels.environment ?? alert.labels.env ?? payload.commonLabels.environment ?? 'unknown';
    const incident = incidentKey(payload.groupKey, environment);
    const workflowId = incidentWorkflowId(runbook, incident);
    // Alertmanager re-sends each group every group_interval: what the open incident has heard
    // already, unchanged, would only lengthen its history.
    if (await deliveredToOpenRun(workflowId, key, alert))
      return {
        ...base,
        runbook,
        workflowId,
        outcome: 'joined',
        reason: 'unchanged since it was last delivered: not signalled again',
      };
    const event: AlertEvent = {
      key,
      status: alert.status,
      alertname: alert.labels.alertname,
      labels: alert.labels,
      annotations: alert.annotations,
      startsAt: alert.startsAt,
      endsAt: alert.endsAt,
      generatorURL: alert.generatorURL,
    };
    const start: StartRequest = {
      runbook,
      key: incident,
      service: alert.labels.service ?? payload.commonLabels.service ?? alert.labels.job ?? 'unknown',
      environment,
      severity: alert.labels.priority ?? severityOf(alert.labels.severity),
      alert: event,
      source: 'alertmanager',
      startedBy: `alertmanager (${payload.receiver})`,
    };
    return { workflowId, incident, start, params: route.params, events: [event], outcomes: [base] };
  }

  /**
   * Hands one incident its alerts: firing ones start it or join it, resolved ones join it if it is
   * open; one signal for them all, however many alerts of the group changed.
   */
  async function deliver(d: Delivery): Promise<AlertOutcome[]> {
    const { runbook } = d.start;
    const each = (outcome: (i: number) => Omit<AlertOutcome, 'alertname' | 'status' | 'key'>) =>
      d.outcomes.map((base, i) => ({ ...base, runbook, ...outcome(i) }));
    if (d.events[0].status === 'resolved') {
      const workflowId = await incidents.resolve(runbook, d.incident, d.events);
      return each(() =>
        workflowId
          ? { workflowId, outcome: 'joined' }
          : { outcome: 'ignored', reason: 'resolved alert with no open incident' },
      );
    }
    try {
      const started = await incidents.start(d.start, d.params, d.events.slice(1));
      return each((i) => ({ workflowId: started.workflowId, outcome: i === 0 ? started.outcome : 'joined' }));
    } catch (err) {
      if (err instanceof TemporalUnavailable) throw err;
      // Bad parameters are an answer; anything else (Temporal refusing the start) must come again.
      if (err instanceof ParamsError) return each(() => ({ outcome: 'ignored', reason: err.message }));
      throw new HttpError(
        503,
        `could not start ${runbook} for ${d.events[0].alertname}: ${(err as Error).message}; Alertmanager will retry`,
      );
    }
  }

  /** The alert, exactly as now, reached the incident's open run (its receipt is newer than the run). */
  async function deliveredToOpenRun(workflowId: string, alertKey: string, alert: WebhookAlert): Promise<boolean> {
    const { status, labels, annotations } = alert;
    const at = await store.lastDelivered({ workflowId, alertKey, status, labels, annotations }).catch(() => undefined);
    if (!at) return false;
    const since = await incidents.openSince(workflowId);
    return since !== undefined && at >= since;
  }

  async function alertmanager(req: http.IncomingMessage): Promise<[number, unknown]> {
    checkWebhookAuth(req);
    const payload = parseJson(await readBody(req, config.gateway.bodyLimitBytes), alertmanagerSchema);
    const results: AlertOutcome[] = new Array(payload.alerts.length);
    // One delivery per incident and status, firing first, so a group's resolved alerts join what it started.
    const deliveries = new Map<string, Delivery & { at: number[] }>();
    try {
      for (const [i, alert] of payload.alerts.entries()) {
        const t = await triage(payload, alert);
        if (!('events' in t)) {
          results[i] = t;
          continue;
        }
        const id = `${t.events[0].status}|${t.workflowId}`;
        const same = deliveries.get(id);
        if (!same) deliveries.set(id, { ...t, at: [i] });
        else {
          same.events.push(...t.events);
          same.outcomes.push(...t.outcomes);
          same.at.push(i);
        }
      }
      const ordered = [...deliveries.values()].sort(
        (a, b) => Number(a.events[0].status === 'resolved') - Number(b.events[0].status === 'resolved'),
      );
      for (const d of ordered) (await deliver(d)).forEach((r, j) => (results[d.at[j]] = r));
    } catch (err) {
      if (err instanceof TemporalUnavailable) throw new HttpError(503, `${err.message}; Alertmanager will retry`);
      throw err;
    }
    for (const [i, r] of results.entries()) {
      const alert = payload.alerts[i];
      try {
        await store.recordAlert({
          alertname: r.alertname,
          status: r.status,
          alertKey: r.key,
          labels: alert.labels,
          annotations: alert.annotations,
          runbook: r.runbook,
          workflowId: r.workflowId,
          outcome: r.outcome,
          reason: r.reason,
        });
      } catch (err) {
        // Without its receipt Alertmanager must send it again: the retry joins what started here.
        throw new HttpError(
          503,
          `incident store unavailable, alert ${r.key} not recorded: ${(err as Error).message}; Alertmanager will retry`,
        );
      }
    }
    if (payload.truncatedAlerts)
      log(`gateway: Alertmanager truncated ${payload.truncatedAlerts} alerts of group ${payload.groupKey}`);
    return [200, { alerts: results, truncatedAlerts: payload.truncatedAlerts ?? 0 }];
  }

  async function changeEvent(req: http.IncomingMessage): Promise<[number, unknown]> {
    checkChangeAuth(req);
    const body = parseJson(await readBody(req, 64 * 1024), changeEventSchema);
    try {
      const id = await store.addChange({ ...body, at: body.at ?? new Date().toISOString() });
      return [201, { id }];
    } catch (err) {
      throw new HttpError(503, `incident store unavailable, change not recorded: ${(err as Error).message}`);
    }
  }

  async function decide(req: http.IncomingMessage, workflowId: string): Promise<[number, unknown]> {
    const body = parseJson(await readBody(req, 64 * 1024), decisionSchema);
    let responder: { name: string } | undefined;
    try {
      responder = responderFor(req);
    } catch (err) {
      await recordRefusal(workflowId, body, false, (err as Error).message);
      throw err;
    }
    const decision = { ...body, by: responder?.name ?? body.by, authenticated: responder !== undefined };
    try {
      const result = await incidents.decide(workflowId, decision, deps.decisionTimeoutMs);
      return [200, result];
    } catch (err) {
      if (err instanceof DecisionRefused) {
        await recordRefusal(workflowId, decision, decision.authenticated, err.message);
        throw new HttpError(err.code, err.message);
      }
      throw err;
    }
  }

  async function recordRefusal(
    workflowId: string,
    d: z.infer<typeof decisionSchema>,
    authenticated: boolean,
    reason: string,
  ) {
    await store
      .recordDecision({
        workflowId,
        step: d.step,
        decision: d.decision,
        by: d.by,
        authenticated,
        comment: d.comment,
        outcome: 'refused',
        reason,
      })
      .catch((err: Error) => log(`gateway: refused decision not recorded: ${err.message}`));
  }

  async function incidentState(workflowId: string): Promise<[number, unknown]> {
    try {
      return [200, await incidents.state(workflowId)];
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError' || /not found/i.test((err as Error).message)) {
        throw new HttpError(404, `no incident ${workflowId}`);
      }
      throw err;
    }
  }

  /** Each part an incident needs, 'ok' or why not; 503 naming the parts that are down. */
  async function ready(): Promise<[number, unknown]> {
    const reason = (err: Error) => err.message || String(err);
    const [temporal, postgres, worker] = await Promise.all([
      deps.client.connection.workflowService.getSystemInfo({}).then(() => 'ok', reason),
      store.ping().then(() => 'ok', reason),
      workerPolling().catch(reason),
    ]);
    const checks: Record<string, string> = { temporal, postgres, worker };
    const down = Object.keys(checks).filter((k) => checks[k] !== 'ok');
    return [down.length ? 503 : 200, { ready: down.length === 0, down, checks }];
  }

  /** Started incidents only progress if a worker polls their task queue. */
  async function workerPolling(): Promise<string> {
    const taskQueue = deps.taskQueue ?? TASK_QUEUE;
    const { pollers } = await deps.client.workflowService.describeTaskQueue({
      namespace: deps.client.options.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
    });
    return pollers?.length ? 'ok' : `no worker is polling task queue "${taskQueue}": started incidents wait for one`;
  }

  /** DNS rebinding: a browser page on another name that resolves here must not reach the API. */
  function checkHost(req: http.IncomingMessage): void {
    const host = (req.headers.host ?? '').toLowerCase();
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
    if (!allowedHosts.has(name))
      throw new HttpError(
        421,
        `Host "${host.slice(0, 200)}" is not a name of this gateway; add it to the config's gateway.hosts`,
      );
  }

  async function dispatch(req: http.IncomingMessage): Promise<[number, unknown]> {
    // A path, never a URL of its own: "//host/x" would otherwise be read as host "host", path "/x".
    const target = req.url ?? '/';
    if (!target.startsWith('/') || target.startsWith('//'))
      throw new HttpError(404, `no route ${target.slice(0, 200)}`);
    const url = new URL(`http://gateway${target}`);
    const path = url.pathname;
    const method = req.method ?? 'GET';
    checkHost(req);
    if (path === '/alertmanager' && method === 'POST') return alertmanager(req);
    if (path === '/events/changes' && method === 'POST') return changeEvent(req);
    if (path === '/healthz' && method === 'GET') return [200, { ok: true }];
    if (path === '/readyz' && method === 'GET') return ready();
    if (path === '/incidents' && method === 'GET') {
      responderFor(req);
      try {
        return [200, await incidents.list({ open: url.searchParams.get('open') === 'true' })];
      } catch (err) {
        throw new HttpError(503, `Temporal unavailable: ${(err as Error).message}`);
      }
    }
    const decisionPath = /^\/incidents\/([^/]+)\/decisions$/.exec(path);
    if (decisionPath && method === 'POST') return decide(req, pathId(decisionPath[1]));
    const incidentPath = /^\/incidents\/([^/]+)$/.exec(path);
    if (incidentPath && method === 'GET') {
      // Incident keys and state are for responders once responders are configured.
      responderFor(req);
      return incidentState(pathId(incidentPath[1]));
    }
    throw new HttpError(404, `no route ${method} ${path}`);
  }

  return http.createServer((req, res) => {
    dispatch(req)
      .then(([status, body]) => send(res, status, body))
      .catch((err: unknown) => {
        if (err instanceof HttpError) return send(res, err.status, { error: err.message, ...err.body });
        log(`gateway: ${req.method} ${req.url}: ${(err as Error).stack ?? err}`);
        send(res, 500, { error: (err as Error).message });
      });
  });
}

/** Why the gateway may not listen on `host`: beyond loopback it needs a webhook token and a responder. */
export function exposureProblem(
  host: string,
  webhookToken: string | undefined,
  responders: number,
): string | undefined {
  if (['127.0.0.1', '::1', 'localhost'].includes(host)) return undefined;
  const missing = [
    ...(webhookToken ? [] : ['WEBHOOK_TOKEN']),
    ...(responders > 0 ? [] : ['a responder in the config']),
  ];
  return missing.length
    ? `refusing to listen on ${host} without ${missing.join(' and ')}: anyone who reaches it could post alerts or decide`
    : undefined;
}

/** The workflow id in a path, URL-decoded; a malformed %-escape is the client's error. */
function pathId(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `malformed %-escape in the incident id "${raw.slice(0, 200)}"`);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function severityOf(severity: string | undefined): string {
  switch ((severity ?? '').toLowerCase()) {
    case 'critical':
    case 'page':
      return 'P1';
    case 'warning':
      return 'P3';
    case 'info':
      return 'P4';
    default:
      return 'P2';
  }
}
