// A validation window judged over its whole length: "below 0.2 % over 15 minutes" means the SLI
// over the whole window is below the target and no check on the way broke the alert threshold.
// A check without data (an unreachable source, no traffic) is not a healthy check: such a window
// ends `insufficient_data`, and a responder confirms it by hand, extends it or escalates.
import { sleep } from '@temporalio/workflow';
import { formatMs } from './duration';
import type { Runbook } from './runbook';

export interface WindowCheck {
  /** The SLI now; null when there was nothing to read (source down, no traffic). */
  value: number | null;
  /** Clearly failing (back above the alert threshold); enough in a row end the window early. */
  breach: boolean;
  summary: string;
}

export interface WholeWindow {
  /** The SLI over the whole window; null when there was nothing to read. */
  value: number | null;
  /** True when the traffic over the window was enough to judge it (e.g. a minimum of requests). */
  enoughData: boolean;
  /** Within the target. */
  ok: boolean;
  summary: string;
}

export interface HoldOptions {
  windowMs: number;
  intervalMs: number;
  failAfterBreaches: number;
  check: () => Promise<WindowCheck>;
  /** The SLI over the window just held, read once at its end. */
  whole: (windowMs: number) => Promise<WholeWindow>;
  /** How long the responder has to answer a window without enough data before the next tier is paged. */
  deadlineMs: number;
}

export type WindowVerdict = 'passed' | 'failed' | 'insufficient_data';

export interface HoldResult {
  verdict: WindowVerdict;
  reason: string;
  /** Who confirmed by hand a window without enough data, when one did. */
  confirmedBy?: string;
}

/** Holds the window; a window without enough data asks the responder, as often as they extend it. */
export async function holdWindow(rb: Runbook, step: string, opts: HoldOptions): Promise<HoldResult> {
  for (;;) {
    const result = await once(rb, step, opts);
    if (result.verdict !== 'insufficient_data') return result;
    rb.note(step, `insufficient data: ${result.reason}`);
    rb.record('validation_insufficient', result.reason, result, step);
    const answer = await rb.gate(step, {
      kind: 'manual',
      decisions: ['confirm', 'extend', 'escalate'],
      detail: `The window could not be judged: ${result.reason}. Confirm it healthy by hand, extend it by ${formatMs(opts.windowMs)}, or escalate.`,
      deadlineMs: opts.deadlineMs,
    });
    if (answer?.decision === 'extend') continue;
    if (answer?.decision === 'confirm')
      return {
        verdict: 'passed',
        reason: `${result.reason}; confirmed healthy by ${answer.by}`,
        confirmedBy: answer.by,
      };
    return { verdict: 'failed', reason: `${result.reason}; ${answer ? `escalated by ${answer.by}` : 'not judged'}` };
  }
}

async function once(rb: Runbook, step: string, opts: HoldOptions): Promise<HoldResult> {
  const checks = Math.max(1, Math.ceil(opts.windowMs / opts.intervalMs));
  let inARow = 0;
  let breaches = 0;
  let noData = 0;
  for (let i = 1; i <= checks; i++) {
    await sleep(opts.intervalMs, { summary: `${step}: check ${i}/${checks} of the ${formatMs(opts.windowMs)} window` });
    const c = await opts.check();
    rb.note(step, `check ${i}/${checks}: ${c.summary}`);
    rb.record('validation_check', c.summary, c, step);
    if (c.value === null) noData += 1;
    if (c.breach) breaches += 1;
    inARow = c.breach ? inARow + 1 : 0;
    if (inARow >= opts.failAfterBreaches)
      return { verdict: 'failed', reason: `${inARow} checks in a row broke the alert threshold: ${c.summary}` };
  }
  const whole = await opts.whole(opts.windowMs);
  rb.record('validation_window', whole.summary, whole, step);
  const over = `over ${formatMs(opts.windowMs)}: ${whole.summary}`;
  if (breaches)
    return { verdict: 'failed', reason: `${breaches} of ${checks} checks broke the alert threshold; ${over}` };
  if (whole.value === null || !whole.enoughData || noData)
    return {
      verdict: 'insufficient_data',
      reason: `${noData ? `${noData} of ${checks} checks had no data; ` : ''}${over}`,
    };
  return whole.ok
    ? { verdict: 'passed', reason: `held ${over}` }
    : { verdict: 'failed', reason: `did not hold ${over}` };
}
