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
