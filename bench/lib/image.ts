import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// What the bench takes from the image's Dockerfile, so that Errand runs here as it runs in a pod.

export const DOCKERFILE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'Dockerfile');

/** The NODE_OPTIONS the image's Dockerfile sets (an `ENV` assignment, quoted or not), so Errand runs
 *  here with the heap configuration it has in a pod (docs/decisions/0010-young-generation-in-a-pod.md).
 *  Throws when the Dockerfile sets none: a bench of another configuration would say nothing about the image. */
export function imageNodeOptions(dockerfile: string): string {
  for (const line of dockerfile.split('\n')) {
    if (line.trimStart().startsWith('#')) continue;
    const m = /(?:^|\s)NODE_OPTIONS=(?:"([^"]*)"|(\S+))/.exec(line);
    if (m) return (m[1] ?? (m[2] as string)).trim();
  }
  throw new Error('deploy/Dockerfile sets no NODE_OPTIONS');
}
