import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

// A self-signed certificate for the https upstream (127.0.0.1), made with openssl for one run.

const execFileP = promisify(execFile);

export async function makeCertificate(dir: string, name: string): Promise<{ key: string; cert: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  // biome-ignore format: one openssl option per line pair would hide the command
  await execFileP('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ]);
  return { key, cert };
}
