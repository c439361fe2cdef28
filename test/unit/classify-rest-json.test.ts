// Lambda and Bedrock runtime (restJson1): operation by URI template, resource from labels.

import t from 'tap';
import { classifyAws, detectAwsService } from '../../src/classify/aws.ts';
import { awsRequest, type ClassifyRow, CTX, runClassifyRows } from '../helpers/classify-request.ts';

const classify = (req: Parameters<typeof classifyAws>[0], body: Uint8Array | undefined) =>
  classifyAws(req, CTX, body);
const ACCT = '111122223333';
const FN = `arn:aws:lambda:us-east-1:${ACCT}:function`;

t.test('Lambda', async (t) => {
  const lambda = (method: string, target: string, headers: Record<string, string> = {}) => ({
    method,
    target,
    signedFor: 'lambda',
    headers,
  });
  const rows: ClassifyRow[] = [
    {
      name: 'Invoke is lambda:InvokeFunction',
      req: lambda('POST', '/2015-03-31/functions/summarize/invocations', {
        'x-amz-invocation-type': 'RequestResponse',
        'x-amz-log-type': 'None',
        'content-type': 'application/json',
      }),
      op: 'Invoke',
      needs: [['lambda:InvokeFunction', `${FN}:summarize`]],
      forward: ['content-type', 'x-amz-content-sha256', 'x-amz-invocation-type', 'x-amz-log-type'],
    },
    {
      name: 'Invoke with a Qualifier',
      req: lambda('POST', '/2015-03-31/functions/summarize/invocations?Qualifier=prod'),
      op: 'Invoke',
      needs: [['lambda:InvokeFunction', `${FN}:summarize:prod`]],
    },
    {
      name: 'Invoke by full ARN with a version',
      req: lambda('POST', `/2015-03-31/functions/${encodeURIComponent(`${FN}:summarize:7`)}/invocations`),
      op: 'Invoke',
      needs: [['lambda:InvokeFunction', `${FN}:summarize:7`]],
    },
    {
      name: 'Invoke by partial ARN',
      req: lambda('POST', `/2015-03-31/functions/${ACCT}%3Afunction%3Asummarize/invocations`),
      op: 'Invoke',
      needs: [['lambda:InvokeFunction', `${FN}:summarize`]],
    },
    {
      name: 'Invoke of another account',
      req: lambda('POST', '/2015-03-31/functions/999999999999%3Afunction%3Asummarize/invocations'),
      reason: 'aws_op_not_granted',
      message: /^Invoke: FunctionName names a resource in no region\/999999999999/,
    },
    {
      name: 'Invoke of another region',
      req: lambda(
        'POST',
        `/2015-03-31/functions/${encodeURIComponent(`arn:aws:lambda:eu-west-1:${ACCT}:function:f`)}/invocations`,
      ),
      reason: 'aws_op_not_granted',
      message: /eu-west-1/,
    },
    {
      name: 'qualifiers that disagree',
      req: lambda('POST', '/2015-03-31/functions/summarize%3A1/invocations?Qualifier=2'),
      reason: 'malformed_request',
      message: /disagree$/,
    },
    {
      name: 'an escaped slash stays inside the label',
      req: lambda('POST', '/2015-03-31/functions/a%2Fb/invocations'),
      reason: 'malformed_request',
      message: /not a function name or ARN$/,
    },
    {
      name: 'InvokeWithResponseStream',
      req: lambda('POST', '/2021-11-15/functions/summarize/response-streaming-invocations'),
      op: 'InvokeWithResponseStream',
      needs: [['lambda:InvokeFunction', `${FN}:summarize`]],
    },
    {
      name: 'GetFunction',
      req: lambda('GET', '/2015-03-31/functions/summarize'),
      op: 'GetFunction',
      needs: [['lambda:GetFunction', `${FN}:summarize`]],
    },
    {
      name: 'GetPolicy vs RemovePermission by path length',
      req: lambda('DELETE', '/2015-03-31/functions/summarize/policy/stmt1'),
      op: 'RemovePermission',
      needs: [['lambda:RemovePermission', `${FN}:summarize`]],
    },
    {
      name: 'ListFunctions takes no resource',
      req: lambda('GET', '/2015-03-31/functions?MaxItems=5'),
      op: 'ListFunctions',
      needs: [['lambda:ListFunctions', '*']],
    },
    {
      name: 'ListProvisionedConcurrencyConfigs by its query literal',
      req: lambda('GET', '/2019-09-30/functions/summarize/provisioned-concurrency?List=ALL'),
      op: 'ListProvisionedConcurrencyConfigs',
      needs: [['lambda:ListProvisionedConcurrencyConfigs', `${FN}:summarize`]],
    },
    {
      name: 'GetProvisionedConcurrencyConfig by its required Qualifier',
      req: lambda('GET', '/2019-09-30/functions/summarize/provisioned-concurrency?Qualifier=live'),
      op: 'GetProvisionedConcurrencyConfig',
      needs: [['lambda:GetProvisionedConcurrencyConfig', `${FN}:summarize:live`]],
    },
    {
      name: 'both the literal and the required member: ambiguous',
      req: lambda('GET', '/2019-09-30/functions/summarize/provisioned-concurrency?List=ALL&Qualifier=live'),
      reason: 'aws_op_unknown',
      message: /refused as ambiguous$/,
    },
    {
      name: 'an unknown query key',
      req: lambda('POST', '/2015-03-31/functions/summarize/invocations?Evil=1'),
      reason: 'query_not_allowed',
      message: /^Invoke does not take the query key 'Evil'$/,
    },
    {
      name: 'a repeated query key',
      req: lambda('POST', '/2015-03-31/functions/summarize/invocations?Qualifier=a&Qualifier=b'),
      reason: 'malformed_request',
    },
    {
      name: 'no operation at this path',
      req: lambda('POST', '/2015-03-31/functions/summarize/explode'),
      reason: 'aws_op_unknown',
      message: /^no lambda operation is POST \/2015-03-31\/functions\/summarize\/explode$/,
    },
    {
      name: 'an event source mapping is not mapped',
      req: lambda('GET', '/2015-03-31/event-source-mappings/uuid-1'),
      reason: 'aws_op_unknown',
      message: /^GetEventSourceMapping: Errand cannot determine the resource/,
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('Bedrock runtime', async (t) => {
  const bedrock = (target: string, method = 'POST', headers: Record<string, string> = {}) => ({
    method,
    target,
    signedFor: 'bedrock',
    headers,
  });
  const rows: ClassifyRow[] = [
    {
      name: 'InvokeModel on a foundation model',
      req: bedrock('/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke', 'POST', {
        'content-type': 'application/json',
        accept: 'application/json',
        'x-amzn-bedrock-trace': 'DISABLED',
      }),
      op: 'InvokeModel',
      needs: [
        [
          'bedrock:InvokeModel',
          'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0',
        ],
      ],
      forward: ['accept', 'content-type', 'x-amz-content-sha256', 'x-amzn-bedrock-trace'],
    },
    {
      name: 'Converse is bedrock:InvokeModel',
      req: bedrock('/model/amazon.nova-lite-v1%3A0/converse'),
      op: 'Converse',
      needs: [['bedrock:InvokeModel', 'arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0']],
    },
    {
      name: 'ConverseStream on a system inference profile',
      req: bedrock('/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream'),
      op: 'ConverseStream',
      needs: [
        [
          'bedrock:InvokeModelWithResponseStream',
          `arn:aws:bedrock:us-east-1:${ACCT}:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0`,
        ],
      ],
    },
    {
      name: 'InvokeModel by provisioned model ARN',
      req: bedrock(
        `/model/${encodeURIComponent(`arn:aws:bedrock:us-east-1:${ACCT}:provisioned-model/abc`)}/invoke`,
      ),
      op: 'InvokeModel',
      needs: [['bedrock:InvokeModel', `arn:aws:bedrock:us-east-1:${ACCT}:provisioned-model/abc`]],
    },
    {
      name: 'a foundation model ARN of another region',
      req: bedrock(`/model/${encodeURIComponent('arn:aws:bedrock:us-west-2::foundation-model/m')}/invoke`),
      reason: 'aws_op_not_granted',
      message: /us-west-2/,
    },
    {
      name: 'a model ARN of another account',
      req: bedrock(
        `/model/${encodeURIComponent('arn:aws:bedrock:us-east-1:999999999999:provisioned-model/x')}/invoke`,
      ),
      reason: 'aws_op_not_granted',
    },
    {
      name: 'not a Bedrock ARN',
      req: bedrock(`/model/${encodeURIComponent('arn:aws:s3:::b')}/invoke`),
      reason: 'malformed_request',
      message: /not a Bedrock ARN$/,
    },
    {
      name: 'a bad model id',
      req: bedrock('/model/a%20b/invoke'),
      reason: 'malformed_request',
      message: /modelId is not a model id$/,
    },
    {
      name: 'ApplyGuardrail',
      req: bedrock('/guardrail/gr1abc/version/1/apply'),
      op: 'ApplyGuardrail',
      needs: [['bedrock:ApplyGuardrail', `arn:aws:bedrock:us-east-1:${ACCT}:guardrail/gr1abc`]],
    },
    {
      name: 'ApplyGuardrail by ARN',
      req: bedrock(
        `/guardrail/${encodeURIComponent(`arn:aws:bedrock:us-east-1:${ACCT}:guardrail/gr1abc`)}/version/1/apply`,
      ),
      op: 'ApplyGuardrail',
      needs: [['bedrock:ApplyGuardrail', `arn:aws:bedrock:us-east-1:${ACCT}:guardrail/gr1abc`]],
    },
    {
      name: 'a bad guardrail id',
      req: bedrock('/guardrail/GR-1/version/1/apply'),
      reason: 'malformed_request',
      message: /guardrailIdentifier/,
    },
    {
      name: 'GetAsyncInvoke',
      req: bedrock(
        `/async-invoke/${encodeURIComponent(`arn:aws:bedrock:us-east-1:${ACCT}:async-invoke/abc`)}`,
        'GET',
      ),
      op: 'GetAsyncInvoke',
      needs: [['bedrock:GetAsyncInvoke', `arn:aws:bedrock:us-east-1:${ACCT}:async-invoke/abc`]],
    },
    {
      name: 'ListAsyncInvokes',
      req: bedrock('/async-invoke?maxResults=5', 'GET'),
      op: 'ListAsyncInvokes',
      needs: [['bedrock:ListAsyncInvokes', '*']],
    },
    {
      name: 'StartAsyncInvoke names its model in the body',
      req: bedrock('/async-invoke'),
      reason: 'aws_op_unknown',
      message:
        /^StartAsyncInvoke: Errand cannot determine the resource \(the model is named in the request body\)/,
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('unsigned REST requests: Lambda and Bedrock by path shape, otherwise S3', async (t) => {
  const rows: [string, string, string][] = [
    ['POST', '/2015-03-31/functions/f/invocations', 'lambda'],
    ['POST', '/model/m/invoke', 'bedrock'],
    ['GET', '/amzn-s3-demo-bucket/k', 's3'],
    ['GET', '/2015-03-31', 's3'],
  ];
  for (const [method, target, service] of rows) {
    const d = detectAwsService(awsRequest({ method, target, signedFor: false }));
    t.same(d, { ok: true, service }, `${method} ${target}`);
  }
  t.test('a bucket named like a Lambda date is S3 when signed for S3', async (t) => {
    const c = classifyAws(awsRequest({ target: '/2015-03-31/functions/f/invocations' }), CTX, undefined);
    t.same(c.ok && c.intent.needs, [
      { action: 's3:GetObject', resource: 'arn:aws:s3:::2015-03-31/functions/f/invocations' },
    ]);
  });
});
