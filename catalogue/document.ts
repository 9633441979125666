// A catalogue runbook is a Markdown document in the index's template (Overview, Symptoms,
// Immediate Actions, Investigation Steps, Resolution Steps, Prevention, Escalation). Numbered
// items of the three step sections are the steps; a fenced block under an item makes it
// automated:
//
//   1. Check the health endpoint
//      ```check http
//      GET {apiUrl}/healthz
//      ```
//      Expected output: `200`
//
// Kinds: `check sql` (read-only, against the telemetry database), `check promql`, `check http`
// (GET or HEAD, to a configured host only: activities/catalogue.ts), `action` (a configured
// action, run behind approval), `runbook` (hands over to another runbook, started as a child
// incident, and waits for its end), `diagnostic <name>` (one of the diagnostics the built runbooks
// use: DIAGNOSTICS below). Without a block a step is manual: a responder marks it done or skip.
// Prevention items become follow-ups; Escalation items read `- After 15m: <notification target>`.
// A document that breaks these rules is refused with the line and the reason.
//
// Expected outputs: `< 90`, `>= 1`, `= 0`, `!= 0` compare numbers, and a bare number (`200`) is `=`
// that number; empty or non-numeric output never meets them (an empty SQL or PromQL result is no
// data, not 0). Any other expectation is text the output must contain; empty output meets nothing.
//
// Resolved means confirmed. The runbook ends resolved only when its confirming checks are as
// expected (and a responder closes it with the root cause). A check or diagnostic with an expected
// output is marked confirming by a line `Confirms resolution` under its item:
//
//   2. Confirm the health endpoint answers again
//      ```check http
//      GET {apiUrl}/healthz
//      ```
//      Expected output: `200`
//      Confirms resolution
//
// With no item marked, the confirming checks are the automated steps of the last step section
// (usually Resolution Steps); with none there either, nothing confirms it and a responder decides.
import { RUNBOOK_IDS, type RunbookId } from '../workflows/definitions';
import { toMs } from '../workflows/toolkit/duration';

export const TEMPLATE_SECTIONS = [
  'Overview',
  'Symptoms',
  'Immediate Actions',
  'Investigation Steps',
  'Resolution Steps',
  'Prevention',
  'Escalation',
] as const;
const STEP_SECTIONS = new Set(['Immediate Actions', 'Investigation Steps', 'Resolution Steps']);

export type CheckKind = 'sql' | 'promql' | 'http';

/** Diagnostics of the built runbooks a document can run, and what their output is. */
export const DIAGNOSTICS = {
  'dependency-health': 'how many of Postgres and Redis are unreachable (0 when healthy)',
  'error-ratio': "the service's 5xx ratio now, from Prometheus",
  'provider-status': "the LLM provider status page's indicator (none when operational)",
  'certificate-expiry': 'the fewest days to expiry among the TLS endpoints in config (dataSources.tlsEndpoints)',
  'log-files':
    'how many of the size, rotation and retention limits the log directories in config break (dataSources.logs; 0 when within them)',
  'backup-age': 'hours since the newest dump in the backup directory (dataSources.backups)',
  'restore-check': 'rows of inference_events in the newest dump, restored into a scratch database and dropped again',
} as const;
export type DiagnosticName = keyof typeof DIAGNOSTICS;

export interface DocumentStep {
  id: string;
  section: string;
  title: string;
  /** Manual, an automated read-only check, or a configured action behind approval. */
  kind: 'manual' | 'check' | 'action' | 'runbook' | 'diagnostic';
  check?: { kind: CheckKind; body: string };
  action?: string;
  diagnostic?: DiagnosticName;
  /** For a hand-over: the runbook that takes over. */
  runbook?: RunbookId;
  /** The document's expected output: `200`, `0`, `< 90`, `>= 1`, or text the output must contain. */
  expect?: string;
  /** Marked `Confirms resolution`: its outcome is what the incident's resolution stands on. */
  confirms?: boolean;
  line: number;
}

export interface EscalationRule {
  afterMs: number;
  target: string;
  line: number;
}

export interface RunbookDocument {
  title: string;
  overview: string;
  symptoms: string[];
  steps: DocumentStep[];
  prevention: string[];
  escalation: EscalationRule[];
}

export class DocumentError extends Error {
  override name = 'DocumentError';
  constructor(
    readonly source: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${source}:${line}: ${reason}`);
  }
}

/** A step id from its title: whole words, at most about 40 characters. */
function slug(text: string): string {
  const words = text
    .toLowerCase()
    .replace(/`[^`]*`/g, '')
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  let id = '';
  for (const w of words) {
    if (id && id.length + w.length + 1 > 40) break;
    id = id ? `${id}-${w}` : w;
  }
  return id;
}

export function parseDocument(markdown: string, source = 'document'): RunbookDocument {
  const lines = markdown.split('\n');
  const fail = (i: number, reason: string): never => {
    throw new DocumentError(source, i + 1, reason);
  };
  const doc: RunbookDocument = { title: '', overview: '', symptoms: [], steps: [], prevention: [], escalation: [] };
  const seen: string[] = [];
  let section = '';
  let current: DocumentStep | undefined;
  // `Confirms resolution` lines, checked once their items are complete (the block may follow).
  const confirmLines = new Map<DocumentStep, number>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^# /.test(line)) {
      if (doc.title) fail(i, 'a second title: one "# Title" per document');
      doc.title = line.slice(2).trim();
      continue;
    }
    const heading = /^## (.+)$/.exec(line);
    if (heading) {
      section = heading[1].trim();
      if (!(TEMPLATE_SECTIONS as readonly string[]).includes(section))
        fail(i, `unknown section "${section}": the template has ${TEMPLATE_SECTIONS.join(', ')}`);
      const expected = TEMPLATE_SECTIONS[seen.length];
      if (section !== expected) fail(i, `section "${section}" out of order: expected "${expected}"`);
      seen.push(section);
      current = undefined;
      continue;
    }
    if (!doc.title && line.trim()) fail(i, 'the document starts with "# Title"');
    if (!line.trim()) continue;
    if (!section) fail(i, 'text before the first section');
    const item = /^(\d+)\. (.+)$/.exec(line);
    const bullet = /^- (.+)$/.exec(line);
    if (section === 'Overview') doc.overview = `${doc.overview} ${line.trim()}`.trim();
    else if (section === 'Symptoms') {
      if (bullet) doc.symptoms.push(bullet[1].trim());
    } else if (section === 'Prevention') {
      if (bullet || item) doc.prevention.push((bullet?.[1] ?? item?.[2] ?? '').trim());
    } else if (section === 'Escalation') {
      if (!bullet) continue;
      const rule = /^After (\S+): (\S+)/.exec(bullet[1]);
      if (!rule) fail(i, 'an escalation item reads "- After 15m: <notification target>"');
      let afterMs = 0;
      try {
        afterMs = toMs(rule![1]);
      } catch (err) {
        fail(i, (err as Error).message);
      }
      doc.escalation.push({ afterMs, target: rule![2], line: i + 1 });
    } else if (STEP_SECTIONS.has(section)) {
      if (item) {
        const title = item[2].trim();
        let id = slug(title) || `step-${doc.steps.length + 1}`;
        while (id === CLOSE_STEP || doc.steps.some((s) => s.id === id)) id = `${id}-${doc.steps.length + 1}`;
        current = { id, section, title, kind: 'manual', line: i + 1 };
        doc.steps.push(current);
        continue;
      }
      const fence = /^\s+```(.*)$/.exec(line);
      if (fence) {
        if (!current) fail(i, 'a code block outside a numbered step');
        if (current!.kind !== 'manual') fail(i, 'a step has one code block');
        const info = fence[1].trim().split(/\s+/);
        const body: string[] = [];
        let j = i + 1;
        for (; j < lines.length && !/^\s+```\s*$/.test(lines[j]); j++) body.push(lines[j].trim());
        if (j === lines.length) fail(i, 'code block not closed');
        const text = body.join('\n').trim();
        if (info[0] === 'check') {
          if (!['sql', 'promql', 'http'].includes(info[1] ?? ''))
            fail(i, `unknown check "${info[1] ?? ''}": use check sql, check promql or check http`);
          if (info[1] === 'sql' && !/^(select|with|show)\b/i.test(text))
            fail(i + 1, 'a sql check is one read-only query');
          if (info[1] === 'http' && !/^(GET|HEAD) \S+$/.test(text)) fail(i + 1, 'an http check reads "GET <url>"');
          current!.kind = 'check';
          current!.check = { kind: info[1] as CheckKind, body: text };
        } else if (info[0] === 'action') {
          if (!/^[a-z0-9-]+$/.test(text)) fail(i + 1, 'an action block names one configured action');
          if (doc.steps.some((s) => s.id === text)) fail(i + 1, `action "${text}" appears twice`);
          if (text === CLOSE_STEP) fail(i + 1, `"${CLOSE_STEP}" is the guided runbook's own step, not an action`);
          // The step is named after its action: approvals and the action's config share the name.
          current!.kind = 'action';
          current!.action = text;
          current!.id = text;
        } else if (info[0] === 'diagnostic') {
          if (!(info[1] in DIAGNOSTICS))
            fail(i, `unknown diagnostic "${info[1] ?? ''}": ${Object.keys(DIAGNOSTICS).join(', ')}`);
          current!.kind = 'diagnostic';
          current!.diagnostic = info[1] as DiagnosticName;
        } else if (info[0] === 'runbook') {
          if (!(RUNBOOK_IDS as readonly string[]).includes(text)) fail(i + 1, `unknown runbook "${text}"`);
          current!.kind = 'runbook';
          current!.runbook = text as RunbookId;
        } else if (info[0] !== 'sh' && info[0] !== 'bash' && info[0] !== '') {
          fail(
            i,
            `unknown block "${fence[1]}": check sql|promql|http, diagnostic, action, runbook, or sh for a command to read`,
          );
        }
        i = j;
        continue;
      }
      const expect = /^\s+Expected output: `([^`]+)`/.exec(line);
      if (expect) {
        if (!current) fail(i, 'an expected output outside a numbered step');
        current!.expect = expect[1];
      }
      if (/^\s+Confirms resolution\.?\s*$/.test(line)) {
        if (!current) fail(i, '"Confirms resolution" outside a numbered step');
        current!.confirms = true;
        confirmLines.set(current!, i);
      }
    }
  }
  for (const [step, i] of confirmLines) {
    if ((step.kind !== 'check' && step.kind !== 'diagnostic') || step.expect === undefined)
      fail(i, 'only a check or diagnostic with an expected output confirms resolution');
  }
  if (!doc.title) fail(0, 'the document has no "# Title"');
  if (seen.length !== TEMPLATE_SECTIONS.length)
    fail(lines.length - 1, `missing section "${TEMPLATE_SECTIONS[seen.length]}"`);
  if (doc.steps.length === 0)
    fail(lines.length - 1, 'no numbered steps in Immediate Actions, Investigation or Resolution');
  return doc;
}

/** The steps reserved for the guided runbook itself; a document's step never takes these ids. */
export const CLOSE_STEP = 'close-incident';

/**
 * The checks whose outcome confirms the resolution: those marked `Confirms resolution`, else the
 * automated steps of the document's last step section. Empty: nothing in the document confirms it.
 */
export function confirmingSteps(doc: RunbookDocument): DocumentStep[] {
  const marked = doc.steps.filter((s) => s.confirms);
  if (marked.length) return marked;
  const last = doc.steps[doc.steps.length - 1]?.section;
  return doc.steps.filter((s) => s.section === last && (s.kind === 'check' || s.kind === 'diagnostic'));
}

/** A number as a check answers it: digits, not `''`, `0x10`, `Infinity` or `12 rows`. */
const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/**
 * Compares a check's output with the document's expectation: `< 90`, `= 0`, `200` (a number: `=`),
 * or contained text. Empty or non-numeric output never meets a numeric expectation: no data is not 0.
 */
export function meetsExpectation(output: string, expect: string): boolean {
  const out = output.trim();
  const want = expect.trim();
  if (out === '' || want === '') return false;
  const cmp = /^(<=|>=|<|>|=|!=)\s*(-?\d+(\.\d+)?)$/.exec(want) ?? /^()(-?\d+(\.\d+)?)$/.exec(want);
  if (cmp) {
    if (!NUMBER.test(out)) return false;
    const value = Number(out);
    const n = Number(cmp[2]);
    switch (cmp[1]) {
      case '<':
        return value < n;
      case '>':
        return value > n;
      case '<=':
        return value <= n;
      case '>=':
        return value >= n;
      case '!=':
        return value !== n;
      default:
        return value === n;
    }
  }
  return out === want || out.includes(want);
}
