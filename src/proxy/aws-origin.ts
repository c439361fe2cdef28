import { ErrandError } from '../errors.ts';
import type { AwsOrigin } from './context.ts';

// Where Errand sends an authorized AWS request: decided by Errand's own configuration and the
// manifest's region, never by anything the agent sent (SECURITY-CASES E14). Errand's environment may
// name an endpoint the way AWS SDKs read it (AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL): that is
// how tests and local development point it at an emulator.

// signing name → SDK service id (the env var suffix) and the endpoint prefix of the public endpoint.
const SERVICES: Readonly<Record<string, { readonly envId: string; readonly prefix: string }>> = {
  s3: { envId: 'S3', prefix: 's3' },
  dynamodb: { envId: 'DYNAMODB', prefix: 'dynamodb' },
  sqs: { envId: 'SQS', prefix: 'sqs' },
  sns: { envId: 'SNS', prefix: 'sns' },
  sts: { envId: 'STS', prefix: 'sts' },
  kms: { envId: 'KMS', prefix: 'kms' },
  secretsmanager: { envId: 'SECRETS_MANAGER', prefix: 'secretsmanager' },
  ssm: { envId: 'SSM', prefix: 'ssm' },
  lambda: { envId: 'LAMBDA', prefix: 'lambda' },
  bedrock: { envId: 'BEDROCK_RUNTIME', prefix: 'bedrock-runtime' },
};

export function parseEndpointUrl(value: string, name: string): AwsOrigin {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ErrandError('ERR_CONFIG', `${name} is not a URL`);
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.username ||
    url.password ||
    url.search ||
    url.hash
  ) {
    throw new ErrandError(
      'ERR_CONFIG',
      `${name} must be an http(s) URL without credentials, query or fragment`,
    );
  }
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  return {
    scheme,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port),
    basePath: url.pathname.replace(/\/$/, ''),
  };
}

/** Resolves each service's origin once per service; throws at start for a bad configured URL. */
export function awsOriginResolver(
  region: string,
  env: Readonly<Record<string, string | undefined>>,
): (service: string) => AwsOrigin {
  const cache = new Map<string, AwsOrigin>();
  return (service) => {
    const hit = cache.get(service);
    if (hit) return hit;
    const known = SERVICES[service];
    if (!known) throw new ErrandError('ERR_CONFIG', `no endpoint is known for service ${service}`);
    const specific = env[`AWS_ENDPOINT_URL_${known.envId}`];
    const general = env['AWS_ENDPOINT_URL'];
    const origin = specific
      ? parseEndpointUrl(specific, `AWS_ENDPOINT_URL_${known.envId}`)
      : general
        ? parseEndpointUrl(general, 'AWS_ENDPOINT_URL')
        : {
            scheme: 'https' as const,
            host: `${known.prefix}.${region}.amazonaws.com`,
            port: 443,
            basePath: '',
          };
    cache.set(service, origin);
    return origin;
  };
}
