// Catalogue documents: the template's rules, with the line and reason of a breach.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { confirmingSteps, DocumentError, meetsExpectation, parseDocument } from '../../catalogue/document';

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

test('empty or non-numeric output never meets a numeric expectation', () => {
  // An empty SQL or PromQL result is no data: Number('') is 0, which must not pass `< 90` or `= 0`.
  for (const expect of ['< 90', '= 0', '<= 0', '>= 0', '!= 1', '0', '200'])
    for (const output of ['', '  ', '\n', 'null', 'abc', 'NaN', 'Infinity', '0x10', '12 rows'])
      assert.equal(meetsExpectation(output, expect), false, `${JSON.stringify(output)} against ${expect}`);
  assert.equal(meetsExpectation('', 'none'), false);
  // A bare number is an equality on numbers, not a substring: 1200 is not 200, 10 is not 0.
  assert.equal(meetsExpectation('1200', '200'), false);
  assert.equal(meetsExpectation('10', '0'), false);
  assert.equal(meetsExpectation('0', '0'), true);
  assert.equal(meetsExpectation('0', '= 0'), true);
  assert.equal(meetsExpectation(' 12.5 ', '< 90'), true);
  assert.equal(meetsExpectation('0.004', '< 0.01'), true);
});

const WITH_STEPS = (steps: string) => `# Doc

## Overview

What it is.

## Symptoms

- Something

${steps}

## Prevention

## Escalation

- After 15m: oncall
`;

test('confirming checks: marked "Confirms resolution", else the checks of the last step section', () => {
  const checks = `## Immediate Actions

1. Look at the API
   \`\`\`check http
   GET {apiUrl}/healthz
   \`\`\`
   Expected output: \`200\`

## Investigation Steps

1. Read the logs

## Resolution Steps

1. Restart it
   \`\`\`action
   restart-api
   \`\`\`
2. Count connections
   \`\`\`check sql
   SELECT count(*) FROM pg_stat_activity
   \`\`\`
   Expected output: \`< 90\`
3. Tell the team`;
  const byDefault = parseDocument(WITH_STEPS(checks), 'doc.md');
  assert.deepEqual(
    confirmingSteps(byDefault).map((s) => s.id),
    ['count-connections'],
  );
  const marked = parseDocument(
    WITH_STEPS(checks.replace('   Expected output: `200`', '   Expected output: `200`\n   Confirms resolution')),
    'doc.md',
  );
  assert.deepEqual(
    confirmingSteps(marked).map((s) => s.id),
    ['look-at-the-api'],
  );
  // No check in the last section and none marked: nothing confirms it.
  const none = parseDocument(WITH_STEPS(checks.replace(/2\. Count connections[\s\S]*< 90`\n/, '')), 'doc.md');
  assert.deepEqual(confirmingSteps(none), []);
  // Only an automated step with an expected output can confirm anything.
  const manual = WITH_STEPS(checks.replace('1. Read the logs', '1. Read the logs\n   Confirms resolution'));
  assert.throws(
    () => parseDocument(manual, 'doc.md'),
    (err: unknown) =>
      err instanceof DocumentError &&
      err.line === manual.split('\n').indexOf('   Confirms resolution') + 1 &&
      /only a check or diagnostic with an expected output confirms resolution/.test(err.message),
  );
  const noExpect = WITH_STEPS(
    checks.replace(
      'SELECT count(*) FROM pg_stat_activity\n   ```\n   Expected output: `< 90`',
      'SELECT 1\n   ```\n   Confirms resolution',
    ),
  );
  assert.throws(
    () => parseDocument(noExpect, 'doc.md'),
    (err: unknown) => err instanceof DocumentError && /expected output confirms resolution/.test(err.message),
  );
});
