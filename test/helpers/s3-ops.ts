import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AwsTarget,
  awsClientEnv,
  type ClientName,
  type ClientResult,
  encodeS3Key,
  type RunResult,
  runAwsCli,
  runBoto3,
  runCurl,
  runNode,
} from './real-clients.ts';

// S3 operations through each unmodified real client, one result shape: the proxy tests run the same
// recipe with every client and assert what the user would see.

export type S3Op =
  | { op: 'getObject'; Bucket: string; Key: string }
  | { op: 'deleteObject'; Bucket: string; Key: string }
  | { op: 'putObject'; Bucket: string; Key: string; Body: string; ACL?: string }
  | { op: 'copyObject'; Bucket: string; Key: string; CopySource: string };

const AWS_ERROR_EXIT = 3;

const BOTO3 = `
import sys, json, boto3, botocore.exceptions
op, params = sys.argv[1], json.loads(sys.argv[2])
method = {'getObject': 'get_object', 'deleteObject': 'delete_object', 'putObject': 'put_object', 'copyObject': 'copy_object'}[op]
try:
    r = getattr(boto3.client('s3'), method)(**params)
except botocore.exceptions.ClientError as e:
    sys.stderr.write('AWS_ERROR %s %s\\n' % (e.response['Error']['Code'], e.response['Error'].get('Message', '')))
    sys.exit(${AWS_ERROR_EXIT})
if op == 'getObject':
    sys.stdout.buffer.write(r['Body'].read())
`;

const SDK = `
import * as s3 from '@aws-sdk/client-s3';
const [op, params] = [process.argv[1], JSON.parse(process.argv[2])];
const Command = s3[op[0].toUpperCase() + op.slice(1) + 'Command'];
try {
  const r = await new s3.S3Client({}).send(new Command(params));
  if (op === 'getObject') process.stdout.write(await r.Body.transformToByteArray());
} catch (error) {
  if (!error.$metadata) throw error;
  process.stderr.write('AWS_ERROR ' + error.name + ' ' + error.message + '\\n');
  process.exitCode = ${AWS_ERROR_EXIT};
}
`;

function errorOf(client: ClientName, run: RunResult): { code: string | undefined; message: string } {
  if (client === 'aws-cli') {
    const m = /An error occurred \(([^)]+)\)[^:]*: (.*)/.exec(run.stderr);
    return { code: m?.[1], message: m?.[2] ?? run.stderr };
  }
  if (client === 'curl')
    return {
      code: /<Code>([^<]+)<\/Code>/.exec(run.stdout)?.[1],
      message: /<Message>([^<]*)<\/Message>/.exec(run.stdout)?.[1] ?? run.stdout,
    };
  const m = /^AWS_ERROR (\S+) ?(.*)$/m.exec(run.stderr);
  return { code: m?.[1], message: m?.[2] ?? run.stderr };
}

export interface OpResult extends ClientResult {
  readonly message: string;
}

export async function s3Op(client: ClientName, target: AwsTarget, op: S3Op): Promise<OpResult> {
  const env = { ...awsClientEnv(target), ...target.env };
  const dir = await mkdtemp(join(tmpdir(), 'errand-op-'));
  try {
    let run: RunResult;
    let body: Buffer = Buffer.alloc(0);
    const { op: name, ...params } = op;
    if (client === 'boto3') run = await runBoto3(BOTO3, { env, args: [name, JSON.stringify(params)] });
    else if (client === 'sdk-v3') run = await runNode(SDK, { env, args: [name, JSON.stringify(params)] });
    else if (client === 'aws-cli') {
      const args = ['s3api'];
      if (op.op === 'getObject')
        args.push('get-object', '--bucket', op.Bucket, '--key', op.Key, join(dir, 'out'));
      if (op.op === 'deleteObject') args.push('delete-object', '--bucket', op.Bucket, '--key', op.Key);
      if (op.op === 'putObject') {
        await writeFile(join(dir, 'in'), op.Body);
        args.push(
          'put-object',
          '--bucket',
          op.Bucket,
          '--key',
          op.Key,
          '--body',
          join(dir, 'in'),
          ...(op.ACL ? ['--acl', op.ACL] : []),
        );
      }
      if (op.op === 'copyObject')
        args.push('copy-object', '--bucket', op.Bucket, '--key', op.Key, '--copy-source', op.CopySource);
      run = await runAwsCli(args, { env, endpointUrl: target.endpoint });
      if (op.op === 'getObject' && run.code === 0) body = await readFile(join(dir, 'out'));
    } else {
      const c = target.credentials;
      const auth = [
        '--fail-with-body',
        '--path-as-is',
        '--aws-sigv4',
        `aws:amz:${target.region}:s3`,
        '--user',
        `${c.accessKeyId}:${c.secretAccessKey}`,
        '-H',
        'x-amz-content-sha256: UNSIGNED-PAYLOAD',
      ];
      const url = `${target.endpoint}/${op.Bucket}/${encodeS3Key(op.Key)}`;
      const extra: string[] = [];
      if (op.op === 'deleteObject') extra.push('-X', 'DELETE');
      if (op.op === 'putObject')
        extra.push(
          '-X',
          'PUT',
          '-H',
          'content-type: text/plain',
          '--data-binary',
          op.Body,
          ...(op.ACL ? ['-H', `x-amz-acl: ${op.ACL}`] : []),
        );
      if (op.op === 'copyObject') extra.push('-X', 'PUT', '-H', `x-amz-copy-source: ${op.CopySource}`);
      run = await runCurl([...auth, ...extra, '-o', '-', url], { env });
    }
    if (client !== 'aws-cli' && op.op === 'getObject' && run.code === 0) body = run.stdoutBytes;
    const ok = run.code === 0 && !run.timedOut;
    const err = ok ? { code: undefined, message: '' } : errorOf(client, run);
    return { ok, body, errorCode: err.code, message: err.message, run };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
