// biome-ignore-all lint/suspicious/noTemplateCurlyInString: IAM ARN formats spell ${Variable} literally
// Grant URLs must already be canonical; each refusal names the reason and shows the canonical form.
// Also the ARN and IAM catalogue helpers the loader's semantic checks stand on.
import fc from 'fast-check';
import t from 'tap';
import {
  checkBucketName,
  compileArnFormat,
  createResourceTypeMatcher,
  matchResourceType,
  parseArn,
  partitionOfRegion,
} from '../../src/manifest/arn.ts';
import { canonicalizeUrl, checkGrantUrl, normalizePercentEncoding } from '../../src/manifest/http-url.ts';
import { createIamCatalog, editDistance, suggest } from '../../src/manifest/iam-actions.ts';

t.test('canonical URLs pass unchanged', async (t) => {
  const urls = [
    'https://api.acme.dev/v1/summaries',
    'https://api.acme.dev/',
    'https://api.acme.dev:8443/v1/x?a=1&b=%2F',
    'https://[2001:db8::1]/v1',
    'https://127.0.0.1/x',
    'https://xn--mnchen-3ya.de/stra%C3%9Fe',
    'http://legacy.acme.dev/x',
  ];
  for (const url of urls) {
    t.same(checkGrantUrl(url, false), [], url);
    t.equal(canonicalizeUrl(url), url, url);
  }
  t.same(checkGrantUrl('https://api.acme.dev/v1/items/*/parts/*', true), []);
});

t.test('non-canonical URLs are refused with the reason and the canonical form', async (t) => {
  const rows: { url: string; message: string; fix?: string; pattern?: boolean }[] = [
    {
      url: 'https://API.Acme.dev/v1',
      message: 'the URL is not canonical: the host must be lower-case',
      fix: 'write https://api.acme.dev/v1',
    },
    {
      url: 'https://api.acme.dev:443/v1',
      message: 'the URL is not canonical: the default port 443 is implied',
      fix: 'write https://api.acme.dev/v1',
    },
    {
      url: 'http://api.acme.dev:80/v1',
      message: 'the URL is not canonical: the default port 80 is implied',
      fix: 'write http://api.acme.dev/v1',
    },
    {
      url: 'https://api.acme.dev/v1/../admin',
      message: 'the URL is not canonical: dot segments (. and ..) are not allowed',
      fix: 'write https://api.acme.dev/admin',
    },
    {
      url: 'https://api.acme.dev/v1/%2e%2E/admin',
      message:
        'the URL is not canonical: dot segments (. and ..) are not allowed; percent-encoding uses upper-case hex; unreserved characters (letters, digits, - . _ ~) must not be percent-encoded',
      fix: 'write https://api.acme.dev/admin',
    },
    {
      url: 'https://api.acme.dev./v1',
      message: 'the URL is not canonical: the host must not end with a dot',
      fix: 'write https://api.acme.dev/v1',
    },
    {
      url: 'https://api.acme.dev/v1\\admin',
      message: 'the URL is not canonical: backslashes are not allowed',
      fix: 'write https://api.acme.dev/v1/admin',
    },
    {
      url: 'https://api.acme.dev',
      message: 'the URL is not canonical: the path must be at least /',
      fix: 'write https://api.acme.dev/',
    },
    {
      url: 'https://api.acme.dev/a%2fb',
      message: 'the URL is not canonical: percent-encoding uses upper-case hex',
      fix: 'write https://api.acme.dev/a%2Fb',
    },
    {
      url: 'https://api.acme.dev/%7Euser',
      message:
        'the URL is not canonical: unreserved characters (letters, digits, - . _ ~) must not be percent-encoded',
      fix: 'write https://api.acme.dev/~user',
    },
    {
      url: 'https://api.acme.dev/a b',
      message: 'the URL is not canonical: non-ASCII characters and spaces must be percent-encoded',
      fix: 'write https://api.acme.dev/a%20b',
    },
    {
      url: 'https://münchen.de/',
      message: 'the URL is not canonical: non-ASCII characters and spaces must be percent-encoded',
      fix: 'write https://xn--mnchen-3ya.de/',
    },
    { url: 'https://0x7f.1/', message: 'the URL is not canonical', fix: 'write https://127.0.0.1/' },
    {
      url: 'https://api.acme.dev/v1#frag',
      message: 'the URL must not have a fragment (#…): it is never sent to the server',
      fix: 'write https://api.acme.dev/v1',
    },
    {
      url: 'https://api.acme.dev/v1#',
      message: 'the URL must not have a fragment (#…): it is never sent to the server',
      fix: 'write https://api.acme.dev/v1',
    },
    {
      url: 'https://user:pass@api.acme.dev/v1',
      message: 'the URL must not contain user information (user:password@); send credentials with inject',
      fix: 'write https://api.acme.dev/v1',
    },
    {
      url: 'https://api.acme.dev/v1?',
      message: 'the URL must not end with an empty query (?)',
      fix: 'write https://api.acme.dev/v1',
    },
    { url: 'ftp://files.acme.dev/x', message: 'scheme "ftp:" is not allowed', fix: 'use https://' },
    { url: 'https://', message: '"https://" is not a valid URL' },
    {
      url: 'https://api.acme.dev/v1/*',
      message: 'url must be exact; * is only allowed in urlPattern',
      fix: 'use urlPattern, where * stands for one path segment',
    },
    {
      url: 'https://api.acme.dev/v1/a*',
      pattern: true,
      message:
        'a * must be a whole path segment, e.g. /items/*/parts; partial segments like /a* are not allowed',
    },
    {
      url: 'https://*.acme.dev/v1/*',
      pattern: true,
      message: 'a * may stand only for a whole path segment, not in the host or query',
    },
    {
      url: 'https://api.acme.dev/v1/*?q=*',
      pattern: true,
      message: 'a * may stand only for a whole path segment, not in the host or query',
    },
    {
      url: 'https://api.acme.dev/v1/items',
      pattern: true,
      message: 'urlPattern has no *',
      fix: 'use url: https://api.acme.dev/v1/items',
    },
  ];
  for (const row of rows) {
    t.same(
      checkGrantUrl(row.url, row.pattern === true),
      [{ message: row.message, ...(row.fix !== undefined ? { fix: row.fix } : {}) }],
      row.url,
    );
  }
});

t.test('percent-encoding normalization follows RFC 3986 §6.2.2', async (t) => {
  t.equal(normalizePercentEncoding('%7e%41%2f%2F%c3%9f'), '~A%2F%2F%C3%9F');
  t.equal(canonicalizeUrl('not a url'), undefined);
});

t.test('ARN helpers', async (t) => {
  t.same(parseArn('arn:aws:s3:::b/k:with:colons'), {
    partition: 'aws',
    service: 's3',
    region: '',
    account: '',
    resource: 'b/k:with:colons',
  });
  t.equal(parseArn('arn:aws:s3::'), undefined);
  t.equal(parseArn('urn:aws:s3:::b'), undefined);
  t.same(['us-east-1', 'cn-northwest-1', 'us-gov-west-1', 'eu-central-2'].map(partitionOfRegion), [
    'aws',
    'aws-cn',
    'aws-us-gov',
    'aws',
  ]);
  const object = { name: 'object', arn: 'arn:${Partition}:s3:::${BucketName}/${ObjectName}' };
  const bucket = { name: 'bucket', arn: 'arn:${Partition}:s3:::${BucketName}' };
  t.equal(compileArnFormat(object).pattern.test('arn:aws:s3:::b/k/deep/key.pdf'), true);
  t.equal(compileArnFormat(object).pattern.test('arn:aws:s3:::b'), false);
  t.equal(
    matchResourceType('arn:aws:s3:::b/k', [bucket, object])?.name,
    'object',
    'the most specific type wins',
  );
  t.equal(matchResourceType('arn:aws:s3:::b', [bucket, object])?.name, 'bucket');
  t.equal(matchResourceType('arn:aws:sqs:us-east-1:111122223333:q', [bucket, object]), undefined);
  const starred = { name: 'device', arn: 'arn:${Partition}:braket:*:*:device/${DeviceType}/${DeviceId}' };
  t.equal(compileArnFormat(starred).pattern.test('arn:aws:braket:us-east-1:111122223333:device/qpu/x'), true);
  t.same(['acme-uploads', 'my.bucket', 'ab', 'Acme', 'a..b', '192.168.1.1', '-abc'].map(checkBucketName), [
    undefined,
    undefined,
    '3-63 characters from a-z 0-9 . and -, starting and ending with a letter or digit',
    '3-63 characters from a-z 0-9 . and -, starting and ending with a letter or digit',
    'no two adjacent periods',
    'not formatted as an IP address',
    '3-63 characters from a-z 0-9 . and -, starting and ending with a letter or digit',
  ]);
});

t.test('the IAM catalogue reads the real Service Authorization Reference data', async (t) => {
  const iam = createIamCatalog();
  t.equal(iam.hasService('s3'), true);
  t.equal(iam.hasService('../../etc'), false, 'a service key never becomes a path outside the data');
  t.equal(iam.hasService('nope-not-a-service'), false);
  t.same(iam.actionNames('../x'), []);
  t.same(iam.resourceTypes('../x'), []);
  t.ok(iam.serviceNames().includes('dynamodb'));
  const get = iam.action('s3', 'getobject');
  t.equal(get?.name, 'GetObject');
  t.equal(get?.accessLevel, 'Read');
  t.same(get?.resourceTypes.map((r) => r.name).sort(), ['accesspointobject', 'object']);
  t.same(iam.action('s3', 'ListAllMyBuckets')?.resourceTypes, []);
  t.equal(iam.action('s3', 'toString'), undefined, 'object prototype names are not actions');
  t.equal(iam.action('s3', 'GetObjekt'), undefined);
});

t.test('parseArn splits at the first five colons, whatever the text', async (t) => {
  // The reference is the plain reading of the grammar: split at every colon, keep the first five
  // fields, join the rest back as the resource.
  const reference = (text: string) => {
    const parts = text.split(':');
    if (parts.length < 6 || parts[0] !== 'arn') return undefined;
    const [, partition, service, region, account] = parts;
    return { partition, service, region, account, resource: parts.slice(5).join(':') };
  };
  const rows = [
    'arn:aws:s3:::b/k',
    'arn:aws:s3:::b:k:l',
    'arn:a:b:c:d',
    'arn:a:b:c:d:',
    'arnx:a:b:c:d:e',
    'xarn:a:b:c:d:e',
    ':::::',
  ];
  for (const row of rows) t.same(parseArn(row), reference(row), row);
  fc.assert(
    fc.property(
      fc
        .array(fc.constantFrom('arn', ':', 'a', 'aws', '', '/', 'arn:'), { maxLength: 12 })
        .map((p) => p.join('')),
      (text) => JSON.stringify(parseArn(text)) === JSON.stringify(reference(text)),
    ),
    { numRuns: 2000 },
  );
});

t.test('the catalogue matches an ARN against its service formats, compiled once per service', async (t) => {
  const iam = createIamCatalog();
  const rows: [service: string, arn: string, type: string | undefined][] = [
    ['s3', 'arn:aws:s3:::acme-uploads/reports/q3.pdf', 'object'],
    ['s3', 'arn:aws:s3:::acme-uploads', 'bucket'],
    ['s3', 'arn:aws:s3:us-east-1:111122223333:accesspoint/ap1/object/k', 'accesspointobject'],
    ['s3', 'arn:aws:sqs:us-east-1:111122223333:q', undefined],
    ['dynamodb', 'arn:aws:dynamodb:us-east-1:111122223333:table/orders', 'table'],
    ['dynamodb', 'arn:aws:dynamodb:us-east-1:111122223333:table/orders/index/by-date', 'index'],
    ['nope-not-a-service', 'arn:aws:s3:::acme-uploads', undefined],
    ['../x', 'arn:aws:s3:::acme-uploads', undefined],
  ];
  for (const [service, arn, type] of rows) {
    t.equal(iam.resourceTypeOf(service, arn)?.name, type, `${service} ${arn}`);
    // The same answer as matching against the service's formats one by one (the cache changes
    // nothing but the cost), and the same answer again from the cached matcher.
    t.equal(matchResourceType(arn, iam.resourceTypes(service))?.name, type);
    t.equal(iam.resourceTypeOf(service, arn)?.name, type, `${service} ${arn}, cached`);
  }
  const match = createResourceTypeMatcher(iam.resourceTypes('s3'));
  t.equal(match('arn:aws:s3:::b/k')?.arn, 'arn:${Partition}:s3:::${BucketName}/${ObjectName}');
  t.equal(match('arn:aws:s3:::b/k'), match('arn:aws:s3:::b/other'), 'one matcher hands out the same type');
  t.equal(createResourceTypeMatcher([])('arn:aws:s3:::b'), undefined, 'no formats, no type');
});

t.test('did-you-mean suggestions stay close', async (t) => {
  t.equal(editDistance('prot', 'port'), 1, 'a transposition is one edit');
  t.equal(editDistance('', 'abc'), 3);
  t.equal(suggest('GetObjekt', ['GetObject', 'PutObject']), 'GetObject');
  t.equal(suggest('owner', ['id', 'purpose', 'user', 'expiresAt']), undefined);
  t.equal(suggest('prefix', ['s3Prefix']), 's3Prefix');
  t.equal(suggest('s4', ['s3', 'sts', 'sqs']), 's3');
});
