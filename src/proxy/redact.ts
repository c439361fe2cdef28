// Upstream error bodies can carry what the agent must never see: S3's SignatureDoesNotMatch echoes
// the access key id, the string to sign and the canonical request (SECURITY-CASES G5/K2, E11). Errand
// buffers error bodies (bounded) and removes those elements and every known secret before relaying.

const SIGNING_ELEMENTS = [
  'AWSAccessKeyId',
  'StringToSign',
  'StringToSignBytes',
  'CanonicalRequest',
  'CanonicalRequestBytes',
  'SignatureProvided',
  'Token-0',
];

const ELEMENT = new RegExp(`<(${SIGNING_ELEMENTS.join('|')})>[\\s\\S]*?</\\1>`, 'g');

/** Removes signing echoes and replaces each secret (AKID, secret key, session token, injected values). */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text.replace(ELEMENT, '');
  for (const secret of secrets) {
    if (secret.length >= 8) out = out.split(secret).join('[redacted]');
  }
  return out;
}

/** True when any secret, or a query-signed URL, appears in the text (test oracles and the canary scan). */
export function containsSecret(text: string, secrets: readonly string[]): boolean {
  if (/X-Amz-Signature=|X-Amz-Credential=/i.test(text)) return true;
  return secrets.some((s) => s.length >= 8 && text.includes(s));
}
