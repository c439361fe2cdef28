import { type Logger, pino } from 'pino';

// Errand's operational log (not the audit log): pino JSON to stderr, with every field that could hold a
// secret redacted by path, whatever a caller passes.
export const REDACT_PATHS = [
  'credentials',
  '*.credentials',
  'secretAccessKey',
  '*.secretAccessKey',
  'sessionToken',
  '*.sessionToken',
  'accessKeyId',
  '*.accessKeyId',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["x-amz-security-token"]',
  'secret',
  '*.secret',
  'token',
  '*.token',
];

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(
    { level, base: { service: 'errand' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    destination,
  );
}
