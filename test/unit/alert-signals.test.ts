// The signals that carry a group's alerts to its incident: one for a group of ordinary size, and
// never one past Temporal's 2 MB payload limit, however large the webhook body was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertSignals } from '../../client/incidents';
import type { AlertEvent } from '../../workflows/definitions';

const alert = (i: number, summary = 'errors'): AlertEvent => ({
  key: `k${i}`,
  status: 'firing',
  alertname: 'ApiErrorRate',
  labels: { alertname: 'ApiErrorRate', instance: `pod-${i}` },
  annotations: { summary },
  startsAt: '2026-11-30T03:00:00Z',
});

test('one alert is signalled as itself, a group as one list', () => {
  assert.deepEqual(alertSignals([alert(1)]), [alert(1)]);
  assert.deepEqual(alertSignals([alert(1), alert(2), alert(3)]), [[alert(1), alert(2), alert(3)]]);
  assert.deepEqual(alertSignals([]), []);
});

test('a body of 1000 alerts with 8 KB annotations goes in lists of at most 512 KiB, in order', () => {
  const alerts = Array.from({ length: 1000 }, (_, i) => alert(i, 'x'.repeat(8192)));
  const signals = alertSignals(alerts) as AlertEvent[][];
  assert.ok(signals.length > 1);
  for (const list of signals) assert.ok(Buffer.byteLength(JSON.stringify(list)) <= 512 * 1024 + 64);
  assert.deepEqual(signals.flat(), alerts);
});
