// The permission delta between two manifests: what the new one lets the agent do that the old one
// did not (widened), what it takes away (narrowed), and other changes a reviewer should see.
// Grants are matched by id; a new grant with another id that an old grant fully covers is a
// rename, not a widening. Coverage checks are conservative: when in doubt, report a widening.

import { formatDuration } from './explain.ts';
import type { AwsGrant, HttpGrant, Manifest, OAuthInject, Uses } from './types.ts';

export type ChangeKind = 'widened' | 'narrowed' | 'changed';

export interface Change {
  readonly kind: ChangeKind;
  /** JSON pointer in the new manifest, or in the old one for what was removed. */
  readonly path: string;
  readonly message: string;
}

const widened = (path: string, message: string): Change => ({ kind: 'widened', path, message });
const narrowed = (path: string, message: string): Change => ({ kind: 'narrowed', path, message });
const changed = (path: string, message: string): Change => ({ kind: 'changed', path, message });

const usesValue = (u: Uses): number => (u === 'unlimited' ? Number.POSITIVE_INFINITY : u);
const usesText = (u: Uses): string => (u === 'unlimited' ? 'unlimited' : String(u));

// IAM wildcard match: `*` is any run of characters (slashes included), `?` exactly one (IAM User
// Guide, "IAM JSON policy elements: Resource").
const globToRegExp = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&')))
      .join('')}$`,
    's',
  );

const WILDCARD = /[*?]/;

/** Does the old resource (pattern when oldBroad) cover everything the new one names? */
export const resourceCovers = (old: string, oldBroad: boolean, next: string, nextBroad: boolean): boolean => {
  if (old === next) return true;
  if (!oldBroad) return false;
  if (!nextBroad) return globToRegExp(old).test(next);
  // Pattern within pattern: proven only for an old `prefix*` whose prefix is literal.
  const prefix = old.slice(0, -1);
  return old.endsWith('*') && !WILDCARD.test(prefix) && next.startsWith(prefix);
};

// Errand's urlPattern: `*` stands for exactly one path segment.
const urlPatternToRegExp = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&'))
      .join('[^/?#]+')}$`,
    's',
  );

export const urlCovers = (old: string, oldPattern: boolean, next: string, nextPattern: boolean): boolean => {
  if (old === next) return true;
  if (!oldPattern || nextPattern) return false;
  return urlPatternToRegExp(old).test(next);
};

const bodyCapChanges = (path: string, id: string, old?: number, next?: number): Change[] => {
  if (old === next) return [];
  if (next === undefined)
    return [widened(`${path}/maxBodyBytes`, `grant '${id}' body cap removed (was ${old} bytes)`)];
  if (old === undefined || next > old) {
    return [
      widened(`${path}/maxBodyBytes`, `grant '${id}' body cap raised: ${old ?? 'none'} → ${next} bytes`),
    ];
  }
  return [narrowed(`${path}/maxBodyBytes`, `grant '${id}' body cap lowered: ${old} → ${next} bytes`)];
};

const usesChanges = (path: string, id: string, old: Uses, next: Uses): Change[] => {
  if (usesValue(next) > usesValue(old)) {
    return [widened(`${path}/uses`, `grant '${id}' more uses: ${usesText(old)} → ${usesText(next)}`)];
  }
  if (usesValue(next) < usesValue(old)) {
    return [narrowed(`${path}/uses`, `grant '${id}' fewer uses: ${usesText(old)} → ${usesText(next)}`)];
  }
  return [];
};

/** What `next` changes relative to `old`, for two AWS grants under the same id (or a candidate rename). */
export function compareAwsGrants(old: AwsGrant, next: AwsGrant, path: string): Change[] {
  const out: Change[] = [];
  const id = next.id;
  if (old.action !== next.action) {
    out.push(widened(`${path}/action`, `grant '${id}' new action: ${next.action} (was ${old.action})`));
  }
  const resourceField = `${path}/${next.broad ? 'broadResource' : 'resource'}`;
  for (const r of next.resources) {
    if (!old.resources.some((o) => resourceCovers(o, old.broad, r, next.broad))) {
      out.push(
        widened(resourceField, `grant '${id}' broader resource: ${r}${next.broad ? ' (pattern)' : ''}`),
      );
    }
  }
  for (const r of old.resources) {
    if (!next.resources.some((n) => resourceCovers(n, next.broad, r, old.broad))) {
      out.push(narrowed(resourceField, `grant '${id}' no longer covers ${r}`));
    }
  }
  const op = old.conditions.s3Prefix;
  const np = next.conditions.s3Prefix;
  if (op !== np) {
    const where = `${path}/conditions/s3Prefix`;
    if (np === undefined) out.push(widened(where, `grant '${id}' prefix condition removed (was "${op}")`));
    else if (op === undefined) out.push(narrowed(where, `grant '${id}' now only for prefix "${np}"`));
    else out.push(widened(where, `grant '${id}' another prefix: "${np}" (was "${op}")`));
  }
  out.push(...usesChanges(path, id, old.uses, next.uses));
  const addedHeaders = next.allowHeaders.filter((h) => !old.allowHeaders.includes(h));
  if (addedHeaders.length > 0) {
    out.push(widened(`${path}/allowHeaders`, `grant '${id}' lets the agent send ${addedHeaders.join(', ')}`));
  }
  const droppedHeaders = old.allowHeaders.filter((h) => !next.allowHeaders.includes(h));
  if (droppedHeaders.length > 0) {
    out.push(
      narrowed(
        `${path}/allowHeaders`,
        `grant '${id}' no longer lets the agent send ${droppedHeaders.join(', ')}`,
      ),
    );
  }
  out.push(...bodyCapChanges(path, id, old.maxBodyBytes, next.maxBodyBytes));
  return out;
}

const flagChange = (path: string, id: string, flag: string, old: boolean, next: boolean): Change[] =>
  old === next
    ? []
    : next
      ? [widened(`${path}/${flag}`, `grant '${id}' turns on ${flag}`)]
      : [narrowed(`${path}/${flag}`, `grant '${id}' turns off ${flag}`)];

export function compareHttpGrants(old: HttpGrant, next: HttpGrant, path: string): Change[] {
  const out: Change[] = [];
  const id = next.id;
  if (old.method !== next.method) {
    out.push(widened(`${path}/method`, `grant '${id}' new method: ${next.method} (was ${old.method})`));
  }
  const urlField = `${path}/${next.pattern ? 'urlPattern' : 'url'}`;
  if (!urlCovers(old.url, old.pattern, next.url, next.pattern)) {
    out.push(widened(urlField, `grant '${id}' new URL: ${next.url} (was ${old.url})`));
  } else if (old.url !== next.url) {
    out.push(narrowed(urlField, `grant '${id}' exact URL ${next.url} (was pattern ${old.url})`));
  }
  out.push(...usesChanges(path, id, old.uses, next.uses));
  const oi = old.inject;
  const ni = next.inject;
  if (ni !== undefined && (oi === undefined || oi.secret !== ni.secret || oi.header !== ni.header)) {
    const was = oi === undefined ? 'nothing' : `secret ${oi.secret} into ${oi.header}`;
    out.push(
      widened(`${path}/inject`, `grant '${id}' injects secret ${ni.secret} into ${ni.header} (was ${was})`),
    );
  } else if (ni === undefined && oi !== undefined) {
    out.push(narrowed(`${path}/inject`, `grant '${id}' no longer injects secret ${oi.secret}`));
  }
  out.push(...oauthChanges(path, id, old.oauth, next.oauth));
  out.push(...flagChange(path, id, 'websocket', old.websocket, next.websocket));
  out.push(
    ...flagChange(path, id, 'unsafeAllowPlainHttp', old.unsafeAllowPlainHttp, next.unsafeAllowPlainHttp),
  );
  out.push(
    ...flagChange(
      path,
      id,
      'unsafeAllowPrivateAddress',
      old.unsafeAllowPrivateAddress,
      next.unsafeAllowPrivateAddress,
    ),
  );
  out.push(...bodyCapChanges(path, id, old.maxBodyBytes, next.maxBodyBytes));
  return out;
}

const scopeTokens = (scope: string | undefined): Set<string> =>
  new Set((scope ?? '').split(' ').filter(Boolean));

/** An OAuth credential widens when it appears, when its scope gains a token, when it loses its DPoP
 *  binding, or when what it is for (endpoint, resource, audience, details, identities) changes:
 *  a reviewer cannot tell such a change is harmless, so it counts as widening. */
function oauthChanges(
  path: string,
  id: string,
  old: OAuthInject | undefined,
  next: OAuthInject | undefined,
): Change[] {
  const at = `${path}/inject/oauth`;
  if (next === undefined)
    return old === undefined ? [] : [narrowed(at, `grant '${id}' no longer obtains an OAuth token`)];
  if (old === undefined)
    return [
      widened(
        at,
        `grant '${id}' obtains an OAuth token from ${next.tokenEndpoint} (scope ${next.scope ?? 'none'})`,
      ),
    ];
  const out: Change[] = [];
  const added = [...scopeTokens(next.scope)].filter((s) => !scopeTokens(old.scope).has(s));
  if (added.length > 0) out.push(widened(`${at}/scope`, `grant '${id}' OAuth scope adds ${added.join(' ')}`));
  else if (old.scope !== next.scope)
    out.push(
      narrowed(
        `${at}/scope`,
        `grant '${id}' OAuth scope is now ${next.scope ?? 'none'} (was ${old.scope ?? 'none'})`,
      ),
    );
  if (old.dpop && !next.dpop)
    out.push(widened(`${at}/dpop`, `grant '${id}' OAuth token is no longer DPoP-bound (a bearer token)`));
  if (!old.dpop && next.dpop) out.push(narrowed(`${at}/dpop`, `grant '${id}' OAuth token is now DPoP-bound`));
  const fields = [
    'tokenEndpoint',
    'issuer',
    'clientId',
    'clientKey',
    'subjectToken',
    'subjectTokenType',
    'actorToken',
    'actorTokenType',
    'audience',
    'resource',
  ] as const;
  for (const f of fields) {
    if (old[f] !== next[f])
      out.push(
        widened(
          `${at}/${f}`,
          `grant '${id}' OAuth ${f} is now ${String(next[f] ?? 'unset')} (was ${String(old[f] ?? 'unset')})`,
        ),
      );
  }
  if (
    JSON.stringify(old.authorizationDetails ?? null) !== JSON.stringify(next.authorizationDetails ?? null)
  ) {
    out.push(widened(`${at}/authorizationDetails`, `grant '${id}' OAuth authorization_details changed`));
  }
  return out;
}

const describeAws = (g: AwsGrant): string =>
  `${g.action} on ${g.resources.join(', ')}${g.broad ? ' (pattern)' : ''}${
    g.conditions.s3Prefix === undefined ? '' : ` with prefix "${g.conditions.s3Prefix}"`
  }, ${usesText(g.uses)} use${g.uses === 1 ? '' : 's'}`;

const describeHttp = (g: HttpGrant): string =>
  `${g.method} ${g.url}${g.pattern ? ' (pattern)' : ''}, ${usesText(g.uses)} use${g.uses === 1 ? '' : 's'}${
    g.inject === undefined ? '' : `, injects secret ${g.inject.secret} into ${g.inject.header}`
  }`;

interface Section<G extends { readonly id: string }> {
  readonly base: string;
  readonly compare: (old: G, next: G, path: string) => Change[];
  readonly describe: (g: G) => string;
}

// Matches grants by id, then unmatched new grants against any unmatched old grant that covers them.
const diffGrants = <G extends { readonly id: string }>(
  olds: readonly G[],
  nexts: readonly G[],
  s: Section<G>,
): Change[] => {
  const out: Change[] = [];
  const usedOld = new Set<string>();
  const nextIds = new Set(nexts.map((g) => g.id));
  nexts.forEach((g, i) => {
    const path = `${s.base}/${i}`;
    const same = olds.find((o) => o.id === g.id);
    if (same !== undefined) {
      usedOld.add(same.id);
      out.push(...s.compare(same, g, path));
      return;
    }
    const renamedFrom = olds.find(
      (o) =>
        !nextIds.has(o.id) && !usedOld.has(o.id) && s.compare(o, g, path).every((c) => c.kind !== 'widened'),
    );
    if (renamedFrom !== undefined) {
      usedOld.add(renamedFrom.id);
      out.push(changed(path, `grant '${g.id}' was '${renamedFrom.id}': ${s.describe(g)}`));
      out.push(...s.compare(renamedFrom, g, path).filter((c) => c.kind !== 'widened'));
      return;
    }
    out.push(widened(path, `grant '${g.id}' added: ${s.describe(g)}`));
  });
  olds.forEach((o, i) => {
    if (!usedOld.has(o.id)) out.push(narrowed(`${s.base}/${i}`, `grant '${o.id}' removed: ${s.describe(o)}`));
  });
  return out;
};

const diffTask = (old: Manifest, next: Manifest): Change[] => {
  const out: Change[] = [];
  const ot = old.task;
  const nt = next.task;
  const oe = Date.parse(ot.expiresAt);
  const ne = Date.parse(nt.expiresAt);
  if (ne > oe) {
    out.push(
      widened(
        '/task/expiresAt',
        `expires later: ${ot.expiresAt} → ${nt.expiresAt} (+${formatDuration(ne - oe)})`,
      ),
    );
  } else if (ne < oe) {
    out.push(
      narrowed(
        '/task/expiresAt',
        `expires earlier: ${ot.expiresAt} → ${nt.expiresAt} (-${formatDuration(oe - ne)})`,
      ),
    );
  }
  if (ot.user.subject !== nt.user.subject) {
    out.push(
      widened('/task/user/subject', `acts for another user: ${nt.user.subject} (was ${ot.user.subject})`),
    );
  }
  if (ot.user.session !== nt.user.session) {
    out.push(changed('/task/user/session', `user session ${nt.user.session} (was ${ot.user.session})`));
  }
  if (ot.id !== nt.id) out.push(changed('/task/id', `task id ${nt.id} (was ${ot.id})`));
  if (ot.purpose !== nt.purpose)
    out.push(changed('/task/purpose', `purpose "${nt.purpose}" (was "${ot.purpose}")`));
  return out;
};

const diffAws = (old: Manifest, next: Manifest): Change[] => {
  const oa = old.aws;
  const na = next.aws;
  const out: Change[] = [];
  if (oa !== undefined && na !== undefined) {
    if (oa.roleArn !== na.roleArn) {
      out.push(widened('/aws/roleArn', `assumes another role: ${na.roleArn} (was ${oa.roleArn})`));
    }
    if (oa.region !== na.region)
      out.push(widened('/aws/region', `another region: ${na.region} (was ${oa.region})`));
    if (oa.isolation !== na.isolation) {
      out.push(
        na.isolation === 'task'
          ? widened(
              '/aws/isolation',
              'isolation task: one STS session now holds every grant (was one per grant)',
            )
          : narrowed('/aws/isolation', 'isolation grant: one STS session per grant (was one for all)'),
      );
    }
  } else if (na !== undefined) {
    out.push(widened('/aws', `AWS access added: role ${na.roleArn} in ${na.region}`));
  } else if (oa !== undefined) {
    out.push(narrowed('/aws', 'AWS access removed'));
  }
  out.push(
    ...diffGrants(oa?.grants ?? [], na?.grants ?? [], {
      base: '/aws/grants',
      compare: compareAwsGrants,
      describe: describeAws,
    }),
  );
  return out;
};

const diffHttp = (old: Manifest, next: Manifest): Change[] => {
  const out = diffGrants(old.http?.grants ?? [], next.http?.grants ?? [], {
    base: '/http/grants',
    compare: compareHttpGrants,
    describe: describeHttp,
  });
  const key = (p: { host: string; port: number }) => `${p.host}:${p.port}`;
  const oldKeys = (old.http?.passthrough ?? []).map(key);
  const newKeys = (next.http?.passthrough ?? []).map(key);
  newKeys.forEach((k, i) => {
    if (!oldKeys.includes(k)) out.push(widened(`/http/passthrough/${i}`, `new passthrough: ${k}`));
  });
  oldKeys.forEach((k, i) => {
    if (!newKeys.includes(k)) out.push(narrowed(`/http/passthrough/${i}`, `passthrough removed: ${k}`));
  });
  return out;
};

/** Every change from `old` to `next`, widenings first, each group in manifest order. */
export function diffManifests(old: Manifest, next: Manifest): Change[] {
  const all = [...diffTask(old, next), ...diffAws(old, next), ...diffHttp(old, next)];
  const order: readonly ChangeKind[] = ['widened', 'narrowed', 'changed'];
  return order.flatMap((k) => all.filter((c) => c.kind === k));
}

/** 1 when the new manifest grants anything the old did not, else 0. */
export function diffExitCode(changes: readonly Change[]): number {
  return changes.some((c) => c.kind === 'widened') ? 1 : 0;
}

const MARK: Readonly<Record<ChangeKind, string>> = { widened: '+', narrowed: '-', changed: '~' };

export function formatDiffText(changes: readonly Change[]): string {
  const count = (k: ChangeKind) => changes.filter((c) => c.kind === k).length;
  const lines = changes.map((c) => `${MARK[c.kind]} ${c.kind.padEnd(8)} ${c.path}: ${c.message}`);
  const verdict =
    diffExitCode(changes) === 1 ? 'the new manifest grants more' : 'the new manifest grants nothing new';
  lines.push(
    changes.length === 0
      ? 'no changes: the new manifest grants nothing new'
      : `${count('widened')} widened, ${count('narrowed')} narrowed, ${count('changed')} changed: ${verdict}`,
  );
  return `${lines.join('\n')}\n`;
}

export function formatDiffJson(changes: readonly Change[]): string {
  return `${JSON.stringify({ widens: diffExitCode(changes) === 1, changes }, null, 2)}\n`;
}
