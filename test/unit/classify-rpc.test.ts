// JSON-protocol (DynamoDB, SQS, KMS, Secrets Manager, SSM) and query-protocol (SNS, STS, legacy
// SQS) classification tables: operation from X-Amz-Target or Action=, resource from the body.

import t from 'tap';
import { classifyAws } from '../../src/classify/aws.ts';
import { type ClassifyRow, CTX, type RequestSpec, runClassifyRows } from '../helpers/classify-request.ts';

const classify = (req: Parameters<typeof classifyAws>[0], body: Uint8Array | undefined) =>
  classifyAws(req, CTX, body);
const ACCT = '111122223333';

const json = (service: string, target: string, contentType = 'application/x-amz-json-1.0'): RequestSpec => ({
  method: 'POST',
  target: '/',
  signedFor: service,
  headers: { 'x-amz-target': target, 'content-type': contentType },
});
const ddb = (op: string) => json('dynamodb', `DynamoDB_20120810.${op}`);
const TABLE = `arn:aws:dynamodb:us-east-1:${ACCT}:table`;

t.test('DynamoDB: single-item, query and scan', async (t) => {
  const rows: ClassifyRow[] = [
    {
      name: 'GetItem',
      req: ddb('GetItem'),
      body: '{"TableName":"Orders","Key":{"id":{"S":"1"}}}',
      op: 'GetItem',
      needs: [['dynamodb:GetItem', `${TABLE}/Orders`]],
      forward: ['content-type', 'x-amz-content-sha256', 'x-amz-target'],
    },
    {
      name: 'PutItem',
      req: ddb('PutItem'),
      body: '{"TableName":"Orders","Item":{}}',
      op: 'PutItem',
      needs: [['dynamodb:PutItem', `${TABLE}/Orders`]],
    },
    {
      name: 'TableName as an ARN of this account and region',
      req: ddb('UpdateItem'),
      body: `{"TableName":"${TABLE}/Orders","Key":{}}`,
      op: 'UpdateItem',
      needs: [['dynamodb:UpdateItem', `${TABLE}/Orders`]],
    },
    {
      name: 'TableName as an ARN of another account',
      req: ddb('GetItem'),
      body: '{"TableName":"arn:aws:dynamodb:us-east-1:999999999999:table/Orders","Key":{}}',
      reason: 'aws_op_not_granted',
      message:
        /^GetItem: TableName names a resource in us-east-1\/999999999999; this task works only in us-east-1\/111122223333$/,
    },
    {
      name: 'TableName as an ARN of another region',
      req: ddb('GetItem'),
      body: `{"TableName":"arn:aws:dynamodb:eu-west-1:${ACCT}:table/Orders","Key":{}}`,
      reason: 'aws_op_not_granted',
      message: /eu-west-1/,
    },
    {
      name: 'TableName as an index ARN is not a table',
      req: ddb('GetItem'),
      body: `{"TableName":"${TABLE}/Orders/index/i","Key":{}}`,
      reason: 'malformed_request',
      message: /is not a table ARN$/,
    },
    {
      name: 'Query without index',
      req: ddb('Query'),
      body: '{"TableName":"Orders"}',
      op: 'Query',
      needs: [['dynamodb:Query', `${TABLE}/Orders`]],
    },
    {
      name: 'Query on an index',
      req: ddb('Query'),
      body: '{"TableName":"Orders","IndexName":"byCustomer","KeyConditionExpression":"c = :c"}',
      op: 'Query',
      needs: [['dynamodb:Query', `${TABLE}/Orders/index/byCustomer`]],
    },
    {
      name: 'Scan on an index',
      req: ddb('Scan'),
      body: '{"TableName":"Orders","IndexName":"byDate"}',
      op: 'Scan',
      needs: [['dynamodb:Scan', `${TABLE}/Orders/index/byDate`]],
    },
    {
      name: 'an invalid index name',
      req: ddb('Scan'),
      body: '{"TableName":"Orders","IndexName":"a/b"}',
      reason: 'malformed_request',
      message: /IndexName/,
    },
    {
      name: 'an invalid table name',
      req: ddb('GetItem'),
      body: '{"TableName":"x"}',
      reason: 'malformed_request',
      message: /not a valid table name$/,
    },
    {
      name: 'TableName missing',
      req: ddb('GetItem'),
      body: '{"Key":{}}',
      reason: 'malformed_request',
      message: /^GetItem: TableName is required$/,
    },
    {
      name: 'TableName not a string',
      req: ddb('GetItem'),
      body: '{"TableName":7}',
      reason: 'malformed_request',
      message: /not a non-empty string$/,
    },
    {
      name: 'ListTables takes no resource',
      req: ddb('ListTables'),
      body: '{}',
      op: 'ListTables',
      needs: [['dynamodb:ListTables', '*']],
    },
    {
      name: 'DescribeBackup by ARN',
      req: ddb('DescribeBackup'),
      body: `{"BackupArn":"${TABLE}/Orders/backup/0160"}`,
      op: 'DescribeBackup',
      needs: [['dynamodb:DescribeBackup', `${TABLE}/Orders/backup/0160`]],
    },
    {
      name: 'TagResource by ARN',
      req: ddb('TagResource'),
      body: `{"ResourceArn":"${TABLE}/Orders","Tags":[]}`,
      op: 'TagResource',
      needs: [['dynamodb:TagResource', `${TABLE}/Orders`]],
    },
    {
      name: 'a global table cannot be pinned to one resource',
      req: ddb('DescribeGlobalTable'),
      body: '{"GlobalTableName":"Orders"}',
      reason: 'aws_op_unknown',
      message: /^DescribeGlobalTable: Errand cannot determine the resource \(it names GlobalTableName\)/,
    },
    {
      name: 'a restore names two tables',
      req: ddb('RestoreTableToPointInTime'),
      body: '{"SourceTableName":"a1a","TargetTableName":"b1b"}',
      reason: 'aws_op_unknown',
      message: /it names SourceTableArn and SourceTableName and TargetTableName/,
    },
    {
      name: 'ExportTableToPointInTime without TableArn',
      req: ddb('ListExports'),
      body: '{}',
      reason: 'aws_op_unknown',
      message: /TableArn is absent/,
    },
    {
      name: 'ImportTable names its table in a nested member',
      req: ddb('ImportTable'),
      body: '{}',
      reason: 'aws_op_unknown',
      message: /no input member names a table/,
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('DynamoDB: batches and transactions need every table they touch', async (t) => {
  const rows: ClassifyRow[] = [
    {
      name: 'BatchGetItem',
      req: ddb('BatchGetItem'),
      body: '{"RequestItems":{"Orders":{"Keys":[]},"Customers":{"Keys":[]}}}',
      op: 'BatchGetItem',
      needs: [
        ['dynamodb:BatchGetItem', `${TABLE}/Orders`],
        ['dynamodb:BatchGetItem', `${TABLE}/Customers`],
      ],
    },
    {
      name: 'BatchWriteItem with a table ARN key',
      req: ddb('BatchWriteItem'),
      body: `{"RequestItems":{"${TABLE}/Orders":[],"Orders":[]}}`,
      op: 'BatchWriteItem',
      needs: [['dynamodb:BatchWriteItem', `${TABLE}/Orders`]],
    },
    {
      name: 'BatchWriteItem with no tables',
      req: ddb('BatchWriteItem'),
      body: '{"RequestItems":{}}',
      reason: 'malformed_request',
      message: /non-empty map/,
    },
    {
      name: 'TransactGetItems: GetItem per item',
      req: ddb('TransactGetItems'),
      body: '{"TransactItems":[{"Get":{"TableName":"Orders","Key":{}}},{"Get":{"TableName":"Customers","Key":{}}}]}',
      op: 'TransactGetItems',
      needs: [
        ['dynamodb:GetItem', `${TABLE}/Orders`],
        ['dynamodb:GetItem', `${TABLE}/Customers`],
      ],
    },
    {
      name: 'TransactWriteItems: the item action per item',
      req: ddb('TransactWriteItems'),
      body: JSON.stringify({
        TransactItems: [
          { Put: { TableName: 'Orders', Item: {} } },
          { Update: { TableName: 'Orders', Key: {} } },
          { Delete: { TableName: 'Carts', Key: {} } },
          { ConditionCheck: { TableName: 'Customers', Key: {}, ConditionExpression: 'x' } },
        ],
      }),
      op: 'TransactWriteItems',
      needs: [
        ['dynamodb:PutItem', `${TABLE}/Orders`],
        ['dynamodb:UpdateItem', `${TABLE}/Orders`],
        ['dynamodb:DeleteItem', `${TABLE}/Carts`],
        ['dynamodb:ConditionCheckItem', `${TABLE}/Customers`],
      ],
    },
    {
      name: 'a transact item with two actions',
      req: ddb('TransactWriteItems'),
      body: '{"TransactItems":[{"Put":{"TableName":"Orders"},"Delete":{"TableName":"Carts"}}]}',
      reason: 'malformed_request',
      message: /exactly one of Put, Update, Delete, ConditionCheck$/,
    },
    {
      name: 'a Get inside TransactWriteItems',
      req: ddb('TransactWriteItems'),
      body: '{"TransactItems":[{"Get":{"TableName":"Orders"}}]}',
      reason: 'malformed_request',
      message: /exactly one of/,
    },
    {
      name: 'a transact item without a table',
      req: ddb('TransactGetItems'),
      body: '{"TransactItems":[{"Get":{"Key":{}}}]}',
      reason: 'malformed_request',
      message: /a Get entry has no TableName$/,
    },
    {
      name: 'empty TransactItems',
      req: ddb('TransactGetItems'),
      body: '{"TransactItems":[]}',
      reason: 'malformed_request',
      message: /non-empty list/,
    },
    {
      name: 'a differently-cased table name inside an item',
      req: ddb('TransactGetItems'),
      body: '{"TransactItems":[{"Get":{"TableName":"Orders","tablename":"Secrets"}}]}',
      reason: 'malformed_request',
      message: /differently-cased "TableName"/,
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('DynamoDB: PartiQL and parser differentials are refused', async (t) => {
  const rows: ClassifyRow[] = [
    {
      name: 'ExecuteStatement',
      req: ddb('ExecuteStatement'),
      body: '{"Statement":"SELECT * FROM Orders"}',
      reason: 'aws_op_unknown',
      message:
        /^ExecuteStatement runs PartiQL, whose statement text names the table and the action; Errand cannot classify it safely/,
    },
    {
      name: 'BatchExecuteStatement',
      req: ddb('BatchExecuteStatement'),
      body: '{"Statements":[]}',
      reason: 'aws_op_unknown',
      message: /PartiQL/,
    },
    {
      name: 'ExecuteTransaction',
      req: ddb('ExecuteTransaction'),
      body: '{"TransactStatements":[]}',
      reason: 'aws_op_unknown',
      message: /PartiQL/,
    },
    {
      name: 'a duplicate member name (JSON.parse keeps the last, others the first)',
      req: ddb('GetItem'),
      body: '{"TableName":"Public","TableName":"Secrets","Key":{}}',
      reason: 'malformed_request',
      message: /^GetItem: the member name "TableName" appears twice in one object$/,
    },
    {
      name: 'a duplicate spelled with an escape',
      req: ddb('GetItem'),
      body: '{"TableName":"Public","T\\u0061bleName":"Secrets"}',
      reason: 'malformed_request',
      message: /appears twice/,
    },
    {
      name: 'a duplicate deep inside is refused too',
      req: ddb('PutItem'),
      body: '{"TableName":"Orders","Item":{"a":{"S":"1","S":"2"}}}',
      reason: 'malformed_request',
      message: /"S" appears twice/,
    },
    {
      name: 'a differently-cased twin',
      req: ddb('GetItem'),
      body: '{"TableName":"Public","tableName":"Secrets"}',
      reason: 'malformed_request',
      message: /differently-cased "TableName"/,
    },
    {
      name: 'not JSON',
      req: ddb('GetItem'),
      body: '{TableName:"x"}',
      reason: 'malformed_request',
      message: /not well-formed JSON$/,
    },
    {
      name: 'not an object',
      req: ddb('GetItem'),
      body: '["TableName"]',
      reason: 'malformed_request',
      message: /not a JSON object$/,
    },
    {
      name: 'a byte-order mark',
      req: ddb('GetItem'),
      body: '\uFEFF{"TableName":"Orders"}',
      reason: 'malformed_request',
      message: /byte-order mark/,
    },
    {
      name: 'invalid UTF-8',
      req: ddb('GetItem'),
      body: new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]),
      reason: 'malformed_request',
      message: /not valid UTF-8/,
    },
    {
      name: 'nesting beyond the bound',
      req: ddb('PutItem'),
      body: `{"TableName":"Orders","Item":${'['.repeat(200)}${']'.repeat(200)}}`,
      reason: 'malformed_request',
      message: /nests deeper than 128 levels/,
    },
    {
      name: 'no body',
      req: ddb('GetItem'),
      reason: 'malformed_request',
      message: /^GetItem needs its request body$/,
    },
    {
      name: 'an unknown target',
      req: ddb('GetEverything'),
      body: '{}',
      reason: 'aws_op_unknown',
      message: /^X-Amz-Target 'DynamoDB_20120810.GetEverything' is not a dynamodb operation$/,
    },
    {
      name: 'an unknown target prefix',
      req: json('dynamodb', 'DynamoDB_20991231.GetItem'),
      body: '{}',
      reason: 'aws_op_unknown',
      message: /names no service Errand knows$/,
    },
    {
      name: 'a query string',
      req: { ...ddb('GetItem'), target: '/?TableName=Secrets' },
      body: '{"TableName":"Orders"}',
      reason: 'query_not_allowed',
      message: /take no query string$/,
    },
    {
      name: 'another path',
      req: { ...ddb('GetItem'), target: '/x' },
      body: '{"TableName":"Orders"}',
      reason: 'aws_op_unknown',
      message: /go to the path \//,
    },
    { name: 'GET', req: { ...ddb('GetItem'), method: 'GET' }, reason: 'aws_op_unknown', message: /are POST/ },
    {
      name: 'a routing header',
      req: { ...ddb('GetItem'), headers: { ...ddb('GetItem').headers, 'x-forwarded-for': '127.0.0.1' } },
      body: '{"TableName":"Orders"}',
      reason: 'header_not_allowed',
      message: /x-forwarded-for/,
    },
    {
      name: 'a body over the bound',
      req: ddb('PutItem'),
      body: new Uint8Array(16 * 1024 * 1024 + 1),
      reason: 'body_too_large',
    },
  ];
  runClassifyRows(t, rows, classify);
});

const sqs = (op: string) => json('sqs', `AmazonSQS.${op}`);
const QURL = `https://sqs.us-east-1.amazonaws.com/${ACCT}/jobs`;
const QARN = `arn:aws:sqs:us-east-1:${ACCT}:jobs`;

t.test('SQS (JSON protocol and legacy query)', async (t) => {
  const form = (path = '/'): RequestSpec => ({
    method: 'POST',
    target: path,
    signedFor: 'sqs',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const rows: ClassifyRow[] = [
    {
      name: 'SendMessage',
      req: { ...sqs('SendMessage'), headers: { ...sqs('SendMessage').headers, 'x-amzn-query-mode': 'true' } },
      body: `{"QueueUrl":"${QURL}","MessageBody":"hi"}`,
      op: 'SendMessage',
      needs: [['sqs:SendMessage', QARN]],
      forward: ['content-type', 'x-amz-content-sha256', 'x-amz-target', 'x-amzn-query-mode'],
    },
    {
      name: 'SendMessageBatch is sqs:SendMessage',
      req: sqs('SendMessageBatch'),
      body: `{"QueueUrl":"${QURL}","Entries":[]}`,
      op: 'SendMessageBatch',
      needs: [['sqs:SendMessage', QARN]],
    },
    {
      name: 'a queue URL on a local or emulator host',
      req: sqs('ReceiveMessage'),
      body: `{"QueueUrl":"http://localhost:5000/${ACCT}/jobs.fifo"}`,
      op: 'ReceiveMessage',
      needs: [['sqs:ReceiveMessage', `arn:aws:sqs:us-east-1:${ACCT}:jobs.fifo`]],
    },
    {
      name: 'a queue URL of another account',
      req: sqs('SendMessage'),
      body: '{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/999999999999/jobs","MessageBody":"x"}',
      reason: 'aws_op_not_granted',
      message:
        /^SendMessage: QueueUrl names account 999999999999; this task works only in account 111122223333$/,
    },
    {
      name: 'a queue URL of another region',
      req: sqs('SendMessage'),
      body: `{"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/${ACCT}/jobs","MessageBody":"x"}`,
      reason: 'aws_op_not_granted',
      message: /QueueUrl names region eu-west-1/,
    },
    {
      name: 'a legacy queue host of another region',
      req: sqs('DeleteQueue'),
      body: `{"QueueUrl":"https://eu-west-1.queue.amazonaws.com/${ACCT}/jobs"}`,
      reason: 'aws_op_not_granted',
    },
    {
      name: 'a queue URL with dot segments',
      req: sqs('SendMessage'),
      body: `{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/${ACCT}/../999999999999/jobs","MessageBody":"x"}`,
      reason: 'malformed_request',
      message: /QueueUrl is not https:\/\/host\/ACCOUNT\/QUEUE/,
    },
    {
      name: 'CreateQueue by name',
      req: sqs('CreateQueue'),
      body: '{"QueueName":"jobs"}',
      op: 'CreateQueue',
      needs: [['sqs:CreateQueue', QARN]],
    },
    {
      name: 'GetQueueUrl of another owner',
      req: sqs('GetQueueUrl'),
      body: '{"QueueName":"jobs","QueueOwnerAWSAccountId":"999999999999"}',
      reason: 'aws_op_not_granted',
      message: /queue owner 999999999999/,
    },
    {
      name: 'GetQueueUrl of this account',
      req: sqs('GetQueueUrl'),
      body: `{"QueueName":"jobs","QueueOwnerAWSAccountId":"${ACCT}"}`,
      op: 'GetQueueUrl',
      needs: [['sqs:GetQueueUrl', QARN]],
    },
    {
      name: 'ListQueues',
      req: sqs('ListQueues'),
      body: '{}',
      op: 'ListQueues',
      needs: [['sqs:ListQueues', '*']],
    },
    {
      name: 'a message move task cannot be pinned',
      req: sqs('ListMessageMoveTasks'),
      body: '{"SourceArn":"arn:aws:sqs:us-east-1:111122223333:dlq"}',
      reason: 'aws_op_unknown',
      message: /it names SourceArn/,
    },
    {
      name: 'legacy query protocol',
      req: form(),
      body: `Action=SendMessage&Version=2012-11-05&QueueUrl=${encodeURIComponent(QURL)}&MessageBody=hello+world`,
      op: 'SendMessage',
      needs: [['sqs:SendMessage', QARN]],
    },
    {
      name: 'legacy query protocol, queue in the path',
      req: form(`/${ACCT}/jobs`),
      body: 'Action=DeleteMessage&Version=2012-11-05&ReceiptHandle=r',
      op: 'DeleteMessage',
      needs: [['sqs:DeleteMessage', QARN]],
    },
    {
      name: 'queue in the path and in the form',
      req: form(`/${ACCT}/jobs`),
      body: `Action=DeleteMessage&Version=2012-11-05&QueueUrl=${encodeURIComponent(QURL)}`,
      reason: 'malformed_request',
      message: /either by the path or by QueueUrl, not both$/,
    },
    {
      name: 'legacy SigV2 auth in the form',
      req: form(),
      body: 'Action=ListQueues&Version=2012-11-05&AWSAccessKeyId=AKIA&SignatureVersion=2&Signature=x',
      reason: 'auth_material_from_agent',
      message: /^the form body carries the auth parameter AWSAccessKeyId/,
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('SNS (query protocol)', async (t) => {
  const sns = (): ClassifyRow['req'] => ({
    method: 'POST',
    target: '/',
    signedFor: 'sns',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
  });
  const TOPIC = `arn:aws:sns:us-east-1:${ACCT}:alerts`;
  const enc = encodeURIComponent;
  const rows: ClassifyRow[] = [
    {
      name: 'Publish to a topic',
      req: sns(),
      body: `Action=Publish&Version=2010-03-31&TopicArn=${enc(TOPIC)}&Message=hi`,
      op: 'Publish',
      needs: [['sns:Publish', TOPIC]],
      forward: ['content-type', 'x-amz-content-sha256'],
    },
    {
      name: 'PublishBatch is sns:Publish',
      req: sns(),
      body: `Action=PublishBatch&Version=2010-03-31&TopicArn=${enc(TOPIC)}`,
      op: 'PublishBatch',
      needs: [['sns:Publish', TOPIC]],
    },
    {
      name: 'Publish to a phone number has no resource',
      req: sns(),
      body: 'Action=Publish&Version=2010-03-31&PhoneNumber=%2B15555550100&Message=hi',
      reason: 'aws_op_unknown',
      message: /the input names PhoneNumber; Errand needs exactly one of TopicArn, TargetArn, ResourceArn/,
    },
    {
      name: 'Publish naming two targets',
      req: sns(),
      body: `Action=Publish&Version=2010-03-31&TopicArn=${enc(TOPIC)}&TargetArn=${enc(TOPIC)}`,
      reason: 'aws_op_unknown',
      message: /TopicArn and TargetArn/,
    },
    {
      name: 'CreateTopic by name',
      req: sns(),
      body: 'Action=CreateTopic&Version=2010-03-31&Name=alerts',
      op: 'CreateTopic',
      needs: [['sns:CreateTopic', TOPIC]],
    },
    {
      name: 'ListTopics',
      req: sns(),
      body: 'Action=ListTopics&Version=2010-03-31',
      op: 'ListTopics',
      needs: [['sns:ListTopics', '*']],
    },
    {
      name: 'a topic of another account',
      req: sns(),
      body: `Action=Publish&Version=2010-03-31&TopicArn=${enc('arn:aws:sns:us-east-1:999999999999:alerts')}`,
      reason: 'aws_op_not_granted',
    },
    {
      name: 'Unsubscribe names only a subscription',
      req: sns(),
      body: `Action=Unsubscribe&Version=2010-03-31&SubscriptionArn=${enc(`${TOPIC}:1234`)}`,
      reason: 'aws_op_unknown',
    },
    {
      name: 'a wrong Version',
      req: sns(),
      body: 'Action=Publish&Version=2012-11-05',
      reason: 'aws_op_unknown',
      message: /is not sns's API version 2010-03-31$/,
    },
    {
      name: 'no Action',
      req: sns(),
      body: 'Version=2010-03-31',
      reason: 'aws_op_unknown',
      message: /^the form has no Action$/,
    },
    {
      name: 'an unknown Action',
      req: sns(),
      body: 'Action=Explode&Version=2010-03-31',
      reason: 'aws_op_unknown',
      message: /^Action 'Explode' is not a sns operation$/,
    },
    {
      name: 'a repeated parameter',
      req: sns(),
      body: `Action=Publish&Version=2010-03-31&TopicArn=a&TopicArn=${enc(TOPIC)}`,
      reason: 'malformed_request',
      message: /TopicArn appears twice/,
    },
    {
      name: 'a lower-case action twin',
      req: sns(),
      body: 'Action=ListTopics&action=DeleteTopic&Version=2010-03-31',
      reason: 'malformed_request',
      message: /differently-cased "Action"/,
    },
    {
      name: 'a bad escape',
      req: sns(),
      body: 'Action=Publish%zz&Version=2010-03-31',
      reason: 'malformed_request',
      message: /invalid percent-escape/,
    },
    { name: 'no body', req: sns(), reason: 'malformed_request', message: /need their form body/ },
    {
      name: 'a query string',
      req: { ...sns(), target: '/?Action=DeleteTopic' },
      body: 'Action=ListTopics&Version=2010-03-31',
      reason: 'query_not_allowed',
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('KMS, Secrets Manager and SSM Parameter Store', async (t) => {
  const kms = (op: string) => json('kms', `TrentService.${op}`, 'application/x-amz-json-1.1');
  const sm = (op: string) => json('secretsmanager', `secretsmanager.${op}`, 'application/x-amz-json-1.1');
  const ssm = (op: string) => json('ssm', `AmazonSSM.${op}`, 'application/x-amz-json-1.1');
  const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
  const KEY_ARN = `arn:aws:kms:us-east-1:${ACCT}:key/${KEY}`;
  const SECRET = `arn:aws:secretsmanager:us-east-1:${ACCT}:secret:prod/db-AbCdEf`;
  const PARAM = `arn:aws:ssm:us-east-1:${ACCT}:parameter`;
  const rows: ClassifyRow[] = [
    {
      name: 'KMS Encrypt by key id',
      req: kms('Encrypt'),
      body: `{"KeyId":"${KEY}","Plaintext":"aGk="}`,
      op: 'Encrypt',
      needs: [['kms:Encrypt', KEY_ARN]],
    },
    {
      name: 'KMS Decrypt by key ARN',
      req: kms('Decrypt'),
      body: `{"KeyId":"${KEY_ARN}","CiphertextBlob":"eA=="}`,
      op: 'Decrypt',
      needs: [['kms:Decrypt', KEY_ARN]],
    },
    {
      name: 'KMS multi-region key id',
      req: kms('Sign'),
      body: '{"KeyId":"mrk-1234abcd12ab34cd56ef1234567890ab"}',
      op: 'Sign',
      needs: [['kms:Sign', `arn:aws:kms:us-east-1:${ACCT}:key/mrk-1234abcd12ab34cd56ef1234567890ab`]],
    },
    {
      name: 'KMS Decrypt without KeyId',
      req: kms('Decrypt'),
      body: '{"CiphertextBlob":"eA=="}',
      reason: 'aws_op_unknown',
      message: /KeyId is absent; name the key/,
    },
    {
      name: 'KMS by alias',
      req: kms('Encrypt'),
      body: '{"KeyId":"alias/app"}',
      reason: 'aws_op_unknown',
      message: /is an alias; name the key by its id or ARN/,
    },
    {
      name: 'KMS by alias ARN',
      req: kms('Encrypt'),
      body: `{"KeyId":"arn:aws:kms:us-east-1:${ACCT}:alias/app"}`,
      reason: 'aws_op_unknown',
      message: /is an alias/,
    },
    {
      name: 'KMS key of another account',
      req: kms('Encrypt'),
      body: `{"KeyId":"arn:aws:kms:us-east-1:999999999999:key/${KEY}"}`,
      reason: 'aws_op_not_granted',
    },
    {
      name: 'KMS junk key id',
      req: kms('Encrypt'),
      body: '{"KeyId":"../../x"}',
      reason: 'malformed_request',
      message: /not a key id, key ARN or alias$/,
    },
    {
      name: 'KMS ReEncrypt needs both keys',
      req: kms('ReEncrypt'),
      body: `{"SourceKeyId":"${KEY}","DestinationKeyId":"${KEY_ARN.replace('1234567890ab', '1234567890ac')}"}`,
      op: 'ReEncrypt',
      needs: [
        ['kms:ReEncryptFrom', KEY_ARN],
        ['kms:ReEncryptTo', KEY_ARN.replace('1234567890ab', '1234567890ac')],
      ],
    },
    {
      name: 'KMS ReEncrypt without its source',
      req: kms('ReEncrypt'),
      body: `{"DestinationKeyId":"${KEY}"}`,
      reason: 'aws_op_unknown',
      message: /SourceKeyId is absent/,
    },
    {
      name: 'KMS GenerateRandom takes no resource',
      req: kms('GenerateRandom'),
      body: '{"NumberOfBytes":8}',
      op: 'GenerateRandom',
      needs: [['kms:GenerateRandom', '*']],
    },
    {
      name: 'KMS CreateAlias names two resources',
      req: kms('CreateAlias'),
      body: '{"AliasName":"alias/a","TargetKeyId":"k"}',
      reason: 'aws_op_unknown',
    },
    {
      name: 'GetSecretValue by full ARN',
      req: sm('GetSecretValue'),
      body: `{"SecretId":"${SECRET}"}`,
      op: 'GetSecretValue',
      needs: [['secretsmanager:GetSecretValue', SECRET]],
    },
    {
      name: 'GetSecretValue by name cannot be pinned',
      req: sm('GetSecretValue'),
      body: '{"SecretId":"prod/db"}',
      reason: 'aws_op_unknown',
      message: /SecretId is a name; name the secret by its full ARN/,
    },
    {
      name: 'a partial secret ARN',
      req: sm('GetSecretValue'),
      body: `{"SecretId":"arn:aws:secretsmanager:us-east-1:${ACCT}:secret:prod/db"}`,
      reason: 'aws_op_unknown',
      message: /six-character suffix/,
    },
    {
      name: 'ListSecrets',
      req: sm('ListSecrets'),
      body: '{}',
      op: 'ListSecrets',
      needs: [['secretsmanager:ListSecrets', '*']],
    },
    {
      name: 'CreateSecret',
      req: sm('CreateSecret'),
      body: '{"Name":"n"}',
      reason: 'aws_op_unknown',
      message: /it names Name/,
    },
    {
      name: 'GetParameter by path name',
      req: ssm('GetParameter'),
      body: '{"Name":"/app/db/url"}',
      op: 'GetParameter',
      needs: [['ssm:GetParameter', `${PARAM}/app/db/url`]],
    },
    {
      name: 'GetParameter with a version selector',
      req: ssm('GetParameter'),
      body: '{"Name":"/app/db/url:3","WithDecryption":true}',
      op: 'GetParameter',
      needs: [['ssm:GetParameter', `${PARAM}/app/db/url`]],
    },
    {
      name: 'GetParameters: one need per name',
      req: ssm('GetParameters'),
      body: '{"Names":["/a/b","plain","/a/b:label"]}',
      op: 'GetParameters',
      needs: [
        ['ssm:GetParameters', `${PARAM}/a/b`],
        ['ssm:GetParameters', `${PARAM}/plain`],
      ],
    },
    {
      name: 'GetParametersByPath',
      req: ssm('GetParametersByPath'),
      body: '{"Path":"/app/"}',
      op: 'GetParametersByPath',
      needs: [['ssm:GetParametersByPath', `${PARAM}/app/`]],
    },
    {
      name: 'PutParameter by ARN',
      req: ssm('PutParameter'),
      body: `{"Name":"${PARAM}/x","Value":"v"}`,
      op: 'PutParameter',
      needs: [['ssm:PutParameter', `${PARAM}/x`]],
    },
    {
      name: 'an SSM document is not mapped',
      req: ssm('GetDocument'),
      body: '{"Name":"doc"}',
      reason: 'aws_op_unknown',
      message: /only Parameter Store operations/,
    },
    {
      name: 'DescribeParameters',
      req: ssm('DescribeParameters'),
      body: '{}',
      op: 'DescribeParameters',
      needs: [['ssm:DescribeParameters', '*']],
    },
    {
      name: 'a bad parameter name',
      req: ssm('GetParameter'),
      body: '{"Name":"a b"}',
      reason: 'malformed_request',
      message: /not a valid parameter name$/,
    },
    {
      name: 'Names not a list',
      req: ssm('GetParameters'),
      body: '{"Names":"a"}',
      reason: 'malformed_request',
      message: /non-empty list of names$/,
    },
  ];
  runClassifyRows(t, rows, classify);
});
