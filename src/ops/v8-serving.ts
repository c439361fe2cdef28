import { setFlagsFromString } from 'node:v8';

// V8 pretenures an allocation site (allocates its objects straight into the old generation) when
// most of them survive a scavenge. With many requests in flight and Errand's tables in the old
// generation, sites on the request path get pretenured although their objects die within the
// request: each scavenge then promoted 3–4 MB that only a mark-compact frees, and small requests cost
// about 9 % more CPU (docs/decisions/0011-no-pretenuring-while-serving.md). Start-up is different:
// what it allocates (manifest, indexes, tables) does live on, and turning pretenuring off from the
// first line made start to ready about 20 % slower. So it is turned off once Errand serves.
// The flag is read by the garbage collector as it runs; V8 takes it after start.

/** Stops V8 from pretenuring allocation sites from now on (once the sidecar is ready). */
export function stopPretenuring(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
