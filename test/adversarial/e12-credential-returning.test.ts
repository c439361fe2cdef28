// E12 at the classifier: operations that return credentials are refused whatever the manifest
// says; the list is shared with the manifest linter.

import t from 'tap';
import { classifyAws } from '../../src/classify/aws.ts';
import {
  CREDENTIAL_RETURNING_ACTIONS,
  isCredentialReturningAction,
  mayMatchCredentialReturningAction,
} from '../../src/classify/credential-actions.ts';
import { awsRequest, CTX, utf8 } from '../helpers/classify-request.ts';

const sts = (body: string | undefined) =>
  classifyAws(
    awsRequest({
      method: 'POST',
      target: '/',
      signedFor: 'sts',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    }),
    CTX,
    body === undefined ? undefined : utf8(body),
  );

t.test('every STS operation is refused, named when the form says which', async (t) => {
  for (const action of [
    'AssumeRole',
    'AssumeRoleWithWebIdentity',
    'AssumeRoleWithSAML',
    'AssumeRoot',
    'GetSessionToken',
    'GetFederationToken',
    'GetCallerIdentity',
    'GetAccessKeyInfo',
    'DecodeAuthorizationMessage',
  ]) {
    const c = sts(`Action=${action}&Version=2011-06-15`);
    t.equal(c.ok || c.reason, 'credential_returning_action', action);
    if (!c.ok)
      t.match(c.message, new RegExp(`^${action} \\(STS\\) returns credentials or the role's identity`));
  }
  for (const body of [undefined, 'Action=AssumeRole', 'garbage%zz']) {
    const c = sts(body);
    t.equal(c.ok || c.reason, 'credential_returning_action', `body ${body}`);
    if (!c.ok) t.match(c.message, /^every STS operation/);
  }
});

t.test('S3 Express CreateSession is refused', async (t) => {
  const c = classifyAws(awsRequest({ target: '/amzn-s3-demo-bucket?session' }), CTX, undefined);
  t.equal(c.ok || c.reason, 'credential_returning_action');
  if (!c.ok) t.match(c.message, /s3express:CreateSession/);
});

t.test('the shared list, compared as IAM compares actions', async (t) => {
  const yes = [
    'sts:AssumeRole',
    'STS:getcallerIdentity',
    'sts:TagSession',
    's3express:CreateSession',
    'ECR:GetAuthorizationToken',
    'ecr-public:GetAuthorizationToken',
    'codeartifact:GetAuthorizationToken',
    'sso:GetRoleCredentials',
    'cognito-identity:GetCredentialsForIdentity',
    'iam:CreateAccessKey',
  ];
  const no = [
    's3:GetObject',
    'iam:ListAccessKeys',
    'ecr:BatchGetImage',
    'sts',
    'ststs:AssumeRole',
    ':AssumeRole',
  ];
  for (const a of yes) t.ok(isCredentialReturningAction(a), a);
  for (const a of no) t.notOk(isCredentialReturningAction(a), a);
  t.ok(CREDENTIAL_RETURNING_ACTIONS.includes('s3express:CreateSession'));
});

t.test('wildcard grants that could reach one are caught for the linter', async (t) => {
  const yes = [
    '*',
    'sts:*',
    's*:Assume*',
    'st?:GetSessionToken',
    's3express:*',
    'ecr:Get*',
    '*:GetAuthorizationToken',
    'iam:Create*',
  ];
  const no = ['s3:*', 's3:Get*', 'dynamodb:*', 'ecr:BatchGet*', 'sqs:Send*'];
  for (const p of yes) t.ok(mayMatchCredentialReturningAction(p), p);
  for (const p of no) t.notOk(mayMatchCredentialReturningAction(p), p);
  t.ok(mayMatchCredentialReturningAction('sts:AssumeRole'), 'exact names too');
  t.notOk(mayMatchCredentialReturningAction('s3:GetObject'));
});
