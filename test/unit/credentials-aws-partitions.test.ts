import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { partition } from '@aws-sdk/core/client';
import t from 'tap';
import { DEFAULT_MODELS_DIR } from '../../scripts/gen-aws-routes.ts';
import { AWS_PARTITIONS, partitionOf } from '../../src/credentials/aws-partitions.ts';
import { stsEndpoint } from '../../src/credentials/sts-query.ts';

// Regions of every partition, today's and made-up future ones, each resolved by the SDK too.
const REGIONS = [
  'us-east-1',
  'eu-central-2',
  'ap-southeast-7',
  'mx-central-1',
  'il-central-1',
  'us-west-9',
  'cn-north-1',
  'cn-northwest-1',
  'eusc-de-east-1',
  'us-iso-east-1',
  'us-iso-west-1',
  'us-isob-east-1',
  'eu-isoe-west-1',
  'us-isof-south-1',
  'us-isof-east-1',
  'us-gov-west-1',
  'us-gov-east-1',
  'xx-nowhere-1',
];

t.test('every region falls in the partition the AWS SDK puts it in, with its DNS suffixes', async (t) => {
  for (const region of REGIONS) {
    const sdk = partition(region);
    const ours = partitionOf(region);
    t.same(
      { name: ours.name, dnsSuffix: ours.dnsSuffix, dualStackDnsSuffix: ours.dualStackDnsSuffix },
      { name: sdk.name, dnsSuffix: sdk.dnsSuffix, dualStackDnsSuffix: sdk.dualStackDnsSuffix },
      region,
    );
  }
  t.equal(
    new Set(REGIONS.map((r) => partitionOf(r).name)).size,
    AWS_PARTITIONS.length,
    'every partition tried',
  );
});

const modelsAbsent = existsSync(DEFAULT_MODELS_DIR)
  ? false
  : `the AWS models are not at ${DEFAULT_MODELS_DIR}`;

t.test('the STS model has exactly the endpoint shapes Errand builds', { skip: modelsAbsent }, async (t) => {
  // Every endpoint URL of the model's rule set: the regional, FIPS, dual-stack and GovCloud ones
  // stsEndpoint builds, the legacy global one (only with AWS_STS_REGIONAL_ENDPOINTS=legacy, which
  // Errand does not offer) and the configured endpoint.
  const model = JSON.parse(readFileSync(join(DEFAULT_MODELS_DIR, 'sts.json'), 'utf8'));
  const service = Object.values(
    model.shapes as Record<string, { type: string; traits?: Record<string, unknown> }>,
  ).find((s) => s.type === 'service');
  const urls = new Set<string>();
  const walk = (rules: { type: string; rules?: unknown[]; endpoint?: { url: unknown } }[]): void => {
    for (const r of rules) {
      if (r.type === 'tree') walk(r.rules as never);
      if (r.type === 'endpoint')
        urls.add(typeof r.endpoint?.url === 'string' ? r.endpoint.url : '{Endpoint}');
    }
  };
  const ruleSet = service?.traits?.['smithy.rules#endpointRuleSet'] as { rules: never } | undefined;
  walk(ruleSet?.rules ?? []);
  t.same([...urls].sort(), [
    'https://sts-fips.{Region}.{PartitionResult#dnsSuffix}',
    'https://sts-fips.{Region}.{PartitionResult#dualStackDnsSuffix}',
    'https://sts.amazonaws.com',
    'https://sts.{Region}.amazonaws.com',
    'https://sts.{Region}.{PartitionResult#dnsSuffix}',
    'https://sts.{Region}.{PartitionResult#dualStackDnsSuffix}',
    '{Endpoint}',
  ]);
});

t.test(
  'FIPS and dual-stack endpoints as AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT ask',
  async (t) => {
    const fips = { AWS_USE_FIPS_ENDPOINT: 'true' };
    const dual = { AWS_USE_DUALSTACK_ENDPOINT: 'TRUE' };
    const both = { ...fips, ...dual };
    const cases: [string, Record<string, string>, string][] = [
      ['us-east-1', fips, 'https://sts-fips.us-east-1.amazonaws.com/'],
      ['us-east-1', dual, 'https://sts.us-east-1.api.aws/'],
      ['us-east-1', both, 'https://sts-fips.us-east-1.api.aws/'],
      ['us-gov-west-1', fips, 'https://sts.us-gov-west-1.amazonaws.com/'],
      ['us-gov-west-1', both, 'https://sts-fips.us-gov-west-1.api.aws/'],
      ['cn-north-1', dual, 'https://sts.cn-north-1.api.amazonwebservices.com.cn/'],
      ['eusc-de-east-1', {}, 'https://sts.eusc-de-east-1.amazonaws.eu/'],
      ['us-iso-east-1', {}, 'https://sts.us-iso-east-1.c2s.ic.gov/'],
      ['us-isob-east-1', fips, 'https://sts-fips.us-isob-east-1.sc2s.sgov.gov/'],
      [
        'us-east-1',
        { AWS_USE_FIPS_ENDPOINT: 'false', AWS_USE_DUALSTACK_ENDPOINT: '' },
        'https://sts.us-east-1.amazonaws.com/',
      ],
    ];
    for (const [region, env, want] of cases)
      t.equal(stsEndpoint(region, env).href, want, `${region} ${JSON.stringify(env)}`);
  },
);

t.test(
  'a setting that is not true or false, or FIPS with a configured endpoint, is refused by name',
  async (t) => {
    t.throws(() => stsEndpoint('us-east-1', { AWS_USE_FIPS_ENDPOINT: 'yes' }), {
      name: 'TypeError',
      message: 'AWS_USE_FIPS_ENDPOINT must be true or false',
    });
    t.throws(() => stsEndpoint('us-east-1', { AWS_USE_DUALSTACK_ENDPOINT: '1' }), {
      message: 'AWS_USE_DUALSTACK_ENDPOINT must be true or false',
    });
    t.throws(
      () =>
        stsEndpoint('us-east-1', {
          AWS_USE_FIPS_ENDPOINT: 'true',
          AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:5000',
        }),
      {
        message: 'AWS_USE_FIPS_ENDPOINT cannot be used with a configured STS endpoint',
      },
    );
    t.throws(
      () =>
        stsEndpoint('us-east-1', {
          AWS_USE_DUALSTACK_ENDPOINT: 'true',
          AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
        }),
      {
        message: 'AWS_USE_DUALSTACK_ENDPOINT cannot be used with a configured STS endpoint',
      },
    );
  },
);
