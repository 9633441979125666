// The automated steps of a catalogue document (a check, or a diagnostic of the built runbooks),
// run and compared with the document's expected output. The guided runbook runs them one by one
// with a responder; scheduled maintenance runs them all unattended. A check is named by runbook and
// step: the worker runs it as its own document has it (activities/catalogue.ts).
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { Observed } from '../../activities/http';
import { meetsExpectation, type DiagnosticName, type DocumentStep } from '../../catalogue/document';
import type { RunbookId } from '../definitions';

const act = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});
// A restore takes as long as the dump is large; the heartbeat is what notices a dead worker.
const restore = proxyActivities<Activities>({
  startToCloseTimeout: '6h',
  heartbeatTimeout: '1m',
  retry: { maximumAttempts: 2 },
});

export interface CheckResult {
  step: string;
  title: string;
  /**
   * met: as expected (or no expectation); missed: not as expected, an empty result included (no
   * data meets no expectation); unavailable: could not run; not_configured: its source is not set up.
   */
  outcome: 'met' | 'missed' | 'unavailable' | 'not_configured';
  /** What was read: `http check GET <url>`, `sql check on the telemetry database`, `diagnostic <name>`. */
  source: string;
  output?: string;
  expect?: string;
  summary: string;
  evidence: unknown;
  /** The worker's document no longer has this check (changed since the incident started): nothing ran. */
  missing?: boolean;
}

type Output = Observed<{ output: string; detail: string }>;

export const isAutomated = (s: DocumentStep): boolean =>
  (s.kind === 'check' && s.check !== undefined) || (s.kind === 'diagnostic' && s.diagnostic !== undefined);

/** A source nobody configured is not a failure of what it would check. */
const NOT_CONFIGURED = /\bnot configured\b|\bno .+ configured\b/;

/**
 * Runs a document's automated step. With `runbook`, the worker looks the check up in its own
 * document by runbook and step id; without (workflows started before that), the check itself is
 * sent, and runs only if the worker's documents have it word for word.
 */
export async function runDocumentCheck(
  step: DocumentStep,
  vars: Record<string, string>,
  scope: { service: string; environment: string },
  runbook?: RunbookId,
): Promise<CheckResult> {
  const r: Output & { missing?: true } = !step.check
    ? await diagnostic(step.diagnostic as DiagnosticName, scope)
    : runbook
      ? await act.documentCheck.executeWithOptions({ summary: `${step.check.kind} check ${step.id}` }, [
          { runbook, step: step.id, vars },
        ])
      : await act.catalogueCheck.executeWithOptions({ summary: `${step.check.kind} check` }, [
          { kind: step.check.kind, body: step.check.body, vars },
        ]);
  const source = step.check
    ? checkSource(step.check.kind, r.query ?? step.check.body)
    : `diagnostic ${step.diagnostic}`;
  const base = { step: step.id, title: step.title, source, expect: step.expect, evidence: r };
  if (!r.available) {
    const outcome = !r.missing && NOT_CONFIGURED.test(r.reason) ? 'not_configured' : 'unavailable';
    return { ...base, outcome, summary: `unavailable: ${r.reason}`, ...(r.missing ? { missing: true } : {}) };
  }
  // No series, no status, no certificate: nothing was read, so there is nothing to show (no rows of
  // a SQL check is an answer).
  if (step.expect === undefined && step.check?.kind !== 'sql' && describeOutput(r.data.output) === 'an empty result')
    return { ...base, outcome: 'unavailable', summary: `unavailable: ${source} returned nothing` };
  // An empty output (no rows, no series) meets no expectation: meetsExpectation never counts it as 0.
  const met = step.expect === undefined || meetsExpectation(r.data.output, step.expect);
  const verdict =
    step.expect !== undefined ? ` (expected ${step.expect}: ${met ? 'as expected' : 'NOT as expected'})` : '';
  return {
    ...base,
    outcome: met ? 'met' : 'missed',
    output: r.data.output,
    summary: `${describeOutput(r.data.output)}${verdict}`,
  };
}

/** The output as a note shows it: an empty one says so rather than showing nothing. */
export function describeOutput(output: string | undefined): string {
  return output === undefined || output.trim() === '' ? 'an empty result' : output;
}

function checkSource(kind: 'sql' | 'promql' | 'http', query: string): string {
  if (kind === 'http') return `http check ${query}`;
  if (kind === 'sql') return 'sql check on the telemetry database';
  return 'promql check on Prometheus';
}

/** A diagnostic the built runbooks use, its output in the document's terms. */
async function diagnostic(name: DiagnosticName, scope: { service: string; environment: string }): Promise<Output> {
  switch (name) {
    case 'dependency-health': {
      const deps = await act.dependencyHealth.executeWithOptions({ summary: 'Postgres and Redis health' }, []);
      const down = deps.filter((d) => d.reachable === false && !/not configured/.test(d.detail));
      return {
        available: true,
        data: { output: String(down.length), detail: deps.map((d) => `${d.name}: ${d.detail}`).join('; ') },
      };
    }
    case 'error-ratio': {
      const r = await act.errorRatio.executeWithOptions({ summary: '5xx ratio now' }, [scope]);
      // No series (no traffic, no such metric) is no ratio: an empty output, never 0.
      if (!r.available) return r;
      return {
        available: true,
        data: {
          output: r.data === null ? '' : String(r.data),
          detail: r.data === null ? `no series for ${r.query ?? 'the ratio query'}` : (r.query ?? ''),
        },
      };
    }
    case 'certificate-expiry': {
      const certs = await act.certificateExpiry.executeWithOptions({ summary: 'certificate expiry' }, []);
      if (!certs.available) return certs;
      if (certs.data.length === 0) return { available: true, data: { output: '', detail: 'no certificate read' } };
      const soonest = Math.min(...certs.data.map((c) => c.daysLeft));
      const detail = certs.data
        .map((c) => `${c.endpoint} (${c.subject}) expires ${c.validTo}: ${c.daysLeft} days`)
        .join('; ');
      return { available: true, data: { output: String(soonest), detail } };
    }
    case 'log-files':
      return act.logFiles.executeWithOptions({ summary: 'log sizes, rotation, retention' }, []);
    case 'backup-age':
      return act.backupAge.executeWithOptions({ summary: 'age of the newest backup' }, []);
    case 'restore-check':
      return restore.restoreCheck.executeWithOptions(
        { summary: 'restore the newest backup into a scratch database' },
        [],
      );
    case 'provider-status': {
      const pages = await act.providerStatus.executeWithOptions({ summary: 'provider status pages' }, []);
      const first = pages[0];
      if (!first) return { available: false, reason: 'no status page configured (ANTHROPIC_STATUS_URL)' };
      return first.available
        ? { available: true, data: { output: first.data.indicator, detail: first.data.description } }
        : first;
    }
  }
}
