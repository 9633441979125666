// A validation window: check an SLI every interval for the whole window; fail early when it
// breaches repeatedly, pass when the window ends healthy.
import { sleep } from '@temporalio/workflow';
import { formatMs } from './duration';
import type { Runbook } from './runbook';

export interface Sample {
  /** Within the target (e.g. 5xx ratio below 0.2 %). */
  ok: boolean;
  /** Clearly failing (e.g. back above the alert threshold); enough in a row ends the window early. */
  breach: boolean;
  value: number | null;
  summary: string;
}

export interface WindowOptions {
  windowMs: number;
  intervalMs: number;
  failAfterBreaches: number;
  check: () => Promise<Sample>;
}

export interface WindowResult {
  passed: boolean;
  early: boolean;
  samples: Sample[];
  reason: string;
}

export async function validationWindow(rb: Runbook, step: string, opts: WindowOptions): Promise<WindowResult> {
  const samples: Sample[] = [];
  let breaches = 0;
  const checks = Math.max(1, Math.ceil(opts.windowMs / opts.intervalMs));
  for (let i = 1; i <= checks; i++) {
    await sleep(opts.intervalMs, { summary: `${step}: check ${i}/${checks} of the ${formatMs(opts.windowMs)} window` });
    const sample = await opts.check();
    samples.push(sample);
    rb.note(step, `check ${i}/${checks}: ${sample.summary}`);
    rb.record('validation_check', sample.summary, sample, step);
    breaches = sample.breach ? breaches + 1 : 0;
    if (breaches >= opts.failAfterBreaches) {
      return { passed: false, early: true, samples, reason: `${breaches} checks in a row breached: ${sample.summary}` };
    }
  }
  const last = samples[samples.length - 1];
  return last.ok
    ? { passed: true, early: false, samples, reason: `held for ${formatMs(opts.windowMs)}: ${last.summary}` }
    : { passed: false, early: false, samples, reason: `not healthy at the end of the window: ${last.summary}` };
}
