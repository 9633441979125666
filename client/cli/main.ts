// `runbook`: start, list, inspect and decide incidents; render the runbooks as Markdown.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config/load';
import { parseParamArgs } from '../../config/params';
import {
  DECISIONS,
  describeDecision,
  MAINTENANCE_RUNBOOKS,
  RUNBOOK_IDS,
  TASK_QUEUE,
  type DecisionInput,
  type DecisionKind,
  type DecisionResult,
  type IncidentState,
  type MaintenanceRunbook,
  type RunbookId,
} from '../../workflows/definitions';
import { drillStatus, renderDrillReport, renderDrillStatus, runDrill, syncDrillSchedules } from '../drills';
import { DecisionRefused, Incidents, type DecisionError } from '../incidents';
import {
  maintenanceStatus,
  renderMaintenanceStatus,
  runMaintenanceNow,
  syncMaintenanceSchedules,
} from '../maintenance-schedules';
import { ensureProbeSchedule, pauseProbe, probeScheduleState, resumeProbe } from '../probe-schedule';
import { connectClient } from '../temporal';
import {
  DRILL_RUNBOOKS,
  DRILL_SCENARIOS,
  findScenario,
  scenariosOf,
  type DrillRunbook,
} from '../../workflows/drills/scenarios';
import { renderAllDocs } from './docs';

const USAGE = `usage:
  runbook start <runbook-id> [--param k=v ...] [--key K] [--service S] [--environment E] [--severity P1..P4] [--json]
  runbook list [--open] [--json]
  runbook status <workflow-id> [--json]
  runbook decide <workflow-id> <step> <approve|reject|done|skip|acknowledge|confirm|extend|escalate> --by <name> [--comment ..]
  runbook approve|reject|ack <workflow-id> <step> --by <name> [--comment ..]
  runbook probe status|pause|resume|enable [--comment ..] [--json]
  runbook maintenance status|sync [--json]
  runbook maintenance run <runbook-id> [--json]
  runbook drill <api-error-budget|cost-spike|llm-provider-incident> --scenario <name> [--json]
  runbook drill list | sync | status [--json]
  runbook docs [--out DIR]`;

class UsageError extends Error {}

/** RUNBOOK_TOKEN, else the first line of ~/.config/runbook/token. */
function responderToken(): string | undefined {
  if (process.env.RUNBOOK_TOKEN) return process.env.RUNBOOK_TOKEN;
  try {
    return (
      readFileSync(path.join(os.homedir(), '.config', 'runbook', 'token'), 'utf8')
        .split('\n')[0]
        .trim() || undefined
    );
  } catch {
    return undefined;
  }
}

async function decideThroughGateway(workflowId: string, input: DecisionInput, token: string): Promise<DecisionResult> {
  const gateway = (process.env.RUNBOOK_GATEWAY_URL ?? 'http://127.0.0.1:8088').replace(/\/$/, '');
  let res: Response;
  try {
    res = await fetch(`${gateway}/incidents/${encodeURIComponent(workflowId)}/decisions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(input),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new DecisionRefused(503, `gateway ${gateway} unreachable (RUNBOOK_GATEWAY_URL): ${(err as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as DecisionResult & { error?: string };
  if (!res.ok)
    throw new DecisionRefused(res.status as DecisionError['code'], body.error ?? `gateway answered ${res.status}`);
  return body;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      param: { type: 'string', multiple: true, default: [] },
      key: { type: 'string' },
      service: { type: 'string', default: 'api' },
      environment: { type: 'string', default: 'prod' },
      severity: { type: 'string', default: 'P2' },
      json: { type: 'boolean', default: false },
      open: { type: 'boolean', default: false },
      by: { type: 'string' },
      comment: { type: 'string' },
      scenario: { type: 'string' },
      out: { type: 'string', default: 'docs/runbooks' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

function renderState(s: IncidentState): string {
  const lines = [
    `${s.runbook} ${s.incidentId}`,
    `  status ${s.status} · severity ${s.severity} · ${s.service}/${s.environment} · started ${s.startedAt}`,
    `  diagnosis: ${s.diagnosis ? s.diagnosis.causes.map((c) => `${c.cause} (${c.score})`).join(', ') || s.diagnosis.primary : 'pending'}`,
  ];
  for (const p of s.pendingApprovals) {
    lines.push(
      `  WAITING: ${p.step} — ${p.title} [${p.decisions.join('/')}] by ${p.roles.join(' or ')}, deadline ${p.deadline}`,
    );
  }
  if (s.diagnosis?.sources) {
    const { read, unread } = s.diagnosis.sources;
    lines.push(`  sources read: ${read.join(', ') || 'none'}`);
    for (const u of unread) lines.push(`  source NOT read: ${u.source}: ${u.reason}`);
  }
  for (const step of s.steps) {
    lines.push(`  ${step.status.padEnd(11)} ${step.id}${step.note ? `: ${step.note}` : ''}`);
    for (const d of step.decisions ?? []) lines.push(`  ${''.padEnd(11)}   ${describeDecision(d)}`);
  }
  for (const m of s.mitigations) lines.push(`  mitigation ${m.step}: ${m.status}${m.detail ? ` (${m.detail})` : ''}`);
  return lines.join('\n');
}

async function run(argv: string[]): Promise<void> {
  const { values: o, positionals } = parse(argv);
  const [command, ...rest] = positionals;
  if (o.help || !command) {
    console.log(USAGE);
    return;
  }
  if (command === 'docs') {
    mkdirSync(o.out, { recursive: true });
    for (const [id, markdown] of renderAllDocs()) writeFileSync(path.join(o.out, `${id}.md`), markdown);
    console.log(`wrote ${RUNBOOK_IDS.length} runbooks to ${o.out}`);
    return;
  }
  if (command === 'drill' && rest[0] === 'list') {
    if (o.json) console.log(JSON.stringify(DRILL_SCENARIOS));
    else
      for (const d of DRILL_SCENARIOS)
        console.log(
          `${d.runbook.padEnd(22)} ${d.name.padEnd(22)} ${d.description} → ${d.expect.diagnosis}, ${d.expect.mitigation.join(' or ')}`,
        );
    return;
  }
  const config = loadConfig();
  const client = await connectClient();
  const incidents = Incidents.create(client, config, process.env.RUNBOOKS_TASK_QUEUE || undefined);
  try {
    switch (command) {
      case 'start': {
        const runbook = rest[0] as RunbookId;
        if (!RUNBOOK_IDS.includes(runbook))
          throw new UsageError(`unknown runbook "${rest[0] ?? ''}"; known: ${RUNBOOK_IDS.join(', ')}`);
        const started = await incidents.start({
          runbook,
          key: o.key,
          service: o.service,
          environment: o.environment,
          severity: o.severity,
          params: parseParamArgs(o.param),
          source: 'manual',
          startedBy: `cli (${process.env.USER ?? 'unknown'})`,
        });
        console.log(o.json ? JSON.stringify(started) : `${started.outcome} ${started.workflowId}`);
        return;
      }
      case 'list': {
        const list = await incidents.list({ open: o.open });
        if (o.json) console.log(JSON.stringify(list));
        else
          for (const i of list)
            console.log(
              `${i.status.padEnd(18)} ${i.severity.padEnd(3)} ${i.runbook.padEnd(18)} ${i.workflowId}${i.awaitingApproval ? '  (awaiting approval)' : ''}`,
            );
        return;
      }
      case 'status': {
        if (!rest[0]) throw new UsageError('status needs a workflow id');
        const state = await incidents.state(rest[0]);
        console.log(o.json ? JSON.stringify(state) : renderState(state));
        return;
      }
      case 'decide':
      case 'approve':
      case 'reject':
      case 'ack': {
        const shorthand: Record<string, DecisionKind> = { approve: 'approve', reject: 'reject', ack: 'acknowledge' };
        const [workflowId, step, explicit] = rest;
        const decision = (shorthand[command] ?? explicit) as DecisionKind;
        if (!workflowId || !step || !DECISIONS.includes(decision))
          throw new UsageError(`${command}: need <workflow-id> <step>${command === 'decide' ? ' <decision>' : ''}`);
        if (!o.by) throw new UsageError(`${command}: --by <name> is required`);
        const input = { step, decision, by: o.by, comment: o.comment };
        // With a responder token the decision goes through the gateway, which authenticates it; without
        // one it reaches Temporal directly, unauthenticated (refused when responders are configured).
        const token = responderToken();
        const result = token
          ? await decideThroughGateway(workflowId, input, token)
          : await incidents.decide(workflowId, input);
        console.log(o.json ? JSON.stringify(result) : `${result.decision} accepted for ${result.step} by ${result.by}`);
        return;
      }
      case 'probe': {
        // The synthetic provider probe's schedule: see it, pause it during planned work, resume it.
        const note = o.comment ?? `${rest[0]} from the CLI by ${process.env.USER ?? 'unknown'}`;
        if (rest[0] === 'pause') await pauseProbe(client, note);
        else if (rest[0] === 'resume') await resumeProbe(client, note);
        else if (rest[0] === 'enable')
          await ensureProbeSchedule(client, config.probe, process.env.RUNBOOKS_TASK_QUEUE || TASK_QUEUE);
        else if (rest[0] !== 'status') throw new UsageError('probe: status, pause, resume or enable');
        const state = await probeScheduleState(client);
        console.log(
          o.json
            ? JSON.stringify(state)
            : state.exists
              ? `${state.id}: ${state.paused ? 'PAUSED' : 'running'} every ${state.every}${state.note ? ` (${state.note})` : ''}`
              : `${state.id}: no schedule (the worker creates it when ANTHROPIC_API_KEY is set; or \`runbook probe enable\`)`,
        );
        return;
      }
      case 'drill': {
        const taskQueue = process.env.RUNBOOKS_TASK_QUEUE || TASK_QUEUE;
        if (rest[0] === 'sync') {
          const synced = await syncDrillSchedules(client, config, taskQueue);
          console.log(
            o.json
              ? JSON.stringify(synced)
              : synced.map((d) => `${d.scheduleId}: ${d.outcome}`).join('\n') ||
                  'no drills scheduled (config drills.schedules)',
          );
          return;
        }
        if (rest[0] === 'status') {
          const status = await drillStatus(client, config);
          console.log(
            o.json
              ? JSON.stringify(status)
              : status.map(renderDrillStatus).join('\n') || 'no drills scheduled (config drills.schedules)',
          );
          return;
        }
        const runbook = rest[0] as DrillRunbook;
        if (!DRILL_RUNBOOKS.includes(runbook))
          throw new UsageError(`drill: one of ${DRILL_RUNBOOKS.join(', ')}, list, sync or status`);
        if (!o.scenario || !findScenario(runbook, o.scenario))
          throw new UsageError(`drill ${runbook}: --scenario one of ${scenariosOf(runbook).join(', ')}`);
        const report = await runDrill(client, taskQueue, { runbook, scenario: o.scenario });
        console.log(o.json ? JSON.stringify(report) : renderDrillReport(report));
        if (!report.passed) process.exitCode = 1;
        return;
      }
      case 'maintenance': {
        const taskQueue = process.env.RUNBOOKS_TASK_QUEUE || TASK_QUEUE;
        if (rest[0] === 'run') {
          const runbook = rest[1] as MaintenanceRunbook;
          if (!MAINTENANCE_RUNBOOKS.includes(runbook))
            throw new UsageError(`maintenance run: one of ${MAINTENANCE_RUNBOOKS.join(', ')}`);
          const outcome = await runMaintenanceNow(client, config, runbook, taskQueue);
          console.log(
            o.json
              ? JSON.stringify(outcome)
              : [
                  `${runbook}: ${outcome.ok ? 'OK' : 'FAILED'}: ${outcome.summary}`,
                  ...outcome.checks.map((c) => `  ${c.outcome.padEnd(14)} ${c.step}: ${c.summary}`),
                  ...(outcome.incident
                    ? [`  incident ${outcome.incident.outcome}: ${outcome.incident.workflowId}`]
                    : []),
                ].join('\n'),
          );
          if (!outcome.ok) process.exitCode = 1;
          return;
        }
        if (rest[0] === 'sync') {
          const synced = await syncMaintenanceSchedules(client, config, taskQueue);
          if (o.json) console.log(JSON.stringify(synced));
          else
            for (const s of synced)
              console.log(`${s.scheduleId}: ${s.outcome}${s.enabled ? ` (every ${s.every})` : ` (${s.reason})`}`);
          return;
        }
        if (rest[0] !== 'status') throw new UsageError('maintenance: status, sync or run <runbook-id>');
        const status = await maintenanceStatus(client, config);
        console.log(o.json ? JSON.stringify(status) : status.map(renderMaintenanceStatus).join('\n'));
        return;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } finally {
    await client.connection.close();
  }
}

run(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) console.error(`runbook: ${err.message}\n${USAGE}`);
  else if (err instanceof DecisionRefused) console.error(`runbook: refused (${err.code}): ${err.message}`);
  else console.error(`runbook: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
