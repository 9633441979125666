// A decision the gateway authenticated carries a proof: an HMAC over the incident, the step, the
// decision, who made it and when, keyed by DECISION_SIGNING_KEY, which only the gateway and the
// worker hold. The workflow has the worker check it, so a client that reaches Temporal directly (a
// CLI without a token, a Web UI signal) cannot decide in an authenticated responder's name.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DecisionInput, DecisionProof } from '../workflows/definitions';
import type { Deps } from './deps';

/** A proof is good for this long: a captured one cannot decide the same step again later. */
const VALID_MS = 5 * 60_000;

function mac(key: string, workflowId: string, d: DecisionInput, at: string): string {
  const signed = JSON.stringify([workflowId, d.step, d.decision, d.by, d.comment ?? '', at]);
  return createHmac('sha256', key).update(signed).digest('hex');
}

export function signDecision(key: string, workflowId: string, d: DecisionInput, now = new Date()): DecisionProof {
  const at = now.toISOString();
  return { at, mac: mac(key, workflowId, d, at) };
}

/** Undefined when the proof holds; else why not. */
export function proofProblem(
  key: string | undefined,
  workflowId: string,
  d: DecisionInput,
  now = Date.now(),
): string | undefined {
  if (!key) return 'the worker has no DECISION_SIGNING_KEY to check it with';
  if (!d.proof) return 'no proof from the gateway';
  const age = now - Date.parse(d.proof.at);
  if (!Number.isFinite(age) || age < -60_000 || age > VALID_MS) return 'the proof is stale';
  const expected = Buffer.from(mac(key, workflowId, d, d.proof.at), 'hex');
  const given = Buffer.from(d.proof.mac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'the proof does not match';
  return undefined;
}

export function createDecisionProofActivities({ env }: Deps) {
  return {
    /** Run as a local activity by the decide update: the key never enters the workflow. */
    async verifyDecision(input: { workflowId: string; decision: DecisionInput }): Promise<{ problem?: string }> {
      const problem = proofProblem(env.DECISION_SIGNING_KEY, input.workflowId, input.decision);
      return problem ? { problem } : {};
    },
  };
}
