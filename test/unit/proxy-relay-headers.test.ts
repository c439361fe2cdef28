import t from 'tap';
import { relayHeaders } from '../../src/proxy/upstream.ts';

// Response headers relayed to the agent: hop-by-hop fields and the names Connection lists are
// dropped (RFC 9110 §7.6.1); everything else is kept under its lower-case name.
t.test('relayHeaders drops hop-by-hop fields and the names Connection lists', async (t) => {
  const rows: {
    name: string;
    headers: Record<string, string | string[] | undefined>;
    expected: Record<string, string | string[]>;
  }[] = [
    {
      name: 'keep-alive answer: connection and keep-alive dropped',
      headers: { connection: 'keep-alive', 'keep-alive': 'timeout=5', 'content-length': '3', etag: '"e"' },
      expected: { 'content-length': '3', etag: '"e"' },
    },
    {
      name: 'close answer',
      headers: { connection: 'close', 'x-amz-request-id': 'R1' },
      expected: { 'x-amz-request-id': 'R1' },
    },
    {
      name: 'no Connection header',
      headers: { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked', Trailer: 'x' },
      expected: { 'content-type': 'text/plain' },
    },
    {
      name: 'Connection names an end-to-end-looking field: dropped too',
      headers: {
        connection: 'Keep-Alive, X-Secret-Hop , ,x-other',
        'x-secret-hop': '1',
        'X-Other': '2',
        etag: 'e',
      },
      expected: { etag: 'e' },
    },
    {
      name: 'undefined values skipped, arrays kept',
      headers: { 'set-cookie': ['a=1', 'b=2'], 'x-missing': undefined, upgrade: 'h2c' },
      expected: { 'set-cookie': ['a=1', 'b=2'] },
    },
  ];
  for (const row of rows) t.strictSame(relayHeaders(row.headers), row.expected, row.name);
});

t.test('relayHeaders with names to omit and a scrub of every value kept', async (t) => {
  const omit = new Set(['set-cookie', 'x-egress-deny']);
  const scrub = (v: string) => v.replaceAll('ASIASECRET', '[REDACTED]');
  const rows: {
    name: string;
    headers: Record<string, string | string[] | undefined>;
    expected: Record<string, string | string[]>;
  }[] = [
    {
      name: 'omitted names dropped whatever their case; the rest scrubbed, arrays element by element',
      headers: {
        'Set-Cookie': ['s=1'],
        'X-Egress-Deny': 'fake',
        'x-amz-id-2': 'echo ASIASECRET here',
        link: ['<a>; ASIASECRET', '<b>'],
        connection: 'keep-alive',
      },
      expected: { 'x-amz-id-2': 'echo [REDACTED] here', link: ['<a>; [REDACTED]', '<b>'] },
    },
    {
      name: 'nothing to omit or scrub: values kept as they came',
      headers: { etag: '"e"', 'content-length': '3' },
      expected: { etag: '"e"', 'content-length': '3' },
    },
  ];
  for (const row of rows) t.strictSame(relayHeaders(row.headers, omit, scrub), row.expected, row.name);
});
