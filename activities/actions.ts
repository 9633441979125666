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

export interface ActionRequest {
  workflowId: string;
  step: string;
  phase: 'apply' | 'undo';
  by: string;
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

async function setFlag(telemetry: Pool, flag: NonNullable<ActionConfig['flag']>, by: string): Promise<CommandResult> {
  await telemetry.query(
    `INSERT INTO feature_flags (feature, enabled, value, updated_at, updated_by) VALUES ($1, $2, $3, now(), $4)
     ON CONFLICT (feature) DO UPDATE SET enabled = $2, value = COALESCE($3, feature_flags.value), updated_at = now(), updated_by = $4`,
    [flag.feature, flag.enabled, flag.value ?? null, by],
  );
  return {
    exitCode: 0,
    output: `feature_flags.${flag.feature} enabled=${flag.enabled}${flag.value !== undefined ? ` value=${flag.value}` : ''}`,
  };
}

export function createActionActivities({ config, store, telemetry, env }: Deps) {
  return {
    async runAction(req: ActionRequest): Promise<ActionOutcome> {
      const action = config.actions[req.step];
      const argv = req.phase === 'apply' ? action?.run : action?.undo;
      const flag = req.phase === 'apply' ? action?.flag : action?.undoFlag;
      if (!action || (!argv && !flag)) {
        return {
          status: 'not_configured',
          summary: `no ${req.phase === 'apply' ? 'action' : 'undo'} configured for ${req.step}`,
        };
      }
      const label = `${req.step} (${req.phase})`;
      if (
        !(await store.claimMitigationRun(req.workflowId, req.step, req.phase, req.by, argv ? { run: argv } : { flag }))
      ) {
        const prior = await store.mitigationRun(req.workflowId, req.step, req.phase);
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
        result = argv ? await runCommand(argv, action, env) : await setFlag(telemetry, flag!, req.by);
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
