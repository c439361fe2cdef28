import type { Reason } from '../errors.ts';
import type { ClassifyDeny } from './types.ts';

/** A classifier's refusal: every branch names its reason and says what the user can change. */
export function deny(reason: Reason, message: string): ClassifyDeny {
  return { ok: false, reason, message };
}
