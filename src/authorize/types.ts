import type { Reason } from '../errors.ts';

// A decision is a value with a reason; deny is the default and every branch sets the reason.
export type Decision =
  | {
      readonly allow: true;
      readonly reason: 'allowed';
      readonly grantIds: readonly string[];
      readonly message: string;
      /** The grants whose use this request took (journaled before forwarding); a subset of grantIds. */
      readonly taken: readonly string[];
    }
  | {
      readonly allow: false;
      readonly reason: Reason;
      readonly grantIds: readonly string[];
      readonly message: string;
    };
