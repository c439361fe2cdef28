import type { Reason } from '../errors.ts';

// What a request means, in the terms a manifest grants: an IAM action on a resource, or an HTTP
// method on a URL. Built by the classifiers from a NormalizedRequest; never from raw bytes.

/** One IAM authorization the request needs. A request may need several (CopyObject: read the
 *  source and write the destination; DeleteObjects: delete each key). */
export interface AwsNeed {
  /** `service:Action` as IAM spells it. */
  readonly action: string;
  /** The resource ARN, or `*` for actions IAM does not scope to a resource. */
  readonly resource: string;
  /** Request context a grant condition may check (for s3:ListBucket, the requested prefix). */
  readonly s3Prefix?: string;
}

export interface AwsIntent {
  readonly kind: 'aws';
  /** SigV4 signing name (s3, dynamodb, sqs, …). */
  readonly service: string;
  readonly region: string;
  /** The service's operation name from its model (GetObject, PutItem, …). */
  readonly operation: string;
  readonly needs: readonly AwsNeed[];
  /** S3 only: the bucket and the key exactly as they appear in the path (still percent-encoded). */
  readonly s3?: { readonly bucket: string; readonly rawKey: string | undefined };
  /** Multipart: the upload id the request names, if any (UploadPart, Complete, Abort, ListParts). */
  readonly uploadId?: string;
}

export interface HttpIntent {
  readonly kind: 'http';
  readonly method: string;
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  readonly rawPath: string;
  readonly rawQuery: string;
}

export type Intent = AwsIntent | HttpIntent;

/** A request refused by a classifier: the reason code and a message a user can act on. */
export interface ClassifyDeny {
  readonly ok: false;
  readonly reason: Reason;
  readonly message: string;
}

/** What `classifyAws` returns: the intent plus everything the proxy needs to forward exactly what
 *  was authorized. (A separate type so code that only authorizes keeps using `AwsIntent`.) */
export interface ClassifiedAwsIntent extends AwsIntent {
  /** The service's endpoint prefix: the upstream host is `{endpointPrefix}.{region}.amazonaws.com`
   *  (differs from the signing name for Bedrock runtime: bedrock-runtime vs bedrock). */
  readonly endpointPrefix: string;
  /** The agent's headers to forward and sign, lower-case names, sorted by name. Includes the
   *  sensitive ones (forwarded only when the grant allows them). Hop-by-hop, framing and the agent's
   *  own auth headers are never in it; `content-encoding` has `aws-chunked` removed. */
  readonly forwardHeaders: readonly (readonly [string, string])[];
  /** Agent headers that change what the operation does (ACLs, encryption, storage class, …);
   *  a grant must name each in `allowHeaders`. Sorted. */
  readonly sensitiveHeaders: readonly string[];
  /** The body uses aws-chunked framing (Content-Encoding: aws-chunked or a STREAMING-* payload hash):
   *  the proxy must decode and re-frame it (E9). */
  readonly awsChunked: boolean;
}
