// Actions that change the world (rollbacks, flag flips, pausing deploys) run through
// mitigation_runs: the intent is recorded first, the outcome after. A second attempt for the same
// incident run + step + phase returns the recorded outcome, or "outcome unknown" when the first
// attempt died mid-run, and never runs the action again. The same alert group firing again later
// is a new run, whose approved actions run.
import { spawn } from 'node:child_process';
import { Context } from '@temporalio/activity';
import { fillVars, planAction } from '../config/action-plan';
import type { ActionConfig } from '../config/schema';
import { toMs } from '../workflows/toolkit/duration';
import type { Deps } from './deps';
import type { MitigationKey, MitigationRun } from './db/incident-store';
import { isDrill } from './drill-guard';
import { FlagTable, same, ValueColumnMissing, type FlagChange, type FlagRow } from './flags';

export interface ActionRequest {
  workflowId: string;
  /** The incident run (the first run of its chain); absent from requests made before runs were kept. */
  runId?: string;
  step: string;
  phase: 'apply' | 'undo';
  by: string;
  /** Fills `{name}` in the action (service, environment, runbook parameters, the diagnosis's variables). */
  vars?: Record<string, string>;
  /** What the approver was shown would run (planAction's `what`): anything else is not run. */
  approved?: string;
}

export interface ActionOutcome {
  /** conflict: an undo found the flag changed by someone since, and left it for a responder. */
  status: 'succeeded' | 'failed' | 'outcome_unknown' | 'not_configured' | 'conflict';
  summary: string;
  exitCode?: number;
  output?: string;
}

const OUTPUT_LIMIT = 4000;

interface CommandResult {
  exitCode: number;
  output: string;
}

function runCommand(argv: string[], action: ActionConfig, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { PATH: env.PATH, HOME: env.HOME };
    for (const name of action.env) if (env[name] !== undefined) childEnv[name] = env[name];
    // The values the command was given (tokens, passwords) never reach the record: the tail kept is
    // long enough that a value cut at its start is still whole when it is redacted.
    const secrets = action.env.map((name) => [name, env[name]] as const).filter(([, v]) => v && v.length >= 4);
    const longest = Math.max(0, ...secrets.map(([, v]) => v!.length));
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-(OUTPUT_LIMIT + longest));
    };
    const redacted = () =>
      secrets.reduce((text, [name, value]) => text.replaceAll(value!, `[${name}]`), output).slice(-OUTPUT_LIMIT);
    const child = spawn(argv[0], argv.slice(1), { cwd: action.cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const heartbeat = setInterval(() => Context.current().heartbeat(), 2_000);
    const timer = setTimeout(() => {
      output += `\n(killed after ${action.timeout})`;
      child.kill('SIGKILL');
    }, toMs(action.timeout));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const done = (exitCode: number) => {
      clearInterval(heartbeat);
      clearTimeout(timer);
      resolve({ exitCode, output: redacted().trim() });
    };
    child.on('error', (err) => {
      output += `${err.message}`;
      done(127);
    });
    child.on('close', (code) => done(code ?? 137));
  });
}

/** The provider's Admin API: only the key's id travels; the admin key stays in the worker's environment. */
async function changeProviderKey(
  change: NonNullable<ActionConfig['providerKey']>,
  env: NodeJS.ProcessEnv,
): Promise<CommandResult> {
  // Only where the admin key is meant to go: never ANTHROPIC_BASE_URL, which may be a proxy.
  const base = (env.ANTHROPIC_ADMIN_URL ?? 'https://api.anthropic.com').replace(/\/$/, '');
  const res = await fetch(`${base}/v1/organizations/api_keys/${encodeURIComponent(change.keyId)}`, {
    method: 'POST',
    headers: {
      'x-api-key': env.ANTHROPIC_ADMIN_KEY ?? '',
      'anthropic-version': '2023-06-01',
      'content-type': 'application/json',
    },
    body: JSON.stringify({ status: change.status }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  const requestId = res.headers.get('request-id') ?? 'none';
  return res.ok
    ? { exitCode: 0, output: `API key ${change.keyId} set ${change.status} (request-id ${requestId})` }
    : { exitCode: 1, output: `Admin API answered ${res.status} (request-id ${requestId}): ${text.slice(0, 300)}` };
}

export function createActionActivities({ config, store, telemetry, env }: Deps) {
  const flags = new FlagTable(telemetry, config.dataSources.featureFlags.valueColumn);
  return {
    async runAction(req: ActionRequest): Promise<ActionOutcome> {
      // Before the intent is recorded: a drill leaves no trace in mitigation_runs either.
      if (isDrill(req.workflowId)) return { status: 'succeeded', summary: `drill: ${req.phase} ${req.step} not run` };
      const action = config.actions[req.step];
      const vars = req.vars ?? {};
      const label = `${req.step} (${req.phase})`;
      const plan = planAction(action, req.phase, vars);
      // The Admin API needs its key: without it revoking is a responder's job.
      if (!action || !plan || (action.providerKey && !env.ANTHROPIC_ADMIN_KEY))
        return {
          status: 'not_configured',
          summary: `no ${req.phase === 'apply' ? 'action' : 'undo'} configured for ${req.step}`,
        };
      // Never a literal `{name}` in production: a value this incident does not have is a human's call.
      if (plan.unfilled.length)
        return {
          status: 'not_configured',
          summary: `${label} needs ${plan.unfilled.map((n) => `{${n}}`).join(', ')}, which this incident has no value for`,
        };
      // What was approved is what runs: a config changed since the prompt is not run.
      if (req.approved !== undefined && req.approved !== plan.what)
        return {
          status: 'failed',
          summary: `${label} not run: the configured action changed after approval (approved: ${req.approved}; now: ${plan.what})`,
        };
      const key: MitigationKey = {
        workflowId: req.workflowId,
        runId: req.runId ?? Context.current().info.workflowExecution?.runId ?? '',
        step: req.step,
        phase: req.phase,
      };
      const author = `${req.by} via ${req.workflowId}@${key.runId} ${req.step}/${req.phase}`;
      const flag = action.flag ? fillVars(action.flag, vars) : undefined;
      // An undo of a flag change puts back the row the change recorded, nothing else.
      const change = req.phase === 'undo' && flag ? await store.mitigationRun({ ...key, phase: 'apply' }) : undefined;
      if (req.phase === 'undo' && flag && !change?.applied)
        return {
          status: 'conflict',
          summary: `feature_flags.${flag.feature}: the row before the change was not recorded, so it cannot be put back: left as it is`,
        };
      // The row before the change, kept with the intent: after a crash it still tells what to put back.
      const before = req.phase === 'apply' && flag ? await flags.read(flag.feature).catch(() => undefined) : undefined;
      const prior = before === undefined ? undefined : { row: before };
      if (!(await store.claimMitigationRun(key, req.by, { what: plan.what }, prior))) {
        const earlier = await store.mitigationRun(key);
        const meant = flag && earlier?.prior ? intended(flag, earlier.prior.row) : undefined;
        if (!earlier?.outcome && meant && req.phase === 'apply' && (await landed(flag!.feature, meant))) {
          const output = `${flag!.feature}: changed before the worker stopped`;
          await store.finishMitigationRun(key, { outcome: 'succeeded', exitCode: 0, output, applied: { row: meant } });
          return {
            status: 'succeeded',
            summary: `${label} took effect before the worker stopped`,
            exitCode: 0,
            output,
          };
        }
        if (!earlier?.outcome)
          return { status: 'outcome_unknown', summary: `${label} started earlier and its outcome was never recorded` };
        return {
          status: earlier.outcome,
          summary: `${label} already ran: ${earlier.outcome}`,
          exitCode: earlier.exitCode ?? undefined,
          output: earlier.output ?? undefined,
        };
      }
      let result: CommandResult & { run?: Pick<MitigationRun, 'prior' | 'applied'>; conflict?: boolean };
      try {
        if (flag && req.phase === 'apply') {
          const made = await flags.apply(flagChange(flag), author);
          result = {
            exitCode: 0,
            output: made.summary,
            run: { prior: { row: made.prior }, applied: { row: made.applied } },
          };
        } else if (flag && change?.applied) {
          const restored = await flags.restore(flag.feature, change.prior?.row ?? null, change.applied.row, author);
          result = {
            exitCode: restored.outcome === 'conflict' ? 1 : 0,
            output: restored.summary,
            conflict: restored.outcome === 'conflict',
          };
        } else if (action.providerKey) result = await changeProviderKey(fillVars(action.providerKey, vars), env);
        else
          result = await runCommand(
            fillVars((req.phase === 'apply' ? action.run : action.undo) ?? [], vars),
            action,
            env,
          );
      } catch (err) {
        if (err instanceof ValueColumnMissing) {
          await store.finishMitigationRun(key, { outcome: 'failed', exitCode: 2, output: err.message });
          return { status: 'not_configured', summary: err.message };
        }
        result = { exitCode: 1, output: (err as Error).message };
      }
      const outcome = result.conflict ? 'conflict' : result.exitCode === 0 ? 'succeeded' : 'failed';
      await store.finishMitigationRun(key, {
        outcome,
        exitCode: result.exitCode,
        output: result.output,
        ...result.run,
      });
      const what = flag ? result.output : plan.what;
      const lastLine = result.output.split('\n').pop() ?? '';
      return {
        status: outcome,
        summary:
          outcome === 'succeeded'
            ? `${what}: ok`
            : outcome === 'conflict'
              ? what
              : `${what}: exit ${result.exitCode} ${lastLine}`.trim(),
        exitCode: result.exitCode,
        output: result.output,
      };
    },
  };

  /** After a crash mid-change: the row is as the change meant it, so it took effect. */
  async function landed(feature: string, meant: FlagRow): Promise<boolean> {
    const now = await flags.read(feature).catch(() => undefined);
    return now !== undefined && same(now, meant);
  }
}

type FilledFlag = NonNullable<ActionConfig['flag']>;

function flagChange(flag: FilledFlag): FlagChange {
  const cap = flag.whenLastHourCostAbove;
  if (cap !== undefined && !Number.isFinite(Number(cap))) throw new Error(`cost cap "${cap}" is not a number`);
  return {
    feature: flag.feature,
    enabled: flag.enabled,
    ...(flag.value !== undefined ? { value: flag.value } : {}),
    ...(cap !== undefined ? { whenLastHourCostAbove: Number(cap) } : {}),
  };
}

/** The row as the change means to leave it. */
function intended(flag: FilledFlag, before: FlagRow): FlagRow {
  const value = flag.value ?? before?.value;
  return { enabled: flag.enabled, ...(value !== undefined ? { value } : {}) };
}
