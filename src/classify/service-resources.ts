// Resources named in the input of JSON- and query-protocol operations (DynamoDB, SQS, SNS, KMS,
// Secrets Manager, SSM). Each mapping is documented in docs/classification.md. Where one input
// member names the resource unambiguously, the need carries its ARN; an operation whose IAM action
// takes no resource gets `*`; anything else is refused with a message saying why, never guessed.

import { type Arn, parseArn } from './arn.ts';
import type { Operation } from './aws-routes.ts';
import { deny } from './deny.ts';
import { iamActionsFor } from './iam-actions.ts';
import { isJsonObject, type JsonObject, type JsonValue } from './strict-json.ts';
import type { AwsNeed, ClassifyDeny } from './types.ts';

export interface ResourceContext {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

/** The operation's input, by member name (JSON object members or query-form parameters). A
 *  differently-cased twin of a requested member is refused (two parsers could disagree). */
export interface InputReader {
  member(name: string): { ok: true; value: JsonValue | undefined } | { ok: false; message: string };
}

type Needs = AwsNeed[] | ClassifyDeny;

const undetermined = (op: Operation, why: string): ClassifyDeny =>
  deny('aws_op_unknown', `${op.name}: Errand cannot determine the resource (${why}), so it is not supported`);

/** Reads a string member; `undefined` when absent; a deny when present but not a non-empty string. */
function stringMember(input: InputReader, op: Operation, name: string): string | undefined | ClassifyDeny {
  const m = input.member(name);
  if (!m.ok) return deny('malformed_request', `${op.name}: ${m.message}`);
  if (m.value === undefined) return undefined;
  if (typeof m.value !== 'string' || m.value === '') {
    return deny('malformed_request', `${op.name}: ${name} is not a non-empty string`);
  }
  return m.value;
}

const isDeny = (v: unknown): v is ClassifyDeny =>
  typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === false;

/** An ARN the agent supplied must be of the service and in the task's partition, region and
 *  account: Errand signs for the manifest's region and account only (E14). */
function ownArn(
  text: string,
  op: Operation,
  member: string,
  service: string,
  ctx: ResourceContext,
  opts: { regionless?: boolean } = {},
): Arn | ClassifyDeny {
  const arn = parseArn(text);
  if (!arn || arn.service !== service) {
    return deny('malformed_request', `${op.name}: ${member} is not a ${service} ARN`);
  }
  const region = opts.regionless ? '' : ctx.region;
  if (arn.partition !== ctx.partition || arn.region !== region || arn.account !== ctx.accountId) {
    return deny(
      'aws_op_not_granted',
      `${op.name}: ${member} names a resource in ${arn.region || 'no region'}/${arn.account || 'no account'}; this task works only in ${ctx.region}/${ctx.accountId}`,
    );
  }
  return arn;
}

const needsFor = (op: Operation, signingName: string, resource: string): AwsNeed[] =>
  iamActionsFor(signingName, op.name).map((action) => ({ action, resource }));

// ---- DynamoDB ("Actions, resources, and condition keys for Amazon DynamoDB": table, index,
// backup, export, import and stream ARNs; transactions per item, batches per table).

const DDB_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const PARTIQL = new Set(['ExecuteStatement', 'BatchExecuteStatement', 'ExecuteTransaction']);

function tableArn(text: string, op: Operation, member: string, ctx: ResourceContext): string | ClassifyDeny {
  if (text.startsWith('arn:')) {
    const arn = ownArn(text, op, member, 'dynamodb', ctx);
    if (isDeny(arn)) return arn;
    if (!/^table\/[A-Za-z0-9_.-]{3,255}$/.test(arn.resource)) {
      return deny('malformed_request', `${op.name}: ${member} is not a table ARN`);
    }
    return text;
  }
  if (!DDB_NAME.test(text))
    return deny('malformed_request', `${op.name}: ${member} is not a valid table name`);
  return `arn:${ctx.partition}:dynamodb:${ctx.region}:${ctx.accountId}:table/${text}`;
}

const TRANSACT_WRITE: Readonly<Record<string, string>> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

function dedupe(needs: AwsNeed[]): AwsNeed[] {
  const seen = new Set<string>();
  return needs.filter((n) => {
    const id = `${n.action} ${n.resource}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function dynamodbNeeds(op: Operation, input: InputReader, ctx: ResourceContext): Needs {
  if (PARTIQL.has(op.name)) {
    return deny(
      'aws_op_unknown',
      `${op.name} runs PartiQL, whose statement text names the table and the action; Errand cannot classify it safely (use GetItem, PutItem, Query, … instead)`,
    );
  }
  if (op.name === 'BatchGetItem' || op.name === 'BatchWriteItem') {
    const m = input.member('RequestItems');
    if (!m.ok) return deny('malformed_request', `${op.name}: ${m.message}`);
    if (!isJsonObject(m.value) || Object.keys(m.value).length === 0) {
      return deny('malformed_request', `${op.name}: RequestItems is not a non-empty map of tables`);
    }
    const needs: AwsNeed[] = [];
    for (const table of Object.keys(m.value)) {
      const arn = tableArn(table, op, 'RequestItems', ctx);
      if (isDeny(arn)) return arn;
      needs.push({ action: `dynamodb:${op.name}`, resource: arn });
    }
    return dedupe(needs);
  }
  if (op.name === 'TransactGetItems' || op.name === 'TransactWriteItems') {
    const m = input.member('TransactItems');
    if (!m.ok) return deny('malformed_request', `${op.name}: ${m.message}`);
    if (!Array.isArray(m.value) || m.value.length === 0) {
      return deny('malformed_request', `${op.name}: TransactItems is not a non-empty list`);
    }
    const kinds: Readonly<Record<string, string>> =
      op.name === 'TransactGetItems' ? { Get: 'dynamodb:GetItem' } : TRANSACT_WRITE;
    const needs: AwsNeed[] = [];
    for (const item of m.value) {
      const entries = isJsonObject(item) ? Object.entries(item) : [];
      const [kind, action] =
        entries.length === 1 ? [entries[0]![0], kinds[entries[0]![0]]] : [undefined, undefined];
      const target = entries[0]?.[1];
      if (kind === undefined || action === undefined || !isJsonObject(target)) {
        return deny(
          'malformed_request',
          `${op.name}: each TransactItems entry must hold exactly one of ${Object.keys(kinds).join(', ')}`,
        );
      }
      const name = stringMember(readerOf(target), op, 'TableName');
      if (name === undefined)
        return deny('malformed_request', `${op.name}: a ${kind} entry has no TableName`);
      if (isDeny(name)) return name;
      const arn = tableArn(name, op, 'TableName', ctx);
      if (isDeny(arn)) return arn;
      needs.push({ action, resource: arn });
    }
    return dedupe(needs);
  }
  if (op.unscoped) return needsFor(op, 'dynamodb', '*');
  const members = [...op.members.keys()];
  if (members.length === 1 && members[0] === 'TableName') {
    const name = stringMember(input, op, 'TableName');
    if (isDeny(name)) return name;
    if (name === undefined) return deny('malformed_request', `${op.name}: TableName is required`);
    const arn = tableArn(name, op, 'TableName', ctx);
    return isDeny(arn) ? arn : needsFor(op, 'dynamodb', arn);
  }
  if (members.length === 2 && op.members.has('TableName') && op.members.has('IndexName')) {
    // Query, Scan, contributor insights: the index when one is named ("Using IAM policy
    // conditions": arn:…:table/T/index/I).
    const name = stringMember(input, op, 'TableName');
    if (isDeny(name)) return name;
    if (name === undefined) return deny('malformed_request', `${op.name}: TableName is required`);
    const index = stringMember(input, op, 'IndexName');
    if (isDeny(index)) return index;
    const arn = tableArn(name, op, 'TableName', ctx);
    if (isDeny(arn)) return arn;
    if (index === undefined) return needsFor(op, 'dynamodb', arn);
    if (!DDB_NAME.test(index))
      return deny('malformed_request', `${op.name}: IndexName is not a valid index name`);
    return needsFor(op, 'dynamodb', `${arn}/index/${index}`);
  }
  const arnMember = ['TableArn', 'ResourceArn', 'BackupArn', 'ExportArn', 'ImportArn'].find((m) =>
    op.members.has(m),
  );
  if (members.length === 1 && arnMember) {
    const text = stringMember(input, op, arnMember);
    if (isDeny(text)) return text;
    if (text === undefined) return undetermined(op, `${arnMember} is absent`);
    const arn = ownArn(text, op, arnMember, 'dynamodb', ctx);
    return isDeny(arn) ? arn : needsFor(op, 'dynamodb', text);
  }
  if (members.length === 0) return undetermined(op, 'no input member names a table');
  return undetermined(op, `it names ${members.join(' and ')}`);
}

// ---- SQS ("Amazon SQS API permissions": queue ARN arn:…:sqs:region:account:queueName).

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$|^[A-Za-z0-9_-]{1,75}\.fifo$/;
// A queue URL's host does not route the request (Errand sends it to the manifest's endpoint); when
// it is an AWS SQS host its region must be the task's.
const QUEUE_URL = /^https?:\/\/([A-Za-z0-9.-]+(?::[0-9]{1,5})?)\/([0-9]{12})\/([^/?#]+)$/;

export function queueArn(url: string, op: Operation, ctx: ResourceContext): string | ClassifyDeny {
  const m = QUEUE_URL.exec(url);
  if (!m || !QUEUE_NAME.test(m[3]!)) {
    return deny('malformed_request', `${op.name}: QueueUrl is not https://host/ACCOUNT/QUEUE`);
  }
  const host = m[1]!.toLowerCase();
  const region =
    /^sqs\.([a-z0-9-]+)\.amazonaws\.com(?::443)?$/.exec(host)?.[1] ??
    /^([a-z0-9-]+)\.queue\.amazonaws\.com(?::443)?$/.exec(host)?.[1];
  if (region !== undefined && region !== ctx.region) {
    return deny(
      'aws_op_not_granted',
      `${op.name}: QueueUrl names region ${region}; this task works only in ${ctx.region}`,
    );
  }
  if (m[2] !== ctx.accountId) {
    return deny(
      'aws_op_not_granted',
      `${op.name}: QueueUrl names account ${m[2]}; this task works only in account ${ctx.accountId}`,
    );
  }
  return `arn:${ctx.partition}:sqs:${ctx.region}:${ctx.accountId}:${m[3]}`;
}

function sqsNeeds(op: Operation, input: InputReader, ctx: ResourceContext): Needs {
  if (op.unscoped) return needsFor(op, 'sqs', '*');
  if (op.members.has('QueueUrl') && op.members.size === 1) {
    const url = stringMember(input, op, 'QueueUrl');
    if (isDeny(url)) return url;
    if (url === undefined) return deny('malformed_request', `${op.name}: QueueUrl is required`);
    const arn = queueArn(url, op, ctx);
    return isDeny(arn) ? arn : needsFor(op, 'sqs', arn);
  }
  if (op.members.has('QueueName')) {
    const name = stringMember(input, op, 'QueueName');
    if (isDeny(name)) return name;
    if (name === undefined || !QUEUE_NAME.test(name)) {
      return deny('malformed_request', `${op.name}: QueueName is not a valid queue name`);
    }
    const owner = op.members.has('QueueOwnerAWSAccountId')
      ? stringMember(input, op, 'QueueOwnerAWSAccountId')
      : undefined;
    if (isDeny(owner)) return owner;
    if (owner !== undefined && owner !== ctx.accountId) {
      return deny(
        'aws_op_not_granted',
        `${op.name}: the queue owner ${owner.slice(0, 12)} is not this task's account`,
      );
    }
    return needsFor(op, 'sqs', `arn:${ctx.partition}:sqs:${ctx.region}:${ctx.accountId}:${name}`);
  }
  return undetermined(op, `it names ${[...op.members.keys()].join(' and ') || 'no queue'}`);
}

// ---- SNS ("Actions, resources, and condition keys for Amazon SNS": topic ARN; platform
// application and endpoint actions take no resource).

const SNS_ARN_MEMBERS = ['TopicArn', 'TargetArn', 'ResourceArn'];

function snsNeeds(op: Operation, input: InputReader, ctx: ResourceContext): Needs {
  if (op.unscoped) return needsFor(op, 'sns', '*');
  if (op.name === 'CreateTopic') {
    const name = stringMember(input, op, 'Name');
    if (isDeny(name)) return name;
    if (name === undefined || !/^[A-Za-z0-9_-]{1,256}(\.fifo)?$/.test(name)) {
      return deny('malformed_request', 'CreateTopic: Name is not a valid topic name');
    }
    return needsFor(op, 'sns', `arn:${ctx.partition}:sns:${ctx.region}:${ctx.accountId}:${name}`);
  }
  const present: [string, string][] = [];
  for (const member of [...SNS_ARN_MEMBERS, 'PhoneNumber', 'SubscriptionArn']) {
    if (!op.members.has(member)) continue;
    const value = stringMember(input, op, member);
    if (isDeny(value)) return value;
    if (value !== undefined) present.push([member, value]);
  }
  if (present.length !== 1 || !SNS_ARN_MEMBERS.includes(present[0]![0])) {
    const named = present.map(([m]) => m).join(' and ') || 'nothing';
    return undetermined(
      op,
      `the input names ${named}; Errand needs exactly one of TopicArn, TargetArn, ResourceArn`,
    );
  }
  const [member, text] = present[0]!;
  const arn = ownArn(text, op, member, 'sns', ctx);
  return isDeny(arn) ? arn : needsFor(op, 'sns', text);
}

// ---- KMS ("Actions, resources, and condition keys for AWS KMS": key ARN; an alias resolves to
// a key Errand cannot see, so aliases are refused).

const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

function keyArn(text: string, op: Operation, member: string, ctx: ResourceContext): string | ClassifyDeny {
  if (text.startsWith('alias/') || /^arn:[^:]*:kms:[^:]*:[^:]*:alias\//.test(text)) {
    return undetermined(op, `${member} is an alias; name the key by its id or ARN`);
  }
  if (text.startsWith('arn:')) {
    const arn = ownArn(text, op, member, 'kms', ctx);
    if (isDeny(arn)) return arn;
    if (!/^key\/[0-9a-z-]{1,64}$/.test(arn.resource)) {
      return deny('malformed_request', `${op.name}: ${member} is not a key ARN`);
    }
    return text;
  }
  if (!KEY_ID.test(text))
    return deny('malformed_request', `${op.name}: ${member} is not a key id, key ARN or alias`);
  return `arn:${ctx.partition}:kms:${ctx.region}:${ctx.accountId}:key/${text}`;
}

function kmsNeeds(op: Operation, input: InputReader, ctx: ResourceContext): Needs {
  if (op.unscoped) return needsFor(op, 'kms', '*');
  if (op.name === 'ReEncrypt') {
    const source = stringMember(input, op, 'SourceKeyId');
    const destination = stringMember(input, op, 'DestinationKeyId');
    if (isDeny(source)) return source;
    if (isDeny(destination)) return destination;
    if (source === undefined) return undetermined(op, 'SourceKeyId is absent; name the source key');
    if (destination === undefined)
      return deny('malformed_request', 'ReEncrypt: DestinationKeyId is required');
    const from = keyArn(source, op, 'SourceKeyId', ctx);
    if (isDeny(from)) return from;
    const to = keyArn(destination, op, 'DestinationKeyId', ctx);
    if (isDeny(to)) return to;
    return [
      { action: 'kms:ReEncryptFrom', resource: from },
      { action: 'kms:ReEncryptTo', resource: to },
    ];
  }
  if (op.members.size === 1 && op.members.has('KeyId')) {
    const id = stringMember(input, op, 'KeyId');
    if (isDeny(id)) return id;
    // Decrypt of symmetric ciphertext may omit KeyId: the key is inside the ciphertext blob.
    if (id === undefined) return undetermined(op, 'KeyId is absent; name the key');
    const arn = keyArn(id, op, 'KeyId', ctx);
    return isDeny(arn) ? arn : needsFor(op, 'kms', arn);
  }
  return undetermined(op, `it names ${[...op.members.keys()].join(' and ') || 'no key'}`);
}

// ---- Secrets Manager (secret ARN arn:…:secret:NAME-XXXXXX; a bare name or partial ARN does not
// determine the ARN's random suffix, so Errand needs the full ARN).

function secretsNeeds(op: Operation, input: InputReader, ctx: ResourceContext): Needs {
  if (op.unscoped) return needsFor(op, 'secretsmanager', '*');
  if (op.members.size === 1 && op.members.has('SecretId')) {
    const id = stringMember(input, op, 'SecretId');
    if (isDeny(id)) return id;
    if (id === undefined) return undetermined(op, 'SecretId is absent');
    if (!id.startsWith('arn:')) {
      return undetermined(op, 'SecretId is a name; name the secret by its full ARN (…:secret:NAME-AbCdEf)');
    }
    const arn = ownArn(id, op, 'SecretId', 'secretsmanager', ctx);
    if (isDeny(arn)) return arn;
    if (!/^secret:[A-Za-z0-9/_+=.@-]{1,512}-[A-Za-z0-9]{6}$/.test(arn.resource)) {
      return undetermined(op, 'SecretId is not a full secret ARN ending in its six-character suffix');
    }
    return needsFor(op, 'secretsmanager', id);
  }
  return undetermined(op, `it names ${[...op.members.keys()].join(' and ') || 'no secret'}`);
}

// ---- SSM: Parameter Store only (parameter ARN arn:…:parameter/NAME without its leading '/').
// Documents, associations and the rest name resources of other kinds and are refused.

const PARAMETER_NAME = /^[A-Za-z0-9_.\-/]{1,2048}$/;

function parameterArn(
  text: string,
  op: Operation,
  member: string,
  ctx: ResourceContext,
): string | ClassifyDeny {
  if (text.startsWith('arn:')) {
    const arn = ownArn(text, op, member, 'ssm', ctx);
    if (isDeny(arn)) return arn;
    if (!/^parameter\/[A-Za-z0-9_.\-/]{1,2048}$/.test(arn.resource)) {
      return deny('malformed_request', `${op.name}: ${member} is not a parameter ARN`);
    }
    return text;
  }
  // GetParameter(s) accept NAME:VERSION and NAME:LABEL selectors; the resource is the parameter.
  const name = op.name === 'GetParameter' || op.name === 'GetParameters' ? text.split(':')[0]! : text;
  if (!PARAMETER_NAME.test(name) || name.replace(/^\//, '') === '') {
    return deny('malformed_request', `${op.name}: ${member} is not a valid parameter name`);
  }
  return `arn:${ctx.partition}:ssm:${ctx.region}:${ctx.accountId}:parameter/${name.replace(/^\//, '')}`;
}

function ssmNeeds(op: Operation, input: InputReader, ctx: ResourceContext): Needs {
  if (op.unscoped) return needsFor(op, 'ssm', '*');
  if (!op.name.includes('Parameter')) {
    return undetermined(op, 'Errand classifies only Parameter Store operations of SSM');
  }
  if (op.members.has('Names')) {
    const m = input.member('Names');
    if (!m.ok) return deny('malformed_request', `${op.name}: ${m.message}`);
    if (!Array.isArray(m.value) || m.value.length === 0 || !m.value.every((v) => typeof v === 'string')) {
      return deny('malformed_request', `${op.name}: Names is not a non-empty list of names`);
    }
    const needs: AwsNeed[] = [];
    for (const n of m.value as string[]) {
      const arn = parameterArn(n, op, 'Names', ctx);
      if (isDeny(arn)) return arn;
      needs.push(...needsFor(op, 'ssm', arn));
    }
    return dedupe(needs);
  }
  const member = op.members.has('Path') ? 'Path' : 'Name';
  const name = stringMember(input, op, member);
  if (isDeny(name)) return name;
  if (name === undefined) return deny('malformed_request', `${op.name}: ${member} is required`);
  const arn = parameterArn(name, op, member, ctx);
  return isDeny(arn) ? arn : needsFor(op, 'ssm', arn);
}

const RESOLVERS: Readonly<
  Record<string, (op: Operation, input: InputReader, ctx: ResourceContext) => Needs>
> = {
  dynamodb: dynamodbNeeds,
  sqs: sqsNeeds,
  sns: snsNeeds,
  kms: kmsNeeds,
  secretsmanager: secretsNeeds,
  ssm: ssmNeeds,
};

/** Needs of a JSON- or query-protocol operation. */
export function resolveServiceNeeds(
  signingName: string,
  op: Operation,
  input: InputReader,
  ctx: ResourceContext,
): Needs {
  const resolver = RESOLVERS[signingName];
  if (!resolver) return undetermined(op, `the ${signingName} service has no resource mapping`);
  return resolver(op, input, ctx);
}

/** An InputReader over a JSON object. */
export function readerOf(obj: JsonObject): InputReader {
  return {
    member(name) {
      const lower = name.toLowerCase();
      for (const k of Object.keys(obj)) {
        if (k !== name && k.toLowerCase() === lower) {
          return { ok: false, message: `the input has "${k.slice(0, 64)}", a differently-cased "${name}"` };
        }
      }
      return { ok: true, value: Object.hasOwn(obj, name) ? obj[name] : undefined };
    },
  };
}
