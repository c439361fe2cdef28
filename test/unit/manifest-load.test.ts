// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${secret:NAME} placeholders are manifest data here
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import t from 'tap';
import {
  formatProblems,
  type LoadResult,
  loadManifestFile,
  loadManifestText,
  MAX_MANIFEST_TTL_MS,
} from '../../src/manifest/load.ts';
import { MANIFEST_SCHEMA } from '../../src/manifest/schema.ts';
import {
  checker,
  EXPIRES_AT,
  NOW,
  type Source,
  seed,
  seedWith,
  toYaml,
} from '../fixtures/manifests/build.ts';

type Expected = { code: string; path: string; message: string; fix?: string };

const load = (source: Source | string, now = NOW): LoadResult =>
  loadManifestText(typeof source === 'string' ? source : toYaml(source), { now, checker });

/** The problems a user would see, without positions (positions have their own tests). */
const problemsOf = (source: Source | string, now = NOW): Expected[] | 'loaded' => {
  const r = load(source, now);
  return r.ok
    ? 'loaded'
    : r.problems.map(({ code, path, message, fix }) => ({ code, path, message, ...(fix ? { fix } : {}) }));
};

const loadedOf = (source: Source | string) => {
  const r = load(source);
  if (!r.ok) throw new Error(formatProblems('test', r.problems));
  return r.loaded;
};

t.test('the seed manifest loads with defaults applied and lists normalized', async (t) => {
  const loaded = loadedOf(seed());
  t.same(loaded.manifest, {
    apiVersion: 'errand.dev/v1',
    kind: 'TaskManifest',
    task: {
      id: 'tsk_01JD8Q7ZK3',
      purpose: 'Summarize report.pdf for alice',
      user: { subject: 'alice@example.com', session: 'sess_8f2c' },
      expiresAt: EXPIRES_AT,
    },
    aws: {
      region: 'us-east-1',
      roleArn: 'arn:aws:iam::111122223333:role/errand-task',
      isolation: 'task',
      grants: [
        {
          id: 'read-report',
          action: 's3:GetObject',
          resources: ['arn:aws:s3:::acme-uploads/users/alice/report.pdf'],
          broad: false,
          uses: 1,
          conditions: {},
          allowHeaders: [],
        },
      ],
    },
    http: {
      grants: [
        {
          id: 'post-summary',
          method: 'POST',
          url: 'https://api.acme.dev/v1/summaries',
          pattern: false,
          uses: 1,
          inject: {
            header: 'Authorization',
            value: 'Bearer ${secret:summaries-token}',
            secret: 'summaries-token',
          },
          websocket: false,
          unsafeAllowPlainHttp: false,
          unsafeAllowPrivateAddress: false,
        },
      ],
      passthrough: [],
    },
  });
  t.equal(loaded.expiresAtMs, Date.parse(EXPIRES_AT));
  t.equal(loaded.signed, false);
});

t.test('the result is hashed over the source bytes and deeply frozen', async (t) => {
  const text = toYaml(seed());
  const r = load(text);
  if (!r.ok) return t.fail('seed must load');
  t.equal(r.loaded.sha256, createHash('sha256').update(text).digest('hex'));
  t.ok(Object.isFrozen(r.loaded));
  t.ok(Object.isFrozen(r.loaded.manifest.aws!.grants[0]!.resources));
  t.ok(Object.isFrozen(r.source));
  t.throws(() => {
    (r.loaded.manifest.aws!.grants[0]!.resources as string[]).push('arn:aws:s3:::evil/x');
  }, TypeError);
  t.throws(() => {
    (r.loaded.manifest.task as { id: string }).id = 'other';
  }, TypeError);
});

t.test('valid variations load as intended', async (t) => {
  const rows: {
    name: string;
    source: Source | string;
    check: (l: ReturnType<typeof loadedOf>) => unknown;
  }[] = [
    {
      name: 'defaults: no isolation, no uses',
      source: seedWith((m) => {
        delete m.aws.isolation;
        delete m.aws.grants[0].uses;
        delete m.http.grants[0].uses;
      }),
      check: (l) => [
        l.manifest.aws!.isolation,
        l.manifest.aws!.grants[0]!.uses,
        l.manifest.http!.grants[0]!.uses,
      ],
    },
    {
      name: 'isolation grant, unlimited uses, list of resources, allowHeaders, maxBodyBytes',
      source: seedWith((m) => {
        m.aws.isolation = 'grant';
        m.aws.grants[0] = {
          id: 'write-out',
          action: 's3:PutObject',
          resource: ['arn:aws:s3:::acme-out/a.json', 'arn:aws:s3:::acme-out/b.json'],
          uses: 'unlimited',
          allowHeaders: ['x-amz-server-side-encryption'],
          maxBodyBytes: 1024,
        };
      }),
      check: (l) => [l.manifest.aws!.isolation, l.manifest.aws!.grants[0]],
    },
    {
      name: 'broadResource sets broad; s3Prefix on ListBucket',
      source: seedWith((m) => {
        m.aws.grants = [
          {
            id: 'list',
            action: 's3:ListBucket',
            resource: 'arn:aws:s3:::acme-uploads',
            conditions: { s3Prefix: 'u/' },
          },
          { id: 'read', action: 's3:GetObject', broadResource: 'arn:aws:s3:::acme-uploads/u/*' },
        ];
      }),
      check: (l) => l.manifest.aws!.grants.map((g) => [g.resources, g.broad, g.conditions]),
    },
    {
      name: 'an action IAM cannot scope, with broadResource "*"',
      source: seedWith((m) => {
        m.aws.grants[0] = { id: 'buckets', action: 's3:ListAllMyBuckets', broadResource: '*' };
      }),
      check: (l) => [l.manifest.aws!.grants[0]!.resources, l.manifest.aws!.grants[0]!.broad],
    },
    {
      name: 'urlPattern, websocket GET, passthrough default port, $schema ignored',
      source: seedWith((m) => {
        m.$schema = '../schema/manifest.schema.json';
        m.http.grants = [
          { id: 'ws', method: 'GET', urlPattern: 'https://rt.acme.dev/v1/rooms/*/feed', websocket: true },
        ];
        m.http.passthrough = [{ host: 'pypi.org' }, { host: 'files.pythonhosted.org', port: 8443 }];
      }),
      check: (l) => [l.manifest.http, Object.keys(l.manifest)],
    },
    {
      name: 'http only; plain http with its unsafe switch; private address switch',
      source: seedWith((m) => {
        delete m.aws;
        m.http.grants[0].url = 'http://legacy.acme.dev:8080/v1/x?y=1';
        m.http.grants[0].unsafeAllowPlainHttp = true;
        m.http.grants[0].unsafeAllowPrivateAddress = true;
      }),
      check: (l) => [
        l.manifest.aws,
        l.manifest.http!.grants[0]!.url,
        l.manifest.http!.grants[0]!.unsafeAllowPlainHttp,
        l.manifest.http!.grants[0]!.unsafeAllowPrivateAddress,
      ],
    },
    {
      name: 'a manifest in the aws-cn partition',
      source: seedWith((m) => {
        delete m.http;
        m.aws.region = 'cn-north-1';
        m.aws.roleArn = 'arn:aws-cn:iam::111122223333:role/errand-task';
        m.aws.grants[0].resource = 'arn:aws-cn:s3:::acme-uploads/x';
      }),
      check: (l) => l.manifest.aws!.grants[0]!.resources,
    },
    {
      name: 'a DynamoDB index ARN for Query',
      source: seedWith((m) => {
        m.aws.grants[0] = {
          id: 'q',
          action: 'dynamodb:Query',
          resource: 'arn:aws:dynamodb:us-east-1:111122223333:table/orders/index/by-id',
        };
      }),
      check: (l) => l.manifest.aws!.grants[0]!.resources,
    },
    {
      name: 'YAML 1.2 core: yes stays a string (a purpose that reads "yes")',
      source:
        'apiVersion: errand.dev/v1\nkind: TaskManifest\ntask:\n  id: t1\n  purpose: yes\n  user: {subject: al, session: s}\n  expiresAt: 2026-11-29T20:05:00Z\nhttp:\n  passthrough: [{host: pypi.org}]\n',
      check: (l) => l.manifest.task.purpose,
    },
  ];
  const expected: unknown[] = [
    ['task', 1, 1],
    [
      'grant',
      {
        id: 'write-out',
        action: 's3:PutObject',
        resources: ['arn:aws:s3:::acme-out/a.json', 'arn:aws:s3:::acme-out/b.json'],
        broad: false,
        uses: 'unlimited',
        conditions: {},
        allowHeaders: ['x-amz-server-side-encryption'],
        maxBodyBytes: 1024,
      },
    ],
    [
      [['arn:aws:s3:::acme-uploads'], false, { s3Prefix: 'u/' }],
      [['arn:aws:s3:::acme-uploads/u/*'], true, {}],
    ],
    [['*'], true],
    [
      {
        grants: [
          {
            id: 'ws',
            method: 'GET',
            url: 'https://rt.acme.dev/v1/rooms/*/feed',
            pattern: true,
            uses: 1,
            websocket: true,
            unsafeAllowPlainHttp: false,
            unsafeAllowPrivateAddress: false,
          },
        ],
        passthrough: [
          { host: 'pypi.org', port: 443 },
          { host: 'files.pythonhosted.org', port: 8443 },
        ],
      },
      ['apiVersion', 'kind', 'task', 'aws', 'http'],
    ],
    [undefined, 'http://legacy.acme.dev:8080/v1/x?y=1', true, true],
    ['arn:aws-cn:s3:::acme-uploads/x'].map((x) => x),
    ['arn:aws:dynamodb:us-east-1:111122223333:table/orders/index/by-id'],
    'yes',
  ];
  rows.forEach((row, i) => {
    t.same(row.check(loadedOf(row.source)), expected[i], row.name);
  });
});

t.test('a JSON manifest loads, and a .json name requires real JSON', async (t) => {
  const json = JSON.stringify(seed(), null, 2);
  const r = loadManifestText(json, { now: NOW, checker, fileName: 'm.json' });
  t.equal(r.ok, true);
  const yamlish = loadManifestText('apiVersion: errand.dev/v1\n', { now: NOW, checker, fileName: 'm.JSON' });
  t.same(yamlish.ok ? [] : yamlish.problems.map((p) => [p.code, p.line, p.column]), [
    ['ERR_MANIFEST_SYNTAX', 1, 1],
    ['ERR_MANIFEST_SYNTAX', 1, 13],
  ]);
});

t.test('schema violations: every one reported with a message and fix a user can act on', async (t) => {
  const rows: { name: string; source: Source | string; problems: Expected[] }[] = [
    {
      name: 'empty document',
      source: '',
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '',
          message: 'must be a mapping, not null',
          fix: 'a manifest is a mapping with apiVersion, kind, task, and aws and/or http',
        },
      ],
    },
    {
      name: 'a list instead of a mapping',
      source: '- a\n',
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '',
          message: 'must be a mapping, not a list',
          fix: 'a manifest is a mapping with apiVersion, kind, task, and aws and/or http',
        },
      ],
    },
    {
      name: 'wrong apiVersion and kind',
      source: seedWith((m) => {
        m.apiVersion = 'errand.dev/v2';
        m.kind = 'Task';
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/apiVersion',
          message: 'must be "errand.dev/v1", not "errand.dev/v2"',
        },
        { code: 'ERR_MANIFEST_INVALID', path: '/kind', message: 'must be "TaskManifest", not "Task"' },
      ],
    },
    {
      name: 'missing task.user',
      source: seedWith((m) => {
        delete m.task.user;
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/task',
          message: 'missing required key "user"',
          fix: 'add user: The user the task acts for; both values reach CloudTrail through STS.',
        },
      ],
    },
    {
      name: 'missing task.expiresAt',
      source: seedWith((m) => {
        delete m.task.expiresAt;
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/task',
          message: 'missing required key "expiresAt"',
          fix: 'add expiresAt: an RFC 3339 UTC time in whole seconds ending in Z, e.g. 2026-11-29T20:05:00Z',
        },
      ],
    },
    {
      name: 'a task id STS would refuse as RoleSessionName',
      source: seedWith((m) => {
        m.task.id = 'task 1';
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/task/id',
          message: '"task 1" is not valid here',
          fix: 'expected 2-64 characters from A-Z a-z 0-9 and _=.@- (it becomes the STS RoleSessionName and a session tag, which allows no comma)',
        },
      ],
    },
    {
      name: 'a subject STS would refuse as SourceIdentity, a session it would refuse as a tag',
      source: seedWith((m) => {
        m.task.user = { subject: 'alice smith', session: 'sess#1' };
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/task/user/subject',
          message: '"alice smith" is not valid here',
          fix: 'expected 2-64 characters from A-Z a-z 0-9 and _+=,.@- (it becomes the STS SourceIdentity)',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/task/user/session',
          message: '"sess#1" is not valid here',
          fix: 'expected 1-256 characters from A-Z a-z 0-9 and _.:/=+@- (it becomes an STS session tag value)',
        },
      ],
    },
    {
      name: 'a purpose with a newline (log injection) and one too long',
      source: seedWith((m) => {
        m.task.purpose = 'ok\nFAKE AUDIT LINE';
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/task/purpose',
          message: '"ok\\nFAKE AUDIT LINE" is not valid here',
          fix: 'expected one line of 1-500 characters without control characters, shown to reviewers and in audit records',
        },
      ],
    },
    {
      name: 'expiresAt with fractional seconds or an offset',
      source: seedWith((m) => {
        m.task.expiresAt = '2026-11-29T20:05:00+00:00';
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/task/expiresAt',
          message: '"2026-11-29T20:05:00+00:00" is not valid here',
          fix: 'expected an RFC 3339 UTC time in whole seconds ending in Z, e.g. 2026-11-29T20:05:00Z',
        },
      ],
    },
    {
      name: 'neither resource nor broadResource, and both',
      source: seedWith((m) => {
        delete m.aws.grants[0].resource;
        m.aws.grants.push({
          id: 'two',
          action: 's3:GetObject',
          resource: 'arn:aws:s3:::acme-uploads/a',
          broadResource: 'arn:aws:s3:::acme-uploads/*',
        });
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0',
          message: 'an AWS grant needs exactly one of resource or broadResource',
          fix: 'use resource for exact ARNs; broadResource only for ARN patterns with * or ?',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/1',
          message: 'an AWS grant needs exactly one of resource or broadResource',
          fix: 'use resource for exact ARNs; broadResource only for ARN patterns with * or ?',
        },
      ],
    },
    {
      name: 'url and urlPattern together',
      source: seedWith((m) => {
        m.http.grants[0].urlPattern = 'https://api.acme.dev/v1/*';
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0',
          message: 'an HTTP grant needs exactly one of url or urlPattern',
          fix: 'use url for one exact URL; urlPattern only when a path segment varies',
        },
      ],
    },
    {
      name: 'uses 0, "lots", 1.5',
      source: seedWith((m) => {
        m.aws.grants[0].uses = 0;
        m.http.grants[0].uses = 'lots';
        m.aws.grants.push({
          id: 'b',
          action: 's3:GetObject',
          resource: 'arn:aws:s3:::acme-uploads/b',
          uses: 1.5,
        });
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/uses',
          message: '0 is not valid here',
          fix: 'expected how many times the grant may be used: an integer from 1 to 1000000, or "unlimited" (default 1)',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/1/uses',
          message: 'must be an integer or a string, not a number',
          fix: 'expected how many times the grant may be used: an integer from 1 to 1000000, or "unlimited" (default 1)',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/uses',
          message: '"lots" is not valid here',
          fix: 'expected how many times the grant may be used: an integer from 1 to 1000000, or "unlimited" (default 1)',
        },
      ],
    },
    {
      name: 'lower-case method, unknown isolation, websocket "yes"',
      source: seedWith((m) => {
        m.http.grants[0].method = 'post';
        m.http.grants[0].websocket = 'yes';
        m.aws.isolation = 'none';
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/isolation',
          message: 'must be one of "task", "grant", not "none"',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/method',
          message: '"post" is not valid here',
          fix: 'expected an upper-case HTTP method such as GET or POST',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/websocket',
          message: 'must be true or false, not a string',
          fix: 'expected allow a WebSocket upgrade on this GET (default false)',
        },
      ],
    },
    {
      name: 'an empty grant list, an empty http section',
      source: seedWith((m) => {
        m.aws.grants = [];
        m.http = {};
      }),
      problems: [
        { code: 'ERR_MANIFEST_INVALID', path: '/aws/grants', message: 'must list at least 1 item(s)' },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http',
          message: 'the http section is empty',
          fix: 'add grants or passthrough, or remove the http section',
        },
      ],
    },
    {
      name: 'no aws and no http: a manifest that grants nothing',
      source: seedWith((m) => {
        delete m.aws;
        delete m.http;
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '',
          message: 'the manifest grants nothing: it has neither an aws nor an http section',
          fix: 'add aws.grants or http.grants',
        },
      ],
    },
    {
      name: 'the same ARN twice, a header that is not x-amz-*',
      source: seedWith((m) => {
        m.aws.grants[0].resource = ['arn:aws:s3:::acme-uploads/x', 'arn:aws:s3:::acme-uploads/x'];
        m.aws.grants[0].allowHeaders = ['Content-Type'];
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource',
          message: 'items 0 and 1 are the same',
          fix: 'remove the duplicate',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/allowHeaders/0',
          message: '"Content-Type" is not valid here',
          fix: 'expected a lower-case header name starting with x-amz-, e.g. x-amz-server-side-encryption',
        },
      ],
    },
    {
      name: 'port 0 and an upper-case passthrough host',
      source: seedWith((m) => {
        m.http.passthrough = [{ host: 'PyPI.org', port: 0 }];
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/passthrough/0/host',
          message: '"PyPI.org" is not valid here',
          fix: 'expected a lower-case DNS name without a trailing dot, e.g. pypi.org',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/passthrough/0/port',
          message: '0 is not valid here',
          fix: 'expected a TCP port, default 443',
        },
      ],
    },
  ];
  for (const row of rows) t.same(problemsOf(row.source), row.problems, row.name);
});

t.test('unknown keys are refused at every level, with a did-you-mean when one is close', async (t) => {
  const rows: { name: string; change: (m: Source) => void; path: string; fix: string }[] = [
    {
      name: 'root',
      change: (m) => {
        m.apiVersoin = 'x';
      },
      path: '/apiVersoin',
      fix: 'did you mean "apiVersion"?',
    },
    {
      name: 'task',
      change: (m) => {
        m.task.owner = 'x';
      },
      path: '/task/owner',
      fix: 'allowed keys here: id, purpose, user, expiresAt',
    },
    {
      name: 'task.user',
      change: (m) => {
        m.task.user.sesion = 'x';
      },
      path: '/task/user/sesion',
      fix: 'did you mean "session"?',
    },
    {
      name: 'aws',
      change: (m) => {
        m.aws.account = '1';
      },
      path: '/aws/account',
      fix: 'allowed keys here: region, roleArn, isolation, grants',
    },
    {
      name: 'aws grant',
      change: (m) => {
        m.aws.grants[0].resources = ['x'];
      },
      path: '/aws/grants/0/resources',
      fix: 'did you mean "resource"?',
    },
    {
      name: 'aws grant conditions',
      change: (m) => {
        m.aws.grants[0].conditions = { prefix: 'x' };
      },
      path: '/aws/grants/0/conditions/prefix',
      fix: 'did you mean "s3Prefix"?',
    },
    {
      name: 'http',
      change: (m) => {
        m.http.passthru = [];
      },
      path: '/http/passthru',
      fix: 'allowed keys here: grants, passthrough',
    },
    {
      name: 'http grant',
      change: (m) => {
        m.http.grants[0].unsafeAllowPlainHTTP = true;
      },
      path: '/http/grants/0/unsafeAllowPlainHTTP',
      fix: 'did you mean "unsafeAllowPlainHttp"?',
    },
    {
      name: 'inject',
      change: (m) => {
        m.http.grants[0].inject.secret = 'x';
      },
      path: '/http/grants/0/inject/secret',
      fix: 'allowed keys here: header, value, oauth',
    },
    {
      name: 'passthrough',
      change: (m) => {
        m.http.passthrough = [{ host: 'pypi.org', prot: 443 }];
      },
      path: '/http/passthrough/0/prot',
      fix: 'did you mean "port"?',
    },
  ];
  for (const row of rows) {
    const key = row.path.split('/').at(-1)!;
    t.same(
      problemsOf(seedWith(row.change)),
      [{ code: 'ERR_MANIFEST_INVALID', path: row.path, message: `unknown key "${key}"`, fix: row.fix }],
      row.name,
    );
  }
});

t.test('IAM actions and ARNs are checked against the real IAM catalogue', async (t) => {
  const grant = (g: Source) =>
    seedWith((m) => {
      delete m.http;
      m.aws.grants = [{ id: 'g', ...g }];
    });
  const rows: { name: string; source: Source; problems: Expected[] }[] = [
    {
      name: 'a misspelled action, with a did-you-mean',
      source: grant({ action: 's3:GetObjekt', resource: 'arn:aws:s3:::acme-uploads/x' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/action',
          message: '"s3:GetObjekt" is not an IAM action of s3',
          fix: 'did you mean "s3:GetObject"?',
        },
      ],
    },
    {
      name: 'an action spelled in the wrong case',
      source: grant({ action: 's3:getobject', resource: 'arn:aws:s3:::acme-uploads/x' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/action',
          message: 'IAM spells this action "s3:GetObject"',
          fix: 'write s3:GetObject',
        },
      ],
    },
    {
      name: 'an unknown service prefix',
      source: grant({ action: 's4:GetObject', resource: 'arn:aws:s3:::acme-uploads/x' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/action',
          message: 'unknown IAM service prefix "s4"',
          fix: 'did you mean "s3:GetObject"?',
        },
      ],
    },
    {
      name: 'a wildcard action is not even an action',
      source: grant({ action: 's3:*', resource: 'arn:aws:s3:::acme-uploads/x' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/action',
          message: '"s3:*" is not valid here',
          fix: 'expected one IAM action spelled as IAM spells it, e.g. s3:GetObject (no wildcards)',
        },
      ],
    },
    {
      name: 'an object ARN for s3:ListBucket',
      source: grant({ action: 's3:ListBucket', resource: 'arn:aws:s3:::acme-uploads/users/' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource',
          message:
            '"arn:aws:s3:::acme-uploads/users/" is of resource type "object", which s3:ListBucket does not act on',
          fix: 's3:ListBucket accepts: accesspoint (arn:${Partition}:s3:${Region}:${Account}:accesspoint/${AccessPointName}), bucket (arn:${Partition}:s3:::${BucketName})',
        },
      ],
    },
    {
      name: 'a bucket ARN for s3:GetObject',
      source: grant({
        action: 's3:GetObject',
        resource: ['arn:aws:s3:::acme-uploads/x', 'arn:aws:s3:::acme-uploads'],
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource/1',
          message:
            '"arn:aws:s3:::acme-uploads" is of resource type "bucket", which s3:GetObject does not act on',
          fix: 's3:GetObject accepts: accesspointobject (arn:${Partition}:s3:${Region}:${Account}:accesspoint/${AccessPointName}/object/${ObjectName}), object (arn:${Partition}:s3:::${BucketName}/${ObjectName})',
        },
      ],
    },
    {
      name: 'a DynamoDB index ARN for GetItem',
      source: grant({
        action: 'dynamodb:GetItem',
        resource: 'arn:aws:dynamodb:us-east-1:111122223333:table/orders/index/by-id',
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource',
          message:
            '"arn:aws:dynamodb:us-east-1:111122223333:table/orders/index/by-id" is of resource type "index", which dynamodb:GetItem does not act on',
          fix: 'dynamodb:GetItem accepts: table (arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName})',
        },
      ],
    },
    {
      name: 'an SQS queue ARN for s3:GetObject',
      source: grant({ action: 's3:GetObject', resource: 'arn:aws:sqs:us-east-1:111122223333:jobs' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource',
          message: '"arn:aws:sqs:us-east-1:111122223333:jobs" is not an ARN s3:GetObject acts on',
          fix: 's3:GetObject accepts: accesspointobject (arn:${Partition}:s3:${Region}:${Account}:accesspoint/${AccessPointName}/object/${ObjectName}), object (arn:${Partition}:s3:::${BucketName}/${ObjectName})',
        },
      ],
    },
    {
      name: 'a wildcard in resource suggests broadResource',
      source: grant({ action: 's3:GetObject', resource: 'arn:aws:s3:::acme-uploads/users/*' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource',
          message: 'resource must name exact ARNs; "arn:aws:s3:::acme-uploads/users/*" has a wildcard',
          fix: 'write the exact ARN, or move the pattern to broadResource (reviewers are warned about broad grants)',
        },
      ],
    },
    {
      name: 'a ? wildcard in resource',
      source: grant({ action: 's3:GetObject', resource: 'arn:aws:s3:::acme-uploads/report-?.pdf' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource',
          message: 'resource must name exact ARNs; "arn:aws:s3:::acme-uploads/report-?.pdf" has a wildcard',
          fix: 'write the exact ARN, or move the pattern to broadResource (reviewers are warned about broad grants)',
        },
      ],
    },
    {
      name: 'broadResource without a wildcard',
      source: grant({ action: 's3:GetObject', broadResource: 'arn:aws:s3:::acme-uploads/x' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/broadResource',
          message: '"arn:aws:s3:::acme-uploads/x" has no * or ?: it is an exact ARN',
          fix: 'move it to resource',
        },
      ],
    },
    {
      name: 'broadResource "*" for an action IAM can scope',
      source: grant({ action: 's3:GetObject', broadResource: '*' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/broadResource',
          message: '"*" would grant s3:GetObject on every resource the role can reach',
          fix: 'name at least the container, e.g. arn:${Partition}:s3:${Region}:${Account}:accesspoint/${AccessPointName}/object/${ObjectName} with * only in the part that varies',
        },
      ],
    },
    {
      name: 'a wildcard service in a pattern',
      source: grant({ action: 's3:GetObject', broadResource: 'arn:aws:*:::acme-uploads/*' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/broadResource',
          message: 'the partition and service of an ARN pattern must be written out',
          fix: 'e.g. arn:aws:s3:…',
        },
      ],
    },
    {
      name: 'a pattern for another service',
      source: grant({
        action: 's3:GetObject',
        broadResource: 'arn:aws:dynamodb:us-east-1:111122223333:table/*',
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/broadResource',
          message:
            '"arn:aws:dynamodb:us-east-1:111122223333:table/*" is a dynamodb ARN; s3:GetObject acts on s3 resources',
          fix: 's3:GetObject accepts: accesspointobject (arn:${Partition}:s3:${Region}:${Account}:accesspoint/${AccessPointName}/object/${ObjectName}), object (arn:${Partition}:s3:::${BucketName}/${ObjectName})',
        },
      ],
    },
    {
      name: 'an action IAM cannot scope, given a resource or a pattern',
      source: seedWith((m) => {
        delete m.http;
        m.aws.grants = [
          { id: 'a', action: 's3:ListAllMyBuckets', resource: 'arn:aws:s3:::acme-uploads' },
          { id: 'b', action: 's3:ListAllMyBuckets', broadResource: 'arn:aws:s3:::acme-*' },
        ];
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource',
          message: 's3:ListAllMyBuckets cannot be limited to a resource: IAM accepts only "*" for it',
          fix: 'use broadResource: "*" if the task really needs this action',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/1/broadResource',
          message: 'IAM accepts only "*" for s3:ListAllMyBuckets',
          fix: 'write broadResource: "*"',
        },
      ],
    },
    {
      name: 'an ARN in another partition, one in another region',
      source: seedWith((m) => {
        delete m.http;
        m.aws.grants = [
          { id: 'a', action: 's3:GetObject', resource: 'arn:aws-cn:s3:::acme-uploads/x' },
          {
            id: 'b',
            action: 'dynamodb:GetItem',
            resource: 'arn:aws:dynamodb:eu-west-1:111122223333:table/t',
          },
        ];
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource',
          message: 'the ARN is in partition "aws-cn" but the role is in "aws"',
          fix: 'write arn:aws:…',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/1/resource',
          message: 'the ARN is in region "eu-west-1" but the manifest signs for "us-east-1"',
          fix: 'use a resource in aws.region, or a separate manifest for the other region',
        },
      ],
    },
    {
      name: 'a role in another partition than the region',
      source: seedWith((m) => {
        delete m.http;
        m.aws.region = 'us-gov-west-1';
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/roleArn',
          message: 'the role is in partition "aws" but region "us-gov-west-1" is in "aws-us-gov"',
          fix: 'use a role and a region of the same partition',
        },
      ],
    },
    {
      name: 'an invalid bucket name',
      source: grant({ action: 's3:GetObject', resource: 'arn:aws:s3:::Acme_Uploads/x' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource',
          message: '"Acme_Uploads" is not a valid S3 bucket name',
          fix: '3-63 characters from a-z 0-9 . and -, starting and ending with a letter or digit',
        },
      ],
    },
    {
      name: 'not an ARN at all',
      source: grant({ action: 's3:GetObject', resource: 'arn:aws:s3' }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/resource',
          message: '"arn:aws:s3" is not an ARN',
          fix: 'write arn:partition:service:region:account:resource',
        },
      ],
    },
    {
      name: 's3Prefix on another action; a signing header in allowHeaders',
      source: grant({
        action: 's3:GetObject',
        resource: 'arn:aws:s3:::acme-uploads/x',
        conditions: { s3Prefix: 'users/' },
        allowHeaders: ['x-amz-server-side-encryption', 'x-amz-security-token'],
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/conditions/s3Prefix',
          message: 's3Prefix applies only to s3:ListBucket',
          fix: 'remove conditions.s3Prefix, or grant s3:ListBucket on the bucket',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/allowHeaders/1',
          message:
            'x-amz-security-token belongs to SigV4 signing and body framing, which Errand does itself; the agent may never set it',
          fix: 'remove it from allowHeaders',
        },
      ],
    },
    {
      name: 'an s3Prefix with a wildcard',
      source: grant({
        action: 's3:ListBucket',
        resource: 'arn:aws:s3:::acme-uploads',
        conditions: { s3Prefix: 'users/*' },
      }),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/conditions/s3Prefix',
          message: '"users/*" is not valid here',
          fix: 'expected a key prefix of 1-1024 characters without * or ? and not starting with /, e.g. users/alice/',
        },
      ],
    },
  ];
  for (const row of rows) t.same(problemsOf(row.source), row.problems, row.name);
});

t.test('the deadline: not past, at most 12 h ahead, a real date', async (t) => {
  const at = (expiresAt: string, now = NOW) =>
    problemsOf(
      seedWith((m) => {
        m.task.expiresAt = expiresAt;
      }),
      now,
    );
  t.same(at('2026-11-29T19:00:00Z'), [
    {
      code: 'ERR_MANIFEST_EXPIRED',
      path: '/task/expiresAt',
      message: 'the manifest expired at 2026-11-29T19:00:00Z (now is 2026-11-29T19:00:00Z)',
      fix: 'issue a new manifest with a later expiresAt',
    },
  ]);
  t.equal(at('2026-11-29T19:00:01Z'), 'loaded', 'one second ahead loads');
  t.equal(at('2026-11-30T07:00:00Z'), 'loaded', 'exactly 12 h ahead loads');
  t.equal(MAX_MANIFEST_TTL_MS, 12 * 3600 * 1000);
  t.same(at('2026-11-30T07:00:01Z'), [
    {
      code: 'ERR_MANIFEST_INVALID',
      path: '/task/expiresAt',
      message: 'expiresAt is 12.0 h from now; a manifest may live at most 12 h',
      fix: 'set expiresAt no later than 2026-11-30T07:00:00Z',
    },
  ]);
  t.same(at('2026-02-30T20:05:00Z'), [
    {
      code: 'ERR_MANIFEST_INVALID',
      path: '/task/expiresAt',
      message: '"2026-02-30T20:05:00Z" is not a real date and time',
    },
  ]);
  t.same(at('2026-11-29T24:05:00Z'), [
    {
      code: 'ERR_MANIFEST_INVALID',
      path: '/task/expiresAt',
      message: '"2026-11-29T24:05:00Z" is not a real date and time',
    },
  ]);
});

t.test('HTTP grants: methods, websockets, injection, plain http, passthrough conflicts', async (t) => {
  const rows: { name: string; change: (m: Source) => void; problems: Expected[] }[] = [
    {
      name: 'CONNECT belongs to passthrough',
      change: (m) => {
        m.http.grants[0].method = 'CONNECT';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/method',
          message: 'CONNECT is not an HTTP grant',
          fix: 'list the host under http.passthrough',
        },
      ],
    },
    {
      name: 'TRACE reflects injected secrets',
      change: (m) => {
        m.http.grants[0].method = 'TRACE';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/method',
          message: 'TRACE echoes the request, including injected secrets, back to the agent',
          fix: 'remove the grant',
        },
      ],
    },
    {
      name: 'a websocket on POST',
      change: (m) => {
        m.http.grants[0].websocket = true;
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/websocket',
          message: 'a WebSocket opening handshake is a GET (RFC 6455 §4.1), not POST',
          fix: 'set method: GET',
        },
      ],
    },
    {
      name: 'injecting a framing header',
      change: (m) => {
        m.http.grants[0].inject.header = 'Content-Length';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/inject/header',
          message: 'Content-Length is a connection or framing header that Errand sets itself',
          fix: 'inject an authentication header such as Authorization',
        },
      ],
    },
    {
      name: 'two placeholders',
      change: (m) => {
        m.http.grants[0].inject.value = '${secret:a}:${secret:b}';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/inject/value',
          message:
            'inject.value must hold exactly one ${secret:NAME} placeholder and no other ${…}; it has 2',
          fix: 'e.g. value: "Bearer ${secret:api-token}"',
        },
      ],
    },
    {
      name: 'no placeholder: a literal secret in the manifest',
      change: (m) => {
        m.http.grants[0].inject.value = 'Bearer abc123';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/inject/value',
          message:
            'inject.value must hold exactly one ${secret:NAME} placeholder and no other ${…}; it has 0',
          fix: 'e.g. value: "Bearer ${secret:api-token}"',
        },
      ],
    },
    {
      name: 'another kind of placeholder',
      change: (m) => {
        m.http.grants[0].inject.value = '${secret:a} ${env:HOME}';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/inject/value',
          message:
            'inject.value must hold exactly one ${secret:NAME} placeholder and no other ${…}; it has 1',
          fix: 'e.g. value: "Bearer ${secret:api-token}"',
        },
      ],
    },
    {
      name: 'a secret name that walks out of the secrets directory',
      change: (m) => {
        m.http.grants[0].inject.value = 'Bearer ${secret:../../etc/shadow}';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/inject/value',
          message: 'secret name "../../etc/shadow" is not valid',
          fix: 'a secret name is 1-128 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit (a file name in the secrets directory)',
        },
      ],
    },
    {
      name: 'a header value with CR LF',
      change: (m) => {
        m.http.grants[0].inject.value = 'Bearer ${secret:a}\r\nX-Evil: 1';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/inject/value',
          message: '"Bearer ${secret:a}\\r\\nX-Evil: 1" is not valid here',
          fix: 'expected printable header text with exactly one ${secret:NAME} placeholder, e.g. Bearer ${secret:api-token}',
        },
      ],
    },
    {
      name: 'http:// without its unsafe switch',
      change: (m) => {
        m.http.grants[0].url = 'http://api.acme.dev/v1/summaries';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/url',
          message: 'an http:// URL sends the request, and any injected secret, in clear text',
          fix: 'use https://, or set unsafeAllowPlainHttp: true if the server speaks only http',
        },
      ],
    },
    {
      name: 'the unsafe switch on an https URL',
      change: (m) => {
        m.http.grants[0].unsafeAllowPlainHttp = true;
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/unsafeAllowPlainHttp',
          message: 'unsafeAllowPlainHttp is set but the URL is https://',
          fix: 'remove unsafeAllowPlainHttp: an unsafe switch must be needed to be written',
        },
      ],
    },
    {
      name: 'a non-canonical URL shows the canonical form',
      change: (m) => {
        m.http.grants[0].url = 'https://API.acme.dev:443/v1/./summaries';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/url',
          message:
            'the URL is not canonical: the host must be lower-case; the default port 443 is implied; dot segments (. and ..) are not allowed',
          fix: 'write https://api.acme.dev/v1/summaries',
        },
      ],
    },
    {
      name: 'a passthrough host that is also a grant host, and a duplicate passthrough',
      change: (m) => {
        m.http.passthrough = [
          { host: 'api.acme.dev' },
          { host: 'pypi.org', port: 443 },
          { host: 'pypi.org' },
        ];
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/passthrough/0/host',
          message:
            '"api.acme.dev" is also the host of HTTP grant "post-summary": a passthrough tunnel is not inspected, so the grant\'s method, URL and use limits could be bypassed',
          fix: 'remove the passthrough entry or the grant',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/passthrough/2',
          message: 'passthrough pypi.org:443 is already listed at /http/passthrough/1',
          fix: 'remove the duplicate',
        },
      ],
    },
    {
      name: 'the same grant id on the AWS and the HTTP side',
      change: (m) => {
        m.http.grants[0].id = 'read-report';
      },
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/http/grants/0/id',
          message: 'grant id "read-report" is already used at /aws/grants/0/id',
          fix: 'give every grant its own id',
        },
      ],
    },
  ];
  for (const row of rows) t.same(problemsOf(seedWith(row.change)), row.problems, row.name);
});

t.test('problems carry line and column, and locate() finds paths in a loaded manifest', async (t) => {
  const text = [
    'apiVersion: errand.dev/v1', // 1
    'kind: TaskManifest', // 2
    'task:', // 3
    '  id: tsk_1', // 4
    '  purpose: p', // 5
    '  user: { subject: al, session: s, extra: 1 }', // 6
    '  expiresAt: 2026-11-29T20:05:00Z', // 7
    'aws:', // 8
    '  region: us-east-1', // 9
    '  roleArn: arn:aws:iam::111122223333:role/r', // 10
    '  grants:', // 11
    '    - id: g', // 12
    '      action: s3:GetObjekt', // 13
    '      resource: arn:aws:s3:::b-1/x', // 14
    '',
  ].join('\n');
  const r = load(text);
  t.same(r.ok ? [] : r.problems.map((p) => [p.line, p.column, p.code, p.path]), [
    [6, 36, 'ERR_MANIFEST_INVALID', '/task/user/extra'],
    [13, 15, 'ERR_MANIFEST_INVALID', '/aws/grants/0/action'],
  ]);
  const fixed = text.replace(', extra: 1', '').replace('GetObjekt', 'GetObject');
  const ok = load(fixed);
  if (!ok.ok) return t.fail('fixed text must load');
  t.same(ok.locate('/aws/grants/0/action'), { line: 13, column: 15 });
  t.same(ok.locate('/aws/grants/0'), { line: 12, column: 7 });
  t.same(ok.locate('/task/user/subject'), { line: 6, column: 20 });
  t.same(
    ok.locate('/aws/grants/5/action'),
    { line: 12, column: 5 },
    'a missing item points at the deepest node that exists',
  );
  t.same(ok.locate(''), { line: 1, column: 1 });
});

t.test('a missing key points at its parent mapping', async (t) => {
  const text =
    'apiVersion: errand.dev/v1\nkind: TaskManifest\ntask:\n  id: tsk_1\n  purpose: p\n  expiresAt: 2026-11-29T20:05:00Z\nhttp:\n  passthrough: [{host: pypi.org}]\n';
  const r = load(text);
  t.same(r.ok ? [] : r.problems.map((p) => [p.line, p.column, p.message]), [
    [4, 3, 'missing required key "user"'],
  ]);
});

t.test(
  'formatProblems prints one line per problem: file:line:col: CODE path: message (fix: …)',
  async (t) => {
    t.equal(
      formatProblems('m.yaml', [
        { code: 'ERR_MANIFEST_INVALID', path: '/task/id', line: 4, column: 7, message: 'bad', fix: 'good' },
        { code: 'ERR_MANIFEST_SYNTAX', path: '', line: 1, column: 1, message: 'worse' },
      ]),
      'm.yaml:4:7: ERR_MANIFEST_INVALID /task/id: bad (fix: good)\nm.yaml:1:1: ERR_MANIFEST_SYNTAX worse\n',
    );
    t.equal(formatProblems('m.yaml', []), '');
  },
);

t.test('the schema file is valid draft-07 and is what the validator uses', async (t) => {
  const file = JSON.parse(
    readFileSync(new URL('../../schema/manifest.schema.json', import.meta.url), 'utf8'),
  );
  const ajv = new Ajv({ strict: false });
  t.equal(ajv.validateSchema(file), true, JSON.stringify(ajv.errors));
  t.equal(file.$schema, 'http://json-schema.org/draft-07/schema#');
  t.same(MANIFEST_SCHEMA, file);
  t.ok(Object.isFrozen(MANIFEST_SCHEMA));
});

t.test('every example loads cleanly just before its deadline', async (t) => {
  const dir = new URL('../../examples/', import.meta.url);
  const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f));
  t.ok(files.includes('summarize-report.yaml'), 'the seed case is an example');
  t.ok(files.length >= 4, 'the seed case and at least three more');
  for (const file of files) {
    const text = readFileSync(new URL(file, dir), 'utf8');
    const expiresAt = /expiresAt: (\S+)/.exec(text)?.[1];
    const r = loadManifestText(text, { now: Date.parse(expiresAt!) - 60_000, checker, fileName: file });
    t.equal(r.ok ? 'loaded' : formatProblems(file, r.problems), 'loaded', file);
  }
});

t.test(
  'loadManifestFile: reads bytes, refuses bad UTF-8 and unsigned-looking JWS without a key',
  async (t) => {
    const dir = t.testdir({
      'ok.yaml': toYaml(seed()),
      'latin1.yaml': Buffer.concat([
        Buffer.from(toYaml(seed()).replace('Summarize', 'Summarize caf')),
        Buffer.from([0xe9]),
      ]),
      'signed.jws': 'eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln\n',
      'huge.yaml': 'x'.repeat(600 * 1024),
    });
    const ok = await loadManifestFile(`${dir}/ok.yaml`, { now: NOW, checker });
    t.equal(ok.ok, true);
    if (ok.ok) t.equal(ok.loaded.sha256, createHash('sha256').update(toYaml(seed())).digest('hex'));
    const cases: [string, Expected][] = [
      ['missing.yaml', { code: 'ERR_MANIFEST_READ', path: '', message: 'cannot read the file (ENOENT)' }],
      [
        'latin1.yaml',
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          message: 'the file is not valid UTF-8',
          fix: 'save the manifest as UTF-8',
        },
      ],
      [
        'signed.jws',
        {
          code: 'ERR_JWS_KEY',
          path: '',
          message: 'this is a signed manifest (compact JWS): a trusted public key is needed to verify it',
          fix: 'pass the orchestrator public key with --trust-key',
        },
      ],
      [
        'huge.yaml',
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '',
          message: 'the file is 614400 bytes; the limit is 262144',
          fix: 'a manifest names one task: split unrelated work into separate tasks',
        },
      ],
    ];
    for (const [file, expected] of cases) {
      const r = await loadManifestFile(`${dir}/${file}`, { now: NOW, checker });
      t.same(
        r.ok
          ? 'loaded'
          : r.problems.map(({ code, path, message, fix }) => ({
              code,
              path,
              message,
              ...(fix ? { fix } : {}),
            })),
        [expected],
        file,
      );
    }
    const keyless = await loadManifestFile(`${dir}/signed.jws`, {
      now: NOW,
      checker,
      trustKey: `${dir}/no-such.pem`,
    });
    t.same(keyless.ok ? [] : keyless.problems.map((p) => [p.code, p.message]), [
      ['ERR_JWS_KEY', 'the trusted key cannot be used: cannot read the key file (ENOENT)'],
    ]);
  },
);
