// The Helm chart, rendered by the real helm binary (pinned, built by scripts/setup-helm.sh): golden
// renders for Kubernetes 1.29 and 1.33 in each egress mode, the properties that make the pod safe
// (checked on the parsed objects, not the text), strict Kubernetes schemas for every rendered object,
// and every refusal with the message an operator sees.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { verifyManifestJws } from '../../src/manifest/jws.ts';
import { parseTrustKey } from '../../src/manifest/keys.ts';
import { REPO_ROOT } from '../helpers/moto.ts';
import { PLACEHOLDER_CREDENTIALS } from '../helpers/real-clients.ts';

const HELM = join(REPO_ROOT, '.cache', 'bin', 'helm');
const TASK_CHART = join(REPO_ROOT, 'helm', 'errand-task');
const LIBRARY_CHART = join(REPO_ROOT, 'helm', 'errand');
const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'helm');
const PROBE_CHART = join(FIXTURES, 'probe-chart');
const GOLDEN_DIR = join(FIXTURES, 'golden');
const UPDATE_GOLDEN = process.env['ERRAND_UPDATE_GOLDEN'] === '1';
/** Bound on one helm process. */
const HELM_TIMEOUT_MS = 20_000;

// No silent skip: CI builds helm (scripts/setup.sh); a machine without it fails here, saying how to fix it.
if (!existsSync(HELM)) throw new Error(`${HELM} is missing: run bash scripts/setup-helm.sh`);

interface HelmResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runHelm(args: readonly string[], stdin = ''): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(HELM, args, {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir(), HELM_CACHE_HOME: tmpdir() },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: HELM_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** Helm's message without its "Error: execution error at (file:line:col): " prefix. */
const helmError = (r: HelmResult): string =>
  (r.stderr.split('\n').find((l) => l.startsWith('Error:')) ?? r.stderr).replace(
    /^Error: (execution error at \([^)]*\): )?/,
    '',
  );

type Obj = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
};
interface EnvVar {
  name: string;
  value?: string;
}
interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface Container {
  name: string;
  image: string;
  restartPolicy?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: unknown[];
  volumeMounts?: Mount[];
  securityContext?: Record<string, unknown> & {
    runAsUser?: number;
    runAsNonRoot?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
    seccompProfile?: { type: string };
  };
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  ports?: { name: string; containerPort: number }[];
}
interface Volume {
  name: string;
  [source: string]: unknown;
}
interface PodSpec {
  containers: Container[];
  initContainers: Container[];
  volumes: Volume[];
  automountServiceAccountToken?: boolean;
  shareProcessNamespace?: boolean;
  hostNetwork?: boolean;
  securityContext?: Record<string, unknown>;
}

const parseDocs = (text: string): Obj[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => d !== null);

const byKind = (docs: Obj[], kind: string): Obj[] => docs.filter((d) => d.kind === kind);
const jobOf = (docs: Obj[]) => {
  const [job] = byKind(docs, 'Job');
  if (!job) throw new Error('no Job rendered');
  return job as Obj & {
    spec: { template: { metadata: { annotations: Record<string, string> }; spec: PodSpec } };
  };
};

const JWS = (await readFile(join(FIXTURES, 'task.jws'), 'utf8')).trim();
const TRUST_PEM = await readFile(join(FIXTURES, 'orchestrator.pub.pem'), 'utf8');
const GOLDEN_VALUES = join(FIXTURES, 'values-golden.yaml');
const ERRAND_UID = 64750;

const taskArgs = (kube: string, extra: readonly string[] = []): string[] => [
  'template',
  'task-01jd8q7zk3',
  TASK_CHART,
  '--namespace',
  'agents',
  '--kube-version',
  kube,
  '-f',
  GOLDEN_VALUES,
  '--set-string',
  `errand.manifest.content=${JWS}`,
  ...extra,
];

// ---- The renders: 1.29 and 1.33 × the three egress modes, all at once (each helm run is ~100 ms).
const KUBES = ['1.29.0', '1.33.0'] as const;
const MODES = ['none', 'initContainer', 'cni'] as const;
const renders = await Promise.all(
  KUBES.flatMap((kube) =>
    MODES.map(async (mode) => {
      const r = await runHelm(taskArgs(kube, ['--set', `errand.egress.mode=${mode}`]));
      return { kube, mode, r, docs: r.code === 0 ? parseDocs(r.stdout) : [] };
    }),
  ),
);

t.test('golden renders: Kubernetes 1.29 and 1.33, each egress mode', async (t) => {
  for (const { kube, mode, r } of renders) {
    t.equal(r.code, 0, `${kube} ${mode} renders: ${r.stderr}`);
    const file = join(GOLDEN_DIR, `k8s-${kube.replace(/\.0$/, '')}-egress-${mode}.yaml`);
    if (UPDATE_GOLDEN) await writeFile(file, r.stdout);
    t.equal(r.stdout, await readFile(file, 'utf8'), `${file} (ERRAND_UPDATE_GOLDEN=1 rewrites it)`);
  }
});

const CREDENTIAL_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_PROFILE',
];
const ERRAND_CONTAINERS = new Set(['errand', 'errand-netinit', 'errand-netinit-v6']);
const agentContainers = (spec: PodSpec): Container[] => [
  ...spec.containers,
  ...spec.initContainers.filter((c) => !ERRAND_CONTAINERS.has(c.name)),
];
const envOf = (c: Container): Map<string, string | undefined> =>
  new Map((c.env ?? []).map((e) => [e.name, e.value]));
const errandOf = (spec: PodSpec): Container => {
  const errand = spec.initContainers.find((c) => c.name === 'errand');
  if (!errand) throw new Error('no errand init container');
  return errand;
};
/** Volumes that carry a credential or the manifest: a service-account token, a Secret, the task. */
const sensitiveVolumes = (spec: PodSpec): Set<string> =>
  new Set(
    spec.volumes
      .filter((v) => {
        const sources = ((v['projected'] as { sources?: Record<string, unknown>[] })?.sources ?? []).map(
          (s) => Object.keys(s),
        );
        return (
          v['secret'] !== undefined ||
          sources.some((k) => k.includes('serviceAccountToken') || k.includes('secret')) ||
          v.name === 'errand-task'
        );
      })
      .map((v) => v.name),
  );

t.test('the agent containers: placeholders only, no token, every variable leads to Errand', async (t) => {
  for (const { kube, mode, docs } of renders) {
    const spec = jobOf(docs).spec.template.spec;
    const sensitive = sensitiveVolumes(spec);
    t.ok(
      sensitive.has('errand-aws-token') && sensitive.has('errand-task'),
      'the token and task volumes exist',
    );
    for (const c of agentContainers(spec)) {
      const env = envOf(c);
      const at = `${kube} ${mode} ${c.name}`;
      for (const name of CREDENTIAL_VARIABLES) {
        if (name === 'AWS_ACCESS_KEY_ID')
          t.equal(env.get(name), PLACEHOLDER_CREDENTIALS.accessKeyId, `${at} ${name}`);
        else if (name === 'AWS_SECRET_ACCESS_KEY')
          t.equal(env.get(name), PLACEHOLDER_CREDENTIALS.secretAccessKey, `${at} ${name}`);
        else t.notOk(env.has(name), `${at} has no ${name}`);
      }
      t.same(c.envFrom, undefined, `${at} has no envFrom`);
      t.same(
        (c.volumeMounts ?? []).filter((m) => sensitive.has(m.name)),
        [],
        `${at} mounts no token, Secret or manifest volume`,
      );
      const caMount = (c.volumeMounts ?? []).find((m) => m.name === 'errand-ca');
      t.same(
        caMount,
        { name: 'errand-ca', mountPath: '/var/run/errand-ca', readOnly: true },
        `${at} CA read-only`,
      );
      t.equal(env.get('AWS_ENDPOINT_URL'), 'http://127.0.0.1:4750', `${at} AWS_ENDPOINT_URL`);
      t.equal(env.get('AWS_EC2_METADATA_DISABLED'), 'true', `${at} IMDS off`);
      for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'])
        t.equal(env.get(name), 'http://127.0.0.1:4751', `${at} ${name}`);
      t.equal(env.get('NO_PROXY'), '127.0.0.1,localhost', `${at} NO_PROXY keeps the AWS endpoint direct`);
      t.equal(env.get('NODE_USE_ENV_PROXY'), '1', `${at} NODE_USE_ENV_PROXY`);
      for (const name of ['AWS_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'CURL_CA_BUNDLE'])
        t.equal(env.get(name), '/var/run/errand-ca/ca-bundle.pem', `${at} ${name}`);
      t.equal(env.get('NODE_EXTRA_CA_CERTS'), '/var/run/errand-ca/ca.pem', `${at} NODE_EXTRA_CA_CERTS`);
      t.not(c.securityContext?.runAsUser, ERRAND_UID, `${at} runs as a UID other than Errand's`);
    }
  }
});

t.test(
  'Errand: a native sidecar that gates the agent, with the identity and manifest to itself',
  async (t) => {
    for (const { kube, mode, docs } of renders) {
      const job = jobOf(docs);
      const spec = job.spec.template.spec;
      const errand = errandOf(spec);
      const at = `${kube} ${mode}`;
      t.equal(errand.restartPolicy, 'Always', `${at}: native sidecar`);
      t.same(
        errand.startupProbe?.httpGet,
        { path: '/readyz', port: 'errand-ops' },
        `${at}: startupProbe /readyz`,
      );
      t.same(
        errand.readinessProbe?.httpGet,
        { path: '/readyz', port: 'errand-ops' },
        `${at}: readinessProbe`,
      );
      t.same(errand.livenessProbe?.httpGet, { path: '/livez', port: 'errand-ops' }, `${at}: livenessProbe`);
      t.same(
        errand.ports,
        [{ name: 'errand-ops', containerPort: 4752, protocol: 'TCP' }],
        `${at}: the ops port`,
      );
      t.equal(errand.securityContext?.runAsUser, ERRAND_UID, `${at}: Errand's UID`);
      // Order: the egress rules, then Errand, then the agent's own init containers.
      const names = spec.initContainers.map((c) => c.name);
      t.same(
        names,
        mode === 'initContainer' ? ['errand-netinit', 'errand-netinit-v6', 'errand'] : ['errand'],
        `${at}: init container order`,
      );
      t.same(
        errand.args,
        [
          'run',
          '--manifest=/etc/errand/task/task.jws',
          '--trust-key=/etc/errand/task/trust-key.pem',
          '--audience=errand',
          '--listen=127.0.0.1:4750',
          '--proxy-listen=127.0.0.1:4751',
          '--ops-listen=0.0.0.0:4752',
          '--state-dir=/var/lib/errand',
          '--ca-dir=/var/run/errand-ca',
          '--secrets-dir=/etc/errand/secrets',
          '--log-level=info',
        ],
        `${at}: errand run flags`,
      );
      const env = envOf(errand);
      t.equal(
        env.get('ERRAND_TRANSPARENT_LISTEN'),
        mode === 'initContainer' ? '127.0.0.1:4753' : undefined,
        `${at}: the transparent listener, where the iptables rules redirect`,
      );
      t.equal(env.get('AWS_ROLE_ARN'), 'arn:aws:iam::111122223333:role/errand-source', `${at}: IRSA role`);
      t.equal(
        env.get('AWS_WEB_IDENTITY_TOKEN_FILE'),
        '/var/run/secrets/eks.amazonaws.com/serviceaccount/token',
        `${at}: IRSA token file`,
      );
      // Every sensitive volume is mounted by Errand, and by nothing else.
      for (const name of sensitiveVolumes(spec)) {
        const holders = [...spec.containers, ...spec.initContainers]
          .filter((c) => (c.volumeMounts ?? []).some((m) => m.name === name))
          .map((c) => c.name);
        t.same(holders, ['errand'], `${at}: only Errand mounts ${name}`);
      }
      const token = spec.volumes.find((v) => v.name === 'errand-aws-token');
      t.same(
        token,
        {
          name: 'errand-aws-token',
          projected: {
            sources: [
              {
                serviceAccountToken: {
                  audience: 'sts.amazonaws.com',
                  expirationSeconds: 86400,
                  path: 'token',
                },
              },
            ],
          },
        },
        `${at}: the projected token, audience sts.amazonaws.com`,
      );
      t.equal(spec.automountServiceAccountToken, false, `${at}: automountServiceAccountToken false`);
      t.equal(spec.shareProcessNamespace, false, `${at}: shareProcessNamespace false`);
      t.equal(
        spec.securityContext?.['fsGroup'],
        ERRAND_UID,
        `${at}: fsGroup lets non-root Errand read its token`,
      );
      const annotations = job.spec.template.metadata.annotations;
      t.equal(
        annotations['eks.amazonaws.com/skip-containers'],
        'agent,errand',
        `${at}: webhook skips every container`,
      );
      t.equal(annotations['errand.dev/egress'], mode, `${at}: egress annotation`);
      t.equal(
        annotations['errand.dev/errand-uid'],
        String(ERRAND_UID),
        `${at}: UID annotation for CNI plugins`,
      );
    }
  },
);

t.test('the manifest hash annotation is the sha256 Errand computes and audits', async (t) => {
  const payload = JSON.parse(Buffer.from(JWS.split('.')[1]!, 'base64url').toString()) as { iat: number };
  const loaded = await verifyManifestJws(JWS, {
    trustKey: parseTrustKey(TRUST_PEM),
    audience: 'errand',
    now: payload.iat * 1000,
  });
  const docs = renders[0]!.docs;
  t.equal(jobOf(docs).spec.template.metadata.annotations['errand.dev/manifest-sha256'], loaded.sha256);
  const [secret] = byKind(docs, 'Secret') as (Obj & { immutable: boolean; data: Record<string, string> })[];
  t.equal(
    secret?.metadata.name,
    `task-01jd8q7zk3-manifest-${loaded.sha256.slice(0, 12)}`,
    'named after its hash',
  );
  t.equal(secret?.immutable, true, 'immutable');
  t.equal(
    Buffer.from(secret?.data['task.jws'] ?? '', 'base64').toString(),
    JWS,
    'holds the JWS byte for byte',
  );
});

// ---- Pod Security "restricted" (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
const RESTRICTED_VOLUMES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
function restrictedViolations(spec: PodSpec, only?: (c: Container) => boolean): string[] {
  const out: string[] = [];
  const podSc = (spec.securityContext ?? {}) as { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const)
    if ((spec as unknown as Record<string, unknown>)[field]) out.push(`pod: ${field}`);
  for (const v of spec.volumes) {
    const type = Object.keys(v).find((k) => k !== 'name')!;
    if (!RESTRICTED_VOLUMES.has(type)) out.push(`volume ${v.name}: ${type}`);
  }
  for (const c of [...spec.initContainers, ...spec.containers].filter(only ?? (() => true))) {
    const sc = c.securityContext ?? {};
    if (sc['privileged'] === true) out.push(`${c.name}: privileged`);
    if (sc['allowPrivilegeEscalation'] !== false) out.push(`${c.name}: allowPrivilegeEscalation`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${c.name}: capabilities not dropped`);
    for (const cap of sc.capabilities?.add ?? [])
      if (cap !== 'NET_BIND_SERVICE') out.push(`${c.name}: adds ${cap}`);
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) out.push(`${c.name}: runAsNonRoot`);
    if (sc.runAsUser === 0) out.push(`${c.name}: runAsUser 0`);
    const seccomp = (sc.seccompProfile ?? podSc.seccompProfile)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`${c.name}: seccompProfile`);
  }
  return out;
}

t.test(
  'Pod Security "restricted" for all Errand adds; initContainer mode is the documented exception',
  async (t) => {
    for (const { kube, mode, docs } of renders) {
      const spec = jobOf(docs).spec.template.spec;
      t.same(
        restrictedViolations(spec, (c) => c.name === 'errand'),
        [],
        `${kube} ${mode}: the errand sidecar`,
      );
      t.same(
        restrictedViolations(spec),
        mode === 'initContainer'
          ? [
              'errand-netinit: adds NET_ADMIN',
              'errand-netinit: adds NET_RAW',
              'errand-netinit: runAsNonRoot',
              'errand-netinit: runAsUser 0',
              'errand-netinit-v6: adds NET_ADMIN',
              'errand-netinit-v6: adds NET_RAW',
              'errand-netinit-v6: runAsNonRoot',
              'errand-netinit-v6: runAsUser 0',
            ]
          : [],
        `${kube} ${mode}: the whole pod`,
      );
    }
    // The checker can fail: a privileged agent is a violation it reports.
    const spec = jobOf(renders[0]!.docs).spec.template.spec;
    const bad = structuredClone(spec);
    bad.containers[0]!.securityContext = { privileged: true, runAsUser: 0 };
    t.same(
      restrictedViolations(bad, (c) => c.name === 'agent'),
      [
        'agent: privileged',
        'agent: allowPrivilegeEscalation',
        'agent: capabilities not dropped',
        'agent: runAsUser 0',
      ],
    );
  },
);

t.test(
  'egress: iptables rules for every UID but Errand, and a NetworkPolicy that never reaches IMDS',
  async (t) => {
    const init = renders.find((r) => r.mode === 'initContainer')!;
    const [rules] = byKind(init.docs, 'ConfigMap') as (Obj & { data: Record<string, string> })[];
    const v4 = (rules?.data['rules.v4'] ?? '').split('\n');
    t.ok(v4.includes(`-A ERRAND_REDIRECT -m owner --uid-owner ${ERRAND_UID} -j RETURN`), 'Errand is exempt');
    t.same(
      v4.filter((line) => line.includes('-j REDIRECT')),
      [
        '-A ERRAND_REDIRECT -p tcp --dport 443 -j REDIRECT --to-ports 4753',
        '-A ERRAND_REDIRECT -p tcp --dport 80 -j REDIRECT --to-ports 4753',
      ],
      'only ports 443 and 80 go to the transparent listener (it cannot learn the original port)',
    );
    t.ok(
      v4.indexOf('-A ERRAND_EGRESS -p tcp -j REJECT --reject-with tcp-reset') >
        v4.indexOf('-A ERRAND_EGRESS -o lo -j RETURN'),
    );
    t.match(
      rules?.data['rules.v6'] ?? '',
      /-A ERRAND_EGRESS -j REJECT --reject-with icmp6-port-unreachable/,
      'no IPv6 way out',
    );
    const initSpec = jobOf(init.docs).spec.template.spec;
    t.same(
      initSpec.initContainers.filter((c) => c.name.startsWith('errand-netinit')).map((c) => c.command),
      [
        ['iptables-restore', '--wait', '/etc/errand/netinit/rules.v4'],
        ['ip6tables-restore', '--wait', '/etc/errand/netinit/rules.v6'],
      ],
    );
    for (const { kube, mode, docs } of renders) {
      t.equal(
        byKind(docs, 'ConfigMap').length,
        mode === 'initContainer' ? 1 : 0,
        `${kube} ${mode}: rules only when used`,
      );
      const [np] = byKind(docs, 'NetworkPolicy') as (Obj & {
        spec: {
          policyTypes: string[];
          egress: { to: { ipBlock?: { cidr: string; except?: string[] } }[] }[];
        };
      })[];
      t.same(np?.spec.policyTypes, ['Ingress', 'Egress'], `${kube} ${mode}: both directions isolated`);
      for (const rule of np?.spec.egress ?? [])
        for (const peer of rule.to)
          if (peer.ipBlock?.cidr === '0.0.0.0/0')
            t.ok(
              peer.ipBlock.except?.includes('169.254.0.0/16'),
              `${kube} ${mode}: link-local (IMDS) excepted`,
            );
    }
  },
);

// ---- Strict Kubernetes schemas (test/fixtures/helm/k8s-schemas) for every rendered object.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
for (const kube of KUBES) {
  const schema = JSON.parse(
    await readFile(join(FIXTURES, 'k8s-schemas', `v${kube}-strict.json`), 'utf8'),
  ) as object;
  ajv.addSchema({ ...schema, $id: `k8s-${kube}` });
}
const schemaErrors = (kube: string, obj: Obj): string => {
  const ref = `${obj['apiVersion'] as string}/${obj.kind}`.replaceAll('~', '~0').replaceAll('/', '~1');
  const validate = ajv.getSchema(`k8s-${kube}#/$defs/${ref}`);
  if (!validate) return `no schema for ${obj['apiVersion'] as string}/${obj.kind}`;
  return validate(obj) ? '' : ajv.errorsText(validate.errors);
};

t.test('every rendered object passes the strict Kubernetes schema of its version', async (t) => {
  for (const { kube, mode, docs } of renders) {
    t.same(
      docs.map((d) => d.kind).sort(),
      [
        'Job',
        'NetworkPolicy',
        'Secret',
        'ServiceAccount',
        ...(mode === 'initContainer' ? ['ConfigMap'] : []),
      ].sort(),
    );
    for (const obj of docs)
      t.equal(schemaErrors(kube, obj), '', `${kube} ${mode} ${obj.kind} ${obj.metadata.name}`);
  }
  // The validator can fail: an unknown field and a wrong type are reported.
  const job = structuredClone(jobOf(renders[0]!.docs));
  (job.spec.template.spec.containers[0] as unknown as Record<string, unknown>)['restartPolicyy'] = 'Never';
  t.match(schemaErrors('1.29.0', job), /must NOT have additional properties/);
  (job.spec as unknown as Record<string, unknown>)['backoffLimit'] = 'zero';
  t.match(schemaErrors('1.29.0', job), /backoffLimit must be integer,null/);
});

// ---- Refusals: each row is one render that must fail with the message an operator reads.
const base = (extra: string[]) => taskArgs('1.33.0', extra);
const probe = (spec: object, extra: string[] = []) => ({
  args: [
    'template',
    'probe',
    PROBE_CHART,
    '--kube-version',
    '1.33.0',
    '-f',
    '-',
    '--set',
    'errand.region=us-east-1',
    '--set',
    'errand.trustKey.configMap=orchestrator-key',
    '--set',
    'errand.identity.roleArn=arn:aws:iam::111122223333:role/errand-source',
    '--set-string',
    `errand.manifest.content=${JWS}`,
    ...extra,
  ],
  stdin: JSON.stringify({ spec }),
});
const agent = (over: object = {}) => ({
  name: 'agent',
  image: 'agent:1',
  securityContext: { runAsUser: 1000 },
  ...over,
});
const REFUSALS: { name: string; args: string[]; stdin?: string; message: string | RegExp }[] = [
  {
    name: 'Kubernetes 1.28 (no native sidecars)',
    args: taskArgs('1.28.9'),
    message:
      'errand: Kubernetes v1.28.9 is too old: Errand runs as a native sidecar (an init container with restartPolicy: Always), which needs Kubernetes 1.29 or newer (helm template assumes an old version unless given --kube-version)',
  },
  {
    name: 'agent UID equal to Errand UID',
    args: base(['--set', `agent.runAsUser=${ERRAND_UID}`]),
    message: `errand: agent container agent runs as UID ${ERRAND_UID}, Errand's UID; give the agent a different UID (or change errand.runAsUser) so its traffic cannot pass as Errand's`,
  },
  {
    name: 'unsigned manifest without the unsafe switch',
    args: [
      ...taskArgs('1.33.0').slice(0, -2),
      '--set-string',
      'errand.manifest.content=apiVersion: errand.dev/v1',
    ],
    message:
      'errand: errand.manifest.content is not a compact JWS; sign it with `errand manifest sign` (an unsigned manifest runs only with errand.unsafeAllowUnsignedManifest, for development)',
  },
  {
    name: 'no manifest at all',
    args: base(['--set-string', 'errand.manifest.content=']),
    message:
      'errand: set exactly one of errand.manifest.content (the signed manifest, a compact JWS), errand.manifest.existingSecret or errand.manifest.existingConfigMap',
  },
  {
    name: 'existing manifest object without its sha256',
    args: base([
      '--set-string',
      'errand.manifest.content=',
      '--set',
      'errand.manifest.existingSecret=task-x',
    ]),
    message:
      "errand: with an existing manifest object, set errand.manifest.sha256 to the manifest's sha256 (`errand manifest explain` prints it); it becomes the errand.dev/manifest-sha256 annotation",
  },
  {
    name: 'IRSA without a role',
    args: base(['--set', 'errand.identity.roleArn=']),
    message:
      'errand: errand.identity.mode is irsa: set errand.identity.roleArn to the IAM role Errand assumes with its web identity token',
  },
  {
    name: 'agent env with an AWS credential',
    ...probe({ containers: [agent({ env: [{ name: 'AWS_SESSION_TOKEN', value: 'x' }] })] }),
    message: 'errand: agent container agent sets AWS_SESSION_TOKEN; AWS credentials belong to Errand only',
  },
  {
    name: 'agent env that Errand sets',
    ...probe({ containers: [agent({ env: [{ name: 'HTTPS_PROXY', value: 'http://elsewhere' }] })] }),
    message: 'errand: agent container agent sets HTTPS_PROXY, which Errand sets for every agent container',
  },
  {
    name: 'agent envFrom',
    ...probe({ containers: [agent({ envFrom: [{ secretRef: { name: 'aws' } }] })] }),
    message:
      'errand: agent container agent uses envFrom; list its variables in env, so the chart can check that no AWS credential reaches it',
  },
  {
    name: 'agent without a UID',
    ...probe({ containers: [{ name: 'agent', image: 'agent:1' }] }),
    message: `errand: set securityContext.runAsUser on agent container agent (or on the pod); Errand must know it differs from its own UID ${ERRAND_UID}`,
  },
  {
    name: "agent init container running as Errand's UID through the pod default",
    ...probe({
      securityContext: { runAsUser: ERRAND_UID },
      containers: [agent()],
      initContainers: [{ name: 'fetch', image: 'fetch:1' }],
    }),
    message: `errand: agent container fetch runs as UID ${ERRAND_UID}, Errand's UID; give the agent a different UID (or change errand.runAsUser) so its traffic cannot pass as Errand's`,
  },
  {
    name: 'agent with NET_ADMIN',
    ...probe({
      containers: [agent({ securityContext: { runAsUser: 1000, capabilities: { add: ['NET_ADMIN'] } } })],
    }),
    message:
      "errand: agent container agent adds capability NET_ADMIN; the agent must not be able to change or bypass the pod's network rules",
  },
  {
    name: 'privileged agent',
    ...probe({ containers: [agent({ securityContext: { runAsUser: 1000, privileged: true } })] }),
    message:
      "errand: agent container agent is privileged; it could change the pod's network rules and reach the node",
  },
  {
    name: 'hostNetwork',
    ...probe({ hostNetwork: true, containers: [agent()] }),
    message:
      "errand: the agent pod spec sets hostNetwork: true; the agent would share the node's namespaces and bypass Errand",
  },
  {
    name: 'shareProcessNamespace',
    ...probe({ shareProcessNamespace: true, containers: [agent()] }),
    message:
      "errand: the agent pod spec sets shareProcessNamespace: true; the agent could read Errand's memory and files through /proc",
  },
  {
    name: 'a token volume for the agent',
    ...probe({
      containers: [agent()],
      volumes: [{ name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 't' } }] } }],
    }),
    message:
      'errand: the agent pod spec has a projected service-account token volume; only Errand may hold a token that AWS or the Kubernetes API accepts',
  },
  {
    name: "a container named like Errand's",
    ...probe({ containers: [agent({ name: 'errand' })] }),
    message:
      "errand: the agent pod spec has a container named errand; the names errand, errand-netinit, errand-netinit-v6 are Errand's",
  },
  {
    name: 'an agent sidecar of its own',
    ...probe({
      containers: [agent()],
      initContainers: [{ ...agent({ name: 'side' }), restartPolicy: 'Always' }],
    }),
    message:
      'errand: agent init container side sets restartPolicy; only Errand runs as a sidecar in a task pod',
  },
  // values.schema.json: unknown keys are refused at every level.
  {
    name: 'unknown key at the top of the task chart',
    args: base(['--set', 'agnet.name=x']),
    message: /additional properties 'agnet' not allowed/,
  },
  {
    name: 'unknown key under errand',
    args: base(['--set', 'errand.identy.mode=irsa']),
    message: /errand:\n- at '': additional properties 'identy' not allowed/,
  },
  {
    name: 'unknown key under errand.egress.initContainer',
    args: base(['--set', 'errand.egress.initContainer.ipv4=true']),
    message: /at '\/egress\/initContainer': additional properties 'ipv4' not allowed/,
  },
  {
    name: 'unknown key in a NetworkPolicy peer',
    args: base(['--set', 'errand.networkPolicy.dnsTo[0].podSelectr.x=y']),
    message: /at '\/networkPolicy\/dnsTo\/0': additional properties 'podSelectr' not allowed/,
  },
  {
    name: 'unknown key under agent.image',
    args: base(['--set', 'agent.image.digest=sha256:00']),
    message: /at '\/agent\/image': additional properties 'digest' not allowed/,
  },
  {
    name: 'an egress mode that does not exist',
    args: base(['--set', 'errand.egress.mode=iptables']),
    message: /at '\/egress\/mode': value must be one of 'none', 'initContainer', 'cni'/,
  },
];

t.test('refusals: the render fails with a message that names the fix', async (t) => {
  const results = await Promise.all(REFUSALS.map((row) => runHelm(row.args, row.stdin ?? '')));
  REFUSALS.forEach((row, i) => {
    const r = results[i]!;
    t.not(r.code, 0, `${row.name}: refused`);
    t.equal(
      r.stdout.includes('kind: Job') || r.stdout.includes('kind: Pod'),
      false,
      `${row.name}: nothing rendered`,
    );
    if (typeof row.message === 'string') t.equal(helmError(r), row.message, `${row.name}: message`);
    else t.match(r.stderr, row.message, `${row.name}: message`);
  });
  // The same probe chart renders when nothing is wrong, so each refusal above is the named cause.
  const ok = probe({ containers: [agent()], initContainers: [agent({ name: 'fetch' })] });
  const r = await runHelm(ok.args, ok.stdin);
  t.equal(r.code, 0, r.stderr);
  const pod = parseDocs(r.stdout)[0] as Obj & { spec: PodSpec };
  t.same(
    pod.spec.initContainers.map((c) => c.name),
    ['errand', 'fetch'],
    "the agent's init containers run after Errand is ready, and get its variables",
  );
  t.equal(envOf(pod.spec.initContainers[1]!).get('AWS_ENDPOINT_URL'), 'http://127.0.0.1:4750');
  t.equal(pod.metadata.annotations?.['eks.amazonaws.com/skip-containers'], 'agent,fetch,errand');
});

t.test('audit settings: batch sync and stdout echo by default, each and off on request', async (t) => {
  const [defaults, strict, bad] = await Promise.all([
    runHelm(base([])),
    runHelm(base(['--set', 'errand.audit.sync=each', '--set', 'errand.audit.echo=false'])),
    runHelm(base(['--set', 'errand.audit.sync=never'])),
  ]);
  t.equal(defaults.code, 0, defaults.stderr);
  const argsOf = (r: HelmResult) =>
    (errandOf(jobOf(parseDocs(r.stdout)).spec.template.spec) as { args: string[] }).args;
  t.notOk(
    argsOf(defaults).some((a) => a.startsWith('--audit-')),
    "the defaults are Errand's own (--audit-sync batch, --audit-echo on)",
  );
  t.equal(strict.code, 0, strict.stderr);
  t.same(
    argsOf(strict).filter((a) => a.startsWith('--audit-')),
    ['--audit-sync=each', '--audit-echo=off'],
  );
  t.not(bad.code, 0, 'an unknown sync mode fails the render');
  t.match(bad.stderr, /audit\.sync|sync/);
});

t.test('nodeOptions reaches Errand only, as NODE_OPTIONS; shell text is refused', async (t) => {
  const [none, set, bad] = await Promise.all([
    runHelm(base([])),
    runHelm(base(['--set', 'errand.nodeOptions=--max-semi-space-size=1'])),
    runHelm(base(['--set', 'errand.nodeOptions=--require=/tmp/x.js;rm'])),
  ]);
  t.equal(none.code, 0, none.stderr);
  const specOf = (r: HelmResult) => jobOf(parseDocs(r.stdout)).spec.template.spec;
  t.notOk(
    envOf(errandOf(specOf(none))).has('NODE_OPTIONS'),
    "unset by default: the image's NODE_OPTIONS apply",
  );
  t.equal(set.code, 0, set.stderr);
  t.equal(envOf(errandOf(specOf(set))).get('NODE_OPTIONS'), '--max-semi-space-size=1');
  for (const c of specOf(set).containers) {
    t.notOk(JSON.stringify(c.env ?? []).includes('NODE_OPTIONS'), `not in the agent container ${c.name}`);
  }
  t.not(bad.code, 0, 'anything but --flag[=value] words fails the render');
});

t.test('identity modes: Pod Identity and none', async (t) => {
  const [pi, none] = await Promise.all([
    runHelm(base(['--set', 'errand.identity.mode=podIdentity'])),
    runHelm(base(['--set', 'errand.identity.mode=none'])),
  ]);
  t.equal(pi.code, 0, pi.stderr);
  const piDocs = parseDocs(pi.stdout);
  const piSpec = jobOf(piDocs).spec.template.spec;
  const env = envOf(errandOf(piSpec));
  t.equal(env.get('AWS_CONTAINER_CREDENTIALS_FULL_URI'), 'http://169.254.170.23/v1/credentials');
  t.equal(
    env.get('AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'),
    '/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token',
  );
  t.notOk(env.has('AWS_ROLE_ARN'));
  t.match(JSON.stringify(piSpec.volumes), /"audience":"pods.eks.amazonaws.com"/);
  const [np] = byKind(piDocs, 'NetworkPolicy') as (Obj & {
    spec: { egress: { to: unknown[]; ports: unknown[] }[] };
  })[];
  t.same(np?.spec.egress.at(-1), {
    to: [{ ipBlock: { cidr: '169.254.170.23/32' } }, { ipBlock: { cidr: 'fd00:ec2::23/128' } }],
    ports: [{ port: 80, protocol: 'TCP' }],
  });
  for (const obj of piDocs) t.equal(schemaErrors('1.33.0', obj), '', `podIdentity ${obj.kind}`);
  t.equal(none.code, 0, none.stderr);
  const noneSpec = jobOf(parseDocs(none.stdout)).spec.template.spec;
  t.notOk(
    noneSpec.volumes.some((v) => v.name === 'errand-aws-token'),
    'no token volume at all',
  );
  t.same(
    envOf(errandOf(noneSpec)).get('AWS_ROLE_ARN') ??
      envOf(errandOf(noneSpec)).get('AWS_CONTAINER_CREDENTIALS_FULL_URI'),
    undefined,
  );
});

t.test('NOTES tells the operator how to check that no AWS variable reached the agent', async (t) => {
  // helm template does not render NOTES.txt: render a copy of the chart with NOTES as a template.
  const dir = await mkdtemp(join(tmpdir(), 'errand-notes-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const chart = join(dir, 'errand-task');
  await cp(TASK_CHART, chart, { recursive: true, filter: (src) => !src.endsWith('/charts') });
  await mkdir(join(chart, 'charts'));
  await symlink(LIBRARY_CHART, join(chart, 'charts', 'errand'));
  // Helm parses every rendered template as YAML: carry NOTES (rendered with tpl) in a ConfigMap.
  await cp(join(chart, 'templates', 'NOTES.txt'), join(chart, 'notes-under-test.txt'));
  await writeFile(
    join(chart, 'templates', 'notes-under-test.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n{{ tpl (.Files.Get "notes-under-test.txt") . | indent 4 }}\n',
  );
  const notesOf = (r: HelmResult): string =>
    (parseDocs(r.stdout)[0] as (Obj & { data?: { notes?: string } }) | undefined)?.data?.notes ?? '';
  const args = taskArgs('1.33.0');
  args[2] = chart;
  const [signed, unsigned] = await Promise.all([
    runHelm([...args, '--show-only', 'templates/notes-under-test.yaml']),
    runHelm([
      ...args.slice(0, -2),
      '--set-string',
      'errand.manifest.content=apiVersion: errand.dev/v1',
      '--set',
      'errand.unsafeAllowUnsignedManifest=true',
      '--show-only',
      'templates/notes-under-test.yaml',
    ]),
  ]);
  t.equal(signed.code, 0, signed.stderr);
  const notes = notesOf(signed);
  t.match(notes, 'kubectl -n agents get pods -l errand.dev/instance=task-01jd8q7zk3');
  t.match(notes, 'range .spec.containers[*]}{.name}{": "}{range .env[*]}');
  t.match(notes, 'kubectl -n agents exec "$POD" -c agent -- env | grep \'^AWS_\'');
  t.match(notes, `AWS_ACCESS_KEY_ID must read ${PLACEHOLDER_CREDENTIALS.accessKeyId}`);
  t.notMatch(notes, /UNSIGNED/);
  t.equal(unsigned.code, 0, unsigned.stderr);
  t.match(
    notesOf(unsigned),
    'WARNING: errand.unsafeAllowUnsignedManifest is on. Errand runs an UNSIGNED manifest',
  );
});
