import t from 'tap';
import { createMetrics } from '../../src/ops/metrics.ts';

// Each label set's series is looked up once and reused: counts must still land on the right series.
t.test('requests are counted and timed per label set', async (t) => {
  const m = createMetrics('9.9.9');
  const allow = { listener: 'aws', service: 's3', decision: 'allow', reason: 'allowed' };
  const deny = { listener: 'aws', service: 's3', decision: 'deny', reason: 'aws_op_not_granted' };
  m.observeRequest(allow, 0.0004);
  m.observeRequest(allow, 0.002);
  m.observeRequest(deny, 0.0001);
  m.observeRequest({ ...allow, listener: 'forward' }, 0.03);
  m.setUsesRemaining('read-a', 2);
  const text = await m.registry.metrics();
  const rows: [RegExp, string][] = [
    [/errand_requests_total\{listener="aws",service="s3",decision="allow",reason="allowed"\} (\d+)/, '2'],
    [
      /errand_requests_total\{listener="aws",service="s3",decision="deny",reason="aws_op_not_granted"\} (\d+)/,
      '1',
    ],
    [/errand_requests_total\{listener="forward",service="s3",decision="allow",reason="allowed"\} (\d+)/, '1'],
    [/errand_request_duration_seconds_count\{listener="aws",decision="allow"\} (\d+)/, '2'],
    [/errand_request_duration_seconds_bucket\{le="0.0005",listener="aws",decision="allow"\} (\d+)/, '1'],
    [/errand_request_duration_seconds_count\{listener="forward",decision="allow"\} (\d+)/, '1'],
    [/errand_grant_uses_remaining\{grant="read-a"\} (\d+)/, '2'],
  ];
  for (const [pattern, value] of rows) t.equal(pattern.exec(text)?.[1], value, String(pattern));
});

// Requests add to a pending count that each scrape hands over: a scrape must neither lose nor
// double-count, and a label object the caller reuses or changes later must not move a count.
t.test('request counts across scrapes', async (t) => {
  const m = createMetrics('9.9.9');
  const labels = { listener: 'aws', service: 's3', decision: 'allow', reason: 'allowed' };
  const count = async () =>
    /errand_requests_total\{listener="aws",service="s3",decision="allow",reason="allowed"\} (\d+)/.exec(
      await m.registry.metrics(),
    )?.[1];
  t.equal(await count(), undefined, 'no series before the first request');
  m.observeRequest(labels, 0.001);
  t.equal(await count(), '1', 'first scrape');
  t.equal(await count(), '1', 'a second scrape adds nothing');
  m.observeRequest(labels, 0.001);
  m.observeRequest({ ...labels }, 0.001);
  labels.reason = 'changed after the call';
  t.equal(await count(), '3', 'requests between scrapes all counted, on the labels they had');
  t.notMatch(await m.registry.metrics(), /changed after the call/);
});
