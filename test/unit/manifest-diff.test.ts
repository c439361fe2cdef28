import t from 'tap';
import {
  diffExitCode,
  diffManifests,
  formatDiffJson,
  formatDiffText,
  resourceCovers,
  urlCovers,
} from '../../src/manifest/diff.ts';
import type { Manifest } from '../../src/manifest/types.ts';
import { awsGrant, httpGrant, manifest } from '../fixtures/review/manifests.ts';

const base = manifest();
const REPORT = 'arn:aws:s3:::acme-uploads/users/alice/report.pdf';

t.test('identical manifests: no changes, exit 0', async (t) => {
  t.same(diffManifests(base, manifest()), []);
  t.equal(diffExitCode([]), 0);
  t.equal(formatDiffText([]), 'no changes: the new manifest grants nothing new\n');
});

const rows: { name: string; old?: Manifest; next: Manifest; changes: unknown[] }[] = [
  {
    name: 'a new AWS grant is a widening',
    next: manifest({
      awsGrants: [
        awsGrant(),
        awsGrant({ id: 'write-out', action: 's3:PutObject', resources: ['arn:aws:s3:::out/r.json'] }),
      ],
    }),
    changes: [
      ['widened', '/aws/grants/1', "grant 'write-out' added: s3:PutObject on arn:aws:s3:::out/r.json, 1 use"],
    ],
  },
  {
    name: 'a removed grant is a narrowing',
    next: manifest({ httpGrants: [] }),
    changes: [
      [
        'narrowed',
        '/http/grants/0',
        "grant 'post-summary' removed: POST https://api.acme.dev/v1/summaries, 1 use, injects secret summaries-token into Authorization",
      ],
    ],
  },
  {
    name: 'more uses, a new action, a broader resource, a later expiry',
    next: manifest({
      expiresAt: '2026-11-29T20:35:00Z',
      awsGrants: [
        awsGrant({
          action: 's3:GetObjectVersion',
          uses: 'unlimited',
          broad: true,
          resources: ['arn:aws:s3:::acme-uploads/users/*'],
        }),
      ],
    }),
    changes: [
      [
        'widened',
        '/task/expiresAt',
        'expires later: 2026-11-29T20:05:00Z → 2026-11-29T20:35:00Z (+30 minutes)',
      ],
      [
        'widened',
        '/aws/grants/0/action',
        "grant 'read-report' new action: s3:GetObjectVersion (was s3:GetObject)",
      ],
      [
        'widened',
        '/aws/grants/0/broadResource',
        "grant 'read-report' broader resource: arn:aws:s3:::acme-uploads/users/* (pattern)",
      ],
      ['widened', '/aws/grants/0/uses', "grant 'read-report' more uses: 1 → unlimited"],
    ],
  },
  {
    name: 'fewer uses, earlier expiry, a narrower pattern are narrowings only',
    old: manifest({
      awsGrants: [awsGrant({ uses: 5, broad: true, resources: ['arn:aws:s3:::acme-uploads/users/*'] })],
    }),
    next: manifest({ expiresAt: '2026-11-29T19:05:00Z', awsGrants: [awsGrant({ uses: 2 })] }),
    changes: [
      [
        'narrowed',
        '/task/expiresAt',
        'expires earlier: 2026-11-29T20:05:00Z → 2026-11-29T19:05:00Z (-1 hour)',
      ],
      [
        'narrowed',
        '/aws/grants/0/resource',
        "grant 'read-report' no longer covers arn:aws:s3:::acme-uploads/users/*",
      ],
      ['narrowed', '/aws/grants/0/uses', "grant 'read-report' fewer uses: 5 → 2"],
    ],
  },
  {
    name: 'prefix conditions: removed widens, added narrows, changed widens',
    old: manifest({
      awsGrants: [
        awsGrant({
          id: 'a',
          action: 's3:ListBucket',
          resources: ['arn:aws:s3:::b'],
          conditions: { s3Prefix: 'x/' },
        }),
        awsGrant({ id: 'b', action: 's3:ListBucket', resources: ['arn:aws:s3:::b'] }),
        awsGrant({
          id: 'c',
          action: 's3:ListBucket',
          resources: ['arn:aws:s3:::b'],
          conditions: { s3Prefix: 'x/' },
        }),
      ],
    }),
    next: manifest({
      awsGrants: [
        awsGrant({ id: 'a', action: 's3:ListBucket', resources: ['arn:aws:s3:::b'] }),
        awsGrant({
          id: 'b',
          action: 's3:ListBucket',
          resources: ['arn:aws:s3:::b'],
          conditions: { s3Prefix: 'y/' },
        }),
        awsGrant({
          id: 'c',
          action: 's3:ListBucket',
          resources: ['arn:aws:s3:::b'],
          conditions: { s3Prefix: 'z/' },
        }),
      ],
    }),
    changes: [
      ['widened', '/aws/grants/0/conditions/s3Prefix', 'grant \'a\' prefix condition removed (was "x/")'],
      ['widened', '/aws/grants/2/conditions/s3Prefix', 'grant \'c\' another prefix: "z/" (was "x/")'],
      ['narrowed', '/aws/grants/1/conditions/s3Prefix', 'grant \'b\' now only for prefix "y/"'],
    ],
  },
  {
    name: 'allowed headers and body caps',
    old: manifest({
      awsGrants: [
        awsGrant({ id: 'a', allowHeaders: ['x-amz-server-side-encryption'], maxBodyBytes: 100 }),
        awsGrant({ id: 'b', maxBodyBytes: 100 }),
        awsGrant({ id: 'c' }),
      ],
    }),
    next: manifest({
      awsGrants: [
        awsGrant({ id: 'a', allowHeaders: ['x-amz-storage-class'], maxBodyBytes: 50 }),
        awsGrant({ id: 'b' }),
        awsGrant({ id: 'c', maxBodyBytes: 10 }),
      ],
    }),
    changes: [
      ['widened', '/aws/grants/0/allowHeaders', "grant 'a' lets the agent send x-amz-storage-class"],
      ['widened', '/aws/grants/1/maxBodyBytes', "grant 'b' body cap removed (was 100 bytes)"],
      ['widened', '/aws/grants/2/maxBodyBytes', "grant 'c' body cap raised: none → 10 bytes"],
      [
        'narrowed',
        '/aws/grants/0/allowHeaders',
        "grant 'a' no longer lets the agent send x-amz-server-side-encryption",
      ],
      ['narrowed', '/aws/grants/0/maxBodyBytes', "grant 'a' body cap lowered: 100 → 50 bytes"],
    ],
  },
  {
    name: 'a renamed grant that grants the same is a change, not a widening',
    next: manifest({ awsGrants: [awsGrant({ id: 'fetch-report' })] }),
    changes: [
      [
        'changed',
        '/aws/grants/0',
        `grant 'fetch-report' was 'read-report': s3:GetObject on ${REPORT}, 1 use`,
      ],
    ],
  },
  {
    name: 'a renamed grant that also narrows keeps the narrowing',
    old: manifest({ awsGrants: [awsGrant({ uses: 3 })] }),
    next: manifest({ awsGrants: [awsGrant({ id: 'fetch-report', uses: 1 })] }),
    changes: [
      ['narrowed', '/aws/grants/0/uses', "grant 'fetch-report' fewer uses: 3 → 1"],
      [
        'changed',
        '/aws/grants/0',
        `grant 'fetch-report' was 'read-report': s3:GetObject on ${REPORT}, 1 use`,
      ],
    ],
  },
  {
    name: 'role, region and isolation',
    old: manifest({ isolation: 'grant' }),
    next: manifest({
      roleArn: 'arn:aws:iam::111122223333:role/admin',
      region: 'eu-west-1',
      isolation: 'task',
    }),
    changes: [
      [
        'widened',
        '/aws/roleArn',
        'assumes another role: arn:aws:iam::111122223333:role/admin (was arn:aws:iam::111122223333:role/errand-task)',
      ],
      ['widened', '/aws/region', 'another region: eu-west-1 (was us-east-1)'],
      [
        'widened',
        '/aws/isolation',
        'isolation task: one STS session now holds every grant (was one per grant)',
      ],
    ],
  },
  {
    name: 'isolation grant narrows',
    next: manifest({ isolation: 'grant' }),
    changes: [['narrowed', '/aws/isolation', 'isolation grant: one STS session per grant (was one for all)']],
  },
  {
    name: 'AWS access added or removed as a whole',
    old: manifest({ noAws: true }),
    next: manifest(),
    changes: [
      ['widened', '/aws', 'AWS access added: role arn:aws:iam::111122223333:role/errand-task in us-east-1'],
      ['widened', '/aws/grants/0', `grant 'read-report' added: s3:GetObject on ${REPORT}, 1 use`],
    ],
  },
  {
    name: 'AWS access removed',
    next: manifest({ noAws: true }),
    changes: [
      ['narrowed', '/aws', 'AWS access removed'],
      ['narrowed', '/aws/grants/0', `grant 'read-report' removed: s3:GetObject on ${REPORT}, 1 use`],
    ],
  },
  {
    name: 'user, session, task id and purpose',
    next: {
      ...manifest({ subject: 'bob@example.com', session: 'sess_2', taskId: 'tsk_2' }),
      task: {
        ...manifest({ subject: 'bob@example.com', session: 'sess_2', taskId: 'tsk_2' }).task,
        purpose: 'Other',
      },
    },
    changes: [
      ['widened', '/task/user/subject', 'acts for another user: bob@example.com (was alice@example.com)'],
      ['changed', '/task/user/session', 'user session sess_2 (was sess_8f2c)'],
      ['changed', '/task/id', 'task id tsk_2 (was tsk_01JD8Q7ZK3)'],
      ['changed', '/task/purpose', 'purpose "Other" (was "Summarize report.pdf for alice")'],
    ],
  },
  {
    name: 'HTTP: method, URL, inject, websocket and unsafe switches',
    next: manifest({
      httpGrants: [
        httpGrant({
          method: 'PUT',
          url: 'https://api.acme.dev/v1/summaries/all',
          inject: { header: 'X-Api-Key', value: 'Key $' + '{secret:admin-key}', secret: 'admin-key' },
          websocket: true,
          unsafeAllowPlainHttp: true,
          unsafeAllowPrivateAddress: true,
          uses: 2,
          maxBodyBytes: 5,
        }),
      ],
    }),
    changes: [
      ['widened', '/http/grants/0/method', "grant 'post-summary' new method: PUT (was POST)"],
      [
        'widened',
        '/http/grants/0/url',
        "grant 'post-summary' new URL: https://api.acme.dev/v1/summaries/all (was https://api.acme.dev/v1/summaries)",
      ],
      ['widened', '/http/grants/0/uses', "grant 'post-summary' more uses: 1 → 2"],
      [
        'widened',
        '/http/grants/0/inject',
        "grant 'post-summary' injects secret admin-key into X-Api-Key (was secret summaries-token into Authorization)",
      ],
      ['widened', '/http/grants/0/websocket', "grant 'post-summary' turns on websocket"],
      [
        'widened',
        '/http/grants/0/unsafeAllowPlainHttp',
        "grant 'post-summary' turns on unsafeAllowPlainHttp",
      ],
      [
        'widened',
        '/http/grants/0/unsafeAllowPrivateAddress',
        "grant 'post-summary' turns on unsafeAllowPrivateAddress",
      ],
      ['widened', '/http/grants/0/maxBodyBytes', "grant 'post-summary' body cap raised: none → 5 bytes"],
    ],
  },
  {
    name: 'HTTP: a pattern becoming one exact URL it matched, an inject removed, switches off',
    old: manifest({
      httpGrants: [httpGrant({ url: 'https://api.acme.dev/v1/*/summaries', pattern: true, websocket: true })],
    }),
    next: manifest({
      httpGrants: [httpGrant({ url: 'https://api.acme.dev/v1/en/summaries', inject: undefined })],
    }),
    changes: [
      [
        'narrowed',
        '/http/grants/0/url',
        "grant 'post-summary' exact URL https://api.acme.dev/v1/en/summaries (was pattern https://api.acme.dev/v1/*/summaries)",
      ],
      ['narrowed', '/http/grants/0/inject', "grant 'post-summary' no longer injects secret summaries-token"],
      ['narrowed', '/http/grants/0/websocket', "grant 'post-summary' turns off websocket"],
    ],
  },
  {
    name: 'HTTP: a newly injected secret is a widening',
    old: manifest({ httpGrants: [httpGrant({ inject: undefined })] }),
    next: manifest(),
    changes: [
      [
        'widened',
        '/http/grants/0/inject',
        "grant 'post-summary' injects secret summaries-token into Authorization (was nothing)",
      ],
    ],
  },
  {
    name: 'passthrough added and removed',
    old: manifest({ passthrough: [{ host: 'pypi.org', port: 443 }] }),
    next: manifest({ passthrough: [{ host: 'files.pythonhosted.org', port: 443 }] }),
    changes: [
      ['widened', '/http/passthrough/0', 'new passthrough: files.pythonhosted.org:443'],
      ['narrowed', '/http/passthrough/0', 'passthrough removed: pypi.org:443'],
    ],
  },
  {
    name: 'HTTP section added',
    old: manifest({ noHttp: true }),
    next: manifest(),
    changes: [
      [
        'widened',
        '/http/grants/0',
        "grant 'post-summary' added: POST https://api.acme.dev/v1/summaries, 1 use, injects secret summaries-token into Authorization",
      ],
    ],
  },
];

for (const r of rows) {
  t.test(r.name, async (t) => {
    const changes = diffManifests(r.old ?? base, r.next);
    t.same(
      changes.map((c) => [c.kind, c.path, c.message]),
      r.changes,
    );
    t.equal(diffExitCode(changes), r.changes.some((c) => (c as string[])[0] === 'widened') ? 1 : 0);
  });
}

t.test('resource coverage is IAM glob matching, conservative for pattern within pattern', async (t) => {
  const cases: [string, boolean, string, boolean, boolean][] = [
    ['arn:aws:s3:::b/k', false, 'arn:aws:s3:::b/k', false, true],
    ['arn:aws:s3:::b/k', false, 'arn:aws:s3:::b/k2', false, false],
    ['arn:aws:s3:::b/*', true, 'arn:aws:s3:::b/a/b/c', false, true],
    ['arn:aws:s3:::b/?', true, 'arn:aws:s3:::b/a', false, true],
    ['arn:aws:s3:::b/?', true, 'arn:aws:s3:::b/ab', false, false],
    ['arn:aws:s3:::b/a.c', true, 'arn:aws:s3:::b/abc', false, false],
    ['arn:aws:s3:::b/*', true, 'arn:aws:s3:::b/tmp/*', true, true],
    ['arn:aws:s3:::b/tmp/*', true, 'arn:aws:s3:::b/*', true, false],
    ['arn:aws:s3:::b/?', true, 'arn:aws:s3:::b/*', true, false],
    ['arn:aws:s3:::b/*/x', true, 'arn:aws:s3:::b/*/x', true, true],
    ['arn:aws:s3:::b/*/x', true, 'arn:aws:s3:::b/a*/x', true, false],
  ];
  for (const [old, oldBroad, next, nextBroad, expected] of cases) {
    t.equal(resourceCovers(old, oldBroad, next, nextBroad), expected, `${old} ⊇ ${next}`);
  }
});

t.test('URL coverage: a pattern * is exactly one path segment', async (t) => {
  const p = 'https://api.acme.dev/v1/*/items';
  t.ok(urlCovers(p, true, 'https://api.acme.dev/v1/en/items', false));
  t.notOk(urlCovers(p, true, 'https://api.acme.dev/v1/en/fr/items', false));
  t.notOk(urlCovers(p, true, 'https://api.acme.dev/v1//items', false));
  t.notOk(urlCovers(p, true, 'https://api.acme.dev/v1/x?y/items', false));
  t.notOk(urlCovers(p, true, 'https://api.acme.dev/v1/*/items/*', true));
  t.ok(urlCovers(p, true, p, true));
  t.notOk(urlCovers('https://a.test/x', false, 'https://a.test/y', false));
});

t.test('text and json output', async (t) => {
  const changes = diffManifests(base, manifest({ awsGrants: [awsGrant({ uses: 2 })], httpGrants: [] }));
  t.equal(
    formatDiffText(changes),
    [
      "+ widened  /aws/grants/0/uses: grant 'read-report' more uses: 1 → 2",
      "- narrowed /http/grants/0: grant 'post-summary' removed: POST https://api.acme.dev/v1/summaries, 1 use, injects secret summaries-token into Authorization",
      '1 widened, 1 narrowed, 0 changed: the new manifest grants more',
      '',
    ].join('\n'),
  );
  const narrowOnly = diffManifests(base, manifest({ httpGrants: [] }));
  t.match(
    formatDiffText(narrowOnly),
    /\n0 widened, 1 narrowed, 0 changed: the new manifest grants nothing new\n$/,
  );
  t.same(JSON.parse(formatDiffJson(changes)), {
    widens: true,
    changes: changes.map((c) => ({ ...c })),
  });
});

t.test('OAuth credentials: appearing, wider scope, lost DPoP binding and a new target widen', async (t) => {
  const oauth = {
    tokenEndpoint: 'https://as.acme.dev/token',
    clientId: 'errand',
    clientKey: 'client-key',
    subjectToken: 'user-token',
    subjectTokenType: 'access_token' as const,
    actorTokenType: 'jwt' as const,
    resource: 'https://api.acme.dev',
    scope: 'summaries:write',
    dpop: true,
  };
  const withOauth = (o: Partial<typeof oauth> | undefined) =>
    manifest({ httpGrants: [httpGrant({ inject: undefined, ...(o ? { oauth: { ...oauth, ...o } } : {}) })] });
  const kinds = (a: Manifest, b: Manifest) => diffManifests(a, b).map((c) => `${c.kind} ${c.path}`);
  t.same(kinds(withOauth(undefined), withOauth({})), ['widened /http/grants/0/inject/oauth']);
  t.same(kinds(withOauth({}), withOauth({ scope: 'summaries:write summaries:delete' })), [
    'widened /http/grants/0/inject/oauth/scope',
  ]);
  t.same(kinds(withOauth({}), withOauth({ scope: '' })), ['narrowed /http/grants/0/inject/oauth/scope']);
  t.same(kinds(withOauth({}), withOauth({ dpop: false })), ['widened /http/grants/0/inject/oauth/dpop']);
  t.same(kinds(withOauth({}), withOauth({ resource: 'https://admin.acme.dev' })), [
    'widened /http/grants/0/inject/oauth/resource',
  ]);
  t.same(kinds(withOauth({}), withOauth(undefined)), ['narrowed /http/grants/0/inject/oauth']);
  t.equal(diffExitCode(diffManifests(withOauth({}), withOauth({ dpop: false }))), 1);
});
