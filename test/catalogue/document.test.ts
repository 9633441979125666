// Catalogue documents: the template's rules, with the line and reason of a breach.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DocumentError, meetsExpectation, parseDocument } from '../../catalogue/document';

const DIR = path.join(__dirname, '..', '..', 'catalogue', 'runbooks');

test('every catalogue document loads', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.md'));
  assert.ok(files.length >= 1);
  for (const f of files) {
    const doc = parseDocument(readFileSync(path.join(DIR, f), 'utf8'), f);
    assert.ok(doc.steps.length > 0, f);
    assert.ok(doc.escalation.length > 0, `${f} has escalation rules`);
  }
});

test('service-down: steps, automated checks, action, expectations, follow-ups, escalation timers', () => {
  const doc = parseDocument(readFileSync(path.join(DIR, 'service-down.md'), 'utf8'), 'service-down.md');
  assert.equal(doc.title, 'Service Down');
  assert.deepEqual(
    doc.steps.map((s) => [s.section, s.kind, s.check?.kind ?? s.diagnostic ?? s.action ?? '', s.expect ?? '']),
    [
      ['Immediate Actions', 'manual', '', ''],
      ['Immediate Actions', 'check', 'http', '200'],
      ['Immediate Actions', 'check', 'sql', '> 0'],
      ['Investigation Steps', 'diagnostic', 'dependency-health', '= 0'],
      ['Investigation Steps', 'diagnostic', 'provider-status', 'none'],
      ['Investigation Steps', 'check', 'sql', '< 90'],
      ['Investigation Steps', 'manual', '', ''],
      ['Investigation Steps', 'manual', '', ''],
      ['Resolution Steps', 'action', 'restart-api', ''],
      ['Resolution Steps', 'check', 'http', '200'],
    ],
  );
  assert.equal(new Set(doc.steps.map((s) => s.id)).size, doc.steps.length, 'step ids are unique');
  assert.equal(doc.prevention.length, 2);
  assert.deepEqual(
    doc.escalation.map((e) => [e.afterMs, e.target]),
    [
      [15 * 60_000, 'oncall'],
      [30 * 60_000, 'infrastructure'],
    ],
  );
});

test('a malformed document is refused with the line and the reason', () => {
  const ok = readFileSync(path.join(DIR, 'service-down.md'), 'utf8');
  // Each breach, and the line it is on in the broken text.
  const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  const broken: [string, string, RegExp][] = [
    [ok.replace('## Symptoms', '## Signs'), '## Signs', /unknown section "Signs"/],
    [
      ok.replace('## Investigation Steps', '## Resolution Steps'),
      '## Resolution Steps',
      /out of order: expected "Investigation Steps"/,
    ],
    [ok.replace('```check http', '```check ftp'), 'check ftp', /unknown check "ftp"/],
    [ok.replace('SELECT count(*) FROM pg_stat_activity', 'DELETE FROM pg_stat_activity'), 'DELETE FROM', /read-only/],
    [ok.replace('- After 30m: infrastructure', '- Call someone'), 'Call someone', /After 15m/],
  ];
  const cases: [string, number, RegExp][] = broken.map(([text, needle, reason]) => [
    text,
    lineOf(text, needle),
    reason,
  ]);
  const noEscalation = ok.slice(0, ok.indexOf('## Escalation'));
  cases.push([noEscalation, noEscalation.split('\n').length, /missing section "Escalation"/]);
  for (const [text, line, reason] of cases) {
    assert.throws(
      () => parseDocument(text, 'doc.md'),
      (err: unknown) => err instanceof DocumentError && err.line === line && reason.test(err.message),
      `${reason} at line ${line}`,
    );
  }
});

test('expected outputs: comparisons on numbers, else the text', () => {
  assert.equal(meetsExpectation('200', '200'), true);
  assert.equal(meetsExpectation('503', '200'), false);
  assert.equal(meetsExpectation('12', '< 90'), true);
  assert.equal(meetsExpectation('95', '< 90'), false);
  assert.equal(meetsExpectation('0', '> 0'), false);
  assert.equal(meetsExpectation('status: ok (v2)', 'ok'), true);
});
