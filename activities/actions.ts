// Actions that change the world (rollbacks, flag flips, pausing deploys) run through
// mitigation_runs: the intent is recorded first, the outcome after. A second attempt for the same
// workflow + step + phase returns the recorded outcome, or "outcome unknown" when the first
// attempt died mid-run, and never runs the action again.
import { spawn } from 'node:child_process';
import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { ActionConfig } from '../config/schema';
import { toMs } from '../workflows/toolkit/duration';
import type { Deps } from './deps';
import { isDrill } from './drill-guard';

export interface ActionRequest {
  workflowId: string;
  step: string;
  phase: 'apply' | 'undo';
  by: string;
  /** Fills `{name}` in the action's argv and flag (runbook parameters, the diagnosed feature). */
  vars?: Record<string, string>;
}

export interface ActionOutcome {
  status: 'succeeded' | 'failed' | 'outcome_unknown' | 'not_configured';
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
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
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
      resolve({ exitCode, output: output.trim() });
    };
    child.on('error', (err) => {
      output += `${err.message}`;
      done(127);
    });
    child.on('close', (code) => done(code ?? 137));
  });
}

type FlagChange = NonNullable<ActionConfig['flag']>;

/** Fills `{name}` in strings, arrays and objects from `vars`; unknown names stay as written. */
export function fillVars<T>(value: T, vars: Record<string, string>): T {
  const fill = (text: string) => text.replace(/\{(\w+)\}/g, (m, name: string) => vars[name] ?? m);
  if (typeof value === 'string') return fill(value) as T;
  if (Array.isArray(value)) return value.map((v) => fillVars(v, vars)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillVars(v, vars)])) as T;
  return value;
}

/** Who changed a flag, naming the incident and step, so a retry can tell the change took effect. */
function flagAuthor(req: ActionRequest): string {
  return `${req.by} via ${req.workflowId} ${req.step}/${req.phase}`;
}

async function setFlag(telemetry: Pool, flag: FlagChange, author: string): Promise<CommandResult> {
  const shown = `feature_flags.${flag.feature} enabled=${flag.enabled}${flag.value !== undefined ? ` value=${flag.value}` : ''}`;
  if (flag.whenLastHourCostAbove !== undefined) {
    const cap = Number(flag.whenLastHourCostAbove);
    if (!Number.isFinite(cap))
      return { exitCode: 2, output: `cost cap "${flag.whenLastHourCostAbove}" is not a number` };
    // The seed's cost-cap statement: the row changes only while the last hour's spend is above the cap.
    const { rows } = await telemetry.query<{ spend: string; changed: string }>(
      `WITH spend AS (
         SELECT coalesce(sum(cost_usd), 0) AS s FROM inference_events WHERE created_at > now() - interval '1 hour'
       ), changed AS (
         UPDATE feature_flags SET enabled = $2, updated_at = now(), updated_by = $4
         WHERE feature = $1 AND (SELECT s FROM spend) > $3 RETURNING 1
       )
       SELECT (SELECT s FROM spend) AS spend, (SELECT count(*) FROM changed) AS changed`,
      [flag.feature, flag.enabled, cap, author],
    );
    const spend = Number(rows[0].spend).toFixed(2);
    if (Number(rows[0].changed) > 0) return { exitCode: 0, output: `${shown}: last hour $${spend} > cap $${cap}` };
    if (Number(spend) > cap) return { exitCode: 1, output: `no feature_flags row "${flag.feature}" to change` };
    return { exitCode: 0, output: `last hour $${spend} <= cap $${cap}: ${flag.feature} left as it is` };
  }
  await telemetry.query(
    `INSERT INTO feature_flags (feature, enabled, value, updated_at, updated_by) VALUES ($1, $2, $3, now(), $4)
     ON CONFLICT (feature) DO UPDATE SET enabled = $2, value = COALESCE($3, feature_flags.value), updated_at = now(), updated_by = $4`,
    [flag.feature, flag.enabled, flag.value ?? null, author],
  );
  return { exitCode: 0, output: shown };
}

/** The provider's Admin API: only the key's id travels; the admin key stays in the worker's environment. */
async function changeProviderKey(
  change: NonNullable<ActionConfig['providerKey']>,
  env: NodeJS.ProcessEnv,
): Promise<CommandResult> {
  const base = (env.ANTHROPIC_ADMIN_URL ?? env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com').replace(/\/$/, '');
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

/** After a crash mid-change: the flag row names this change as its last author, so it took effect. */
async function flagChangeLanded(telemetry: Pool, flag: FlagChange, author: string): Promise<boolean> {
  const { rowCount } = await telemetry
    .query('SELECT 1 FROM feature_flags WHERE feature = $1 AND updated_by = $2', [flag.feature, author])
    .catch(() => ({ rowCount: 0 }));
  return (rowCount ?? 0) > 0;
}

export function createActionActivities({ config, store, telemetry, env }: Deps) {
  return {
    async runAction(req: ActionRequest): Promise<ActionOutcome> {
      // Before the intent is recorded: a drill leaves no trace in mitigation_runs either.
      if (isDrill(req.workflowId)) return { status: 'succeeded', summary: `drill: ${req.phase} ${req.step} not run` };
      const action = config.actions[req.step];
      const vars = req.vars ?? {};
      const argv = fillVars(req.phase === 'apply' ? action?.run : action?.undo, vars);
      const flag = fillVars(req.phase === 'apply' ? action?.flag : action?.undoFlag, vars);
      const providerKey = req.phase === 'apply' ? fillVars(action?.providerKey, vars) : undefined;
      // The Admin API needs its key and the key's id; without them revoking is a responder's job.
      const keyChange = providerKey?.keyId && env.ANTHROPIC_ADMIN_KEY ? providerKey : undefined;
      if (!action || (!argv && !flag && !keyChange)) {
        return {
          status: 'not_configured',
          summary: `no ${req.phase === 'apply' ? 'action' : 'undo'} configured for ${req.step}`,
        };
      }
      const label = `${req.step} (${req.phase})`;
      if (
        !(await store.claimMitigationRun(
          req.workflowId,
          req.step,
          req.phase,
          req.by,
          argv ? { run: argv } : flag ? { flag } : { providerKey: keyChange },
        ))
      ) {
        const prior = await store.mitigationRun(req.workflowId, req.step, req.phase);
        if (!prior?.outcome && flag && (await flagChangeLanded(telemetry, flag, flagAuthor(req)))) {
          const output = `${flag.feature}: changed before the worker stopped`;
          await store.finishMitigationRun(req.workflowId, req.step, req.phase, {
            outcome: 'succeeded',
            exitCode: 0,
            output,
          });
          return {
            status: 'succeeded',
            summary: `${label} took effect before the worker stopped`,
            exitCode: 0,
            output,
          };
        }
        if (!prior?.outcome)
          return { status: 'outcome_unknown', summary: `${label} started earlier and its outcome was never recorded` };
        return {
          status: prior.outcome,
          summary: `${label} already ran: ${prior.outcome}`,
          exitCode: prior.exitCode ?? undefined,
          output: prior.output ?? undefined,
        };
      }
      let result: CommandResult;
      try {
        result = argv
          ? await runCommand(argv, action, env)
          : flag
            ? await setFlag(telemetry, flag, flagAuthor(req))
            : await changeProviderKey(keyChange!, env);
      } catch (err) {
        result = { exitCode: 1, output: (err as Error).message };
      }
      const outcome = result.exitCode === 0 ? 'succeeded' : 'failed';
      await store.finishMitigationRun(req.workflowId, req.step, req.phase, {
        outcome,
        exitCode: result.exitCode,
        output: result.output,
      });
      const what = argv ? argv.join(' ') : result.output;
      const lastLine = result.output.split('\n').pop() ?? '';
      return {
        status: outcome,
        summary: outcome === 'succeeded' ? `${what}: ok` : `${what}: exit ${result.exitCode} ${lastLine}`.trim(),
        exitCode: result.exitCode,
        output: result.output,
      };
    },
  };
}
