// deploy/docker-compose.yml and the images it builds, checked without a Docker engine (none exists on
// the build machines): the compose file against the Compose Specification schema and the isolation it
// promises (the agent's only way out is Errand), the Dockerfiles statically (stages, pinned bases,
// numeric non-root USER, no ADD, exec-form ENTRYPOINT, nothing that needs a shell at run time), and the
// agreement between the image, the compose file and the Helm chart's defaults.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import t from 'tap';
import { parse } from 'yaml';
import { REPO_ROOT } from '../helpers/moto.ts';
import { PLACEHOLDER_CREDENTIALS } from '../helpers/real-clients.ts';

const DEPLOY = join(REPO_ROOT, 'deploy');
const read = (path: string) => readFile(join(REPO_ROOT, path), 'utf8');

// ---- A Dockerfile reader: enough of the format (docs.docker.com/reference/dockerfile) to check ours.
interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}
interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let logical = lines[i]!;
    if (/^\s*(#|$)/.test(logical)) continue;
    // A trailing backslash continues the instruction; comment lines inside it are dropped.
    while (/\\\s*$/.test(logical) && i + 1 < lines.length) {
      i++;
      if (/^\s*#/.test(lines[i]!)) continue;
      logical = `${logical.replace(/\\\s*$/, ' ')}${lines[i]}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(logical);
    if (!m) throw new Error(`line ${start + 1}: not an instruction: ${logical}`);
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`line ${start + 1}: bad FROM ${args}`);
      stages.push({ from: from[1]!, name: from[2]?.toLowerCase(), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`line ${start + 1}: ${keyword} before FROM`);
    stage.instructions.push({ keyword, args, line: start + 1 });
  }
  return stages;
}

const isExecForm = (args: string): boolean => {
  try {
    const v = JSON.parse(args) as unknown;
    return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
  } catch {
    return false;
  }
};

/** What is wrong with a Dockerfile for a runtime image, as sentences; [] when nothing is. */
function dockerfileProblems(text: string, opts: { runtime: boolean }): string[] {
  const out: string[] = [];
  const stages = parseDockerfile(text);
  const names = new Set<string>();
  for (const s of stages) {
    const [ref, digest] = s.from.split('@');
    const tag = /:([^/:]+)$/.exec(ref ?? '')?.[1];
    if (names.has(s.from.toLowerCase())) {
      // an earlier stage
    } else if (digest === undefined && (tag === undefined || tag === 'latest')) {
      out.push(`FROM ${s.from}: base image not pinned by tag or digest`);
    }
    if (s.name) names.add(s.name);
    for (const ins of s.instructions) {
      if (ins.keyword === 'ADD') out.push(`line ${ins.line}: ADD (use COPY; never fetch URLs at build time)`);
    }
  }
  if (opts.runtime && stages.length < 2)
    out.push('single-stage build: the runtime image carries the build tools');
  const final = stages.at(-1);
  if (!final) return [...out, 'no FROM'];
  const last = (keyword: string) => final.instructions.filter((i) => i.keyword === keyword).at(-1);
  const entrypoint = last('ENTRYPOINT');
  if (!entrypoint) out.push('no ENTRYPOINT');
  else if (!isExecForm(entrypoint.args)) out.push('ENTRYPOINT is not exec form: a shell would be PID 1');
  const cmd = last('CMD');
  if (cmd && !isExecForm(cmd.args)) out.push('CMD is not exec form');
  if (opts.runtime) {
    const user = last('USER');
    if (!user) out.push('no USER: the image runs as root');
    else if (!/^[0-9]+(:[0-9]+)?$/.test(user.args)) out.push(`USER ${user.args} is not numeric`);
    else if (Number(user.args.split(':')[0]) === 0) out.push('USER 0 is root');
    for (const ins of final.instructions) {
      if (ins.keyword === 'RUN') out.push(`line ${ins.line}: RUN in the runtime stage (it has no shell)`);
      if (ins.keyword === 'HEALTHCHECK' && !/^NONE$/i.test(ins.args) && !/^(.*\s)?CMD\s+\[/.test(ins.args))
        out.push(`line ${ins.line}: HEALTHCHECK needs a shell`);
    }
  }
  return out;
}

t.test('the Dockerfile checker finds each defect (so the checks below can fail)', async (t) => {
  const rows: [string, string, string[]][] = [
    ['ok', 'FROM a:1 AS b\nRUN x\nFROM c:2\nUSER 10:10\nENTRYPOINT ["/x"]\nCMD ["run"]\n', []],
    [
      'unpinned, shell form, root',
      'FROM node\nRUN x\nFROM gcr.io/distroless/nodejs24-debian13:latest\nENTRYPOINT node x.js\n',
      [
        'FROM node: base image not pinned by tag or digest',
        'FROM gcr.io/distroless/nodejs24-debian13:latest: base image not pinned by tag or digest',
        'ENTRYPOINT is not exec form: a shell would be PID 1',
        'no USER: the image runs as root',
      ],
    ],
    [
      'ADD of a URL, named user, RUN at run time',
      'FROM a@sha256:00 AS b\nFROM b\nADD https://example.com/x /x\nRUN \\\n  # note\n  true\nUSER nonroot\nENTRYPOINT ["/x"]\n',
      [
        'line 3: ADD (use COPY; never fetch URLs at build time)',
        'USER nonroot is not numeric',
        'line 4: RUN in the runtime stage (it has no shell)',
      ],
    ],
    [
      'single stage, USER 0',
      'FROM a:1\nUSER 0:0\nENTRYPOINT ["/x"]\nHEALTHCHECK CMD curl x\n',
      [
        'single-stage build: the runtime image carries the build tools',
        'USER 0 is root',
        'line 4: HEALTHCHECK needs a shell',
      ],
    ],
  ];
  for (const [name, text, want] of rows) t.same(dockerfileProblems(text, { runtime: true }), want, name);
});

const dockerfile = await read('deploy/Dockerfile');
const stages = parseDockerfile(dockerfile);
const runtime = stages.at(-1)!;
const lastArgs = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
const chartValues = parse(await read('helm/errand/values.yaml')) as {
  runAsUser: number;
  ports: { ops: number };
};
const taskValues = parse(await read('helm/errand-task/values.yaml')) as { agent: { runAsUser: number } };
const IMAGE_UID = Number((lastArgs('USER') ?? '').split(':')[0]);

t.test(
  'deploy/Dockerfile: multi-stage, distroless Node 24, numeric non-root user, Node as PID 1',
  async (t) => {
    t.same(dockerfileProblems(dockerfile, { runtime: true }), []);
    t.same(
      stages.map((s) => s.name),
      ['deps', 'build', 'base', 'warm', 'runtime'],
    );
    t.match(stages[2]!.from, /^gcr\.io\/distroless\/nodejs24-debian13(:[a-z0-9.-]+|@sha256:[0-9a-f]{64})$/);
    // The bundle, built in the build stage (scripts/build.ts), is what runs.
    t.same(JSON.parse(lastArgs('ENTRYPOINT') ?? '[]'), ['/nodejs/bin/node', '/app/dist/errand.mjs']);
    t.match(dockerfile, /^COPY --from=build \/app\/dist \.\/dist$/m, 'the runtime stage takes the bundle');
    t.match(dockerfile, /^RUN node scripts\/build\.ts --outdir dist$/m, 'the build stage builds it');
    // Its compile cache is made by the runtime image's own Node, and copied in root-owned.
    t.same(
      [stages[3]!.from, runtime.from],
      ['base', 'base'],
      'the cache is warmed by the very image the runtime stage is built from (one FROM of the base)',
    );
    t.match(dockerfile, /^COPY --from=warm \/app\/compile-cache \.\/compile-cache$/m);
    t.match(lastArgs('ENV') ?? '', /NODE_COMPILE_CACHE=\/app\/compile-cache/);
    // V8's young generation does not shrink with the container's memory limit (decision 0010).
    t.match(lastArgs('ENV') ?? '', /(^|\s)NODE_OPTIONS=--max-semi-space-size=16(\s|$)/);
    t.same(JSON.parse(lastArgs('CMD') ?? '[]'), ['run']);
    t.equal(lastArgs('WORKDIR'), '/app');
    // The npm step installs exactly the lockfile's production set and runs no package scripts.
    const npm = stages[0]!.instructions.find((i) => i.keyword === 'RUN' && i.args.includes('npm ci'));
    t.match(npm?.args, /npm ci --omit=dev --ignore-scripts/);
    // The image's UID is the chart's Errand UID, and not the UIDs agent images commonly use.
    t.equal(IMAGE_UID, chartValues.runAsUser, 'USER is the chart default errand.runAsUser');
    t.not(IMAGE_UID, 65532, 'not distroless "nonroot", which agent images often run as');
    t.not(IMAGE_UID, taskValues.agent.runAsUser, "not the example agent's UID");
    t.equal(lastArgs('EXPOSE'), String(chartValues.ports.ops), 'EXPOSE is the ops port the probes use');
    t.match(lastArgs('ENV') ?? '', /ERRAND_STATE_DIR=\/var\/lib\/errand/);
  },
);

t.test('deploy/Dockerfile copies only what exists and what .dockerignore lets through', async (t) => {
  const ignore = (await read('.dockerignore'))
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  t.equal(ignore[0], '**', '.dockerignore starts from nothing');
  const allowed = ignore.slice(1).map((l) => l.replace(/^!/, '').replace(/\/$/, ''));
  const copies = stages.flatMap((s) =>
    s.instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from')),
  );
  t.ok(copies.length >= 4);
  for (const copy of copies) {
    const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) {
      t.ok(existsSync(join(REPO_ROOT, src)), `COPY ${src} exists`);
      t.ok(allowed.includes(src), `COPY ${src} is let through by .dockerignore`);
    }
  }
  // What Errand needs at run time is all in the image: the ESM marker and the schema it imports.
  t.ok(allowed.includes('package.json') && allowed.includes('schema') && allowed.includes('src'));
});

t.test('deploy/netinit/Dockerfile: pinned base, exec-form entrypoint, no ADD', async (t) => {
  const text = await read('deploy/netinit/Dockerfile');
  t.same(dockerfileProblems(text, { runtime: false }), []);
  const netinit = parseDockerfile(text).at(-1)!;
  t.same(JSON.parse(netinit.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args), [
    'iptables-restore',
    '--wait',
  ]);
  t.match(netinit.from, /^debian:trixie-slim$/);
});

// ---- The compose file.
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  user?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  ports?: unknown[];
  network_mode?: string;
}
const composeText = await read('deploy/docker-compose.yml');
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, Service>;
  networks: Record<string, { internal?: boolean; ipam?: { config: { subnet: string }[] } }>;
  volumes: Record<string, unknown>;
};
const networksOf = (s: Service): string[] =>
  Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {});

t.test('the compose file is valid Compose Specification', async (t) => {
  const schema = JSON.parse(await read('test/fixtures/compose/compose-spec.schema.json')) as Record<
    string,
    unknown
  >;
  delete schema['$schema'];
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
  // Validated as written (the x-hardened anchor is merged by the parser, as compose does).
  t.ok(validate(compose), JSON.stringify(validate.errors));
  // The validator can fail: a misspelt key in a service and a wrong type are refused.
  const bad = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
  bad.services['agent']!['networkz'] = ['agent-net'];
  t.notOk(validate(bad), 'an unknown service key is refused');
  const bad2 = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
  bad2.services['agent']!['networks'] = 'agent-net';
  t.notOk(validate(bad2), 'a wrong type is refused');
});

t.test('the agent is on an internal network whose only other member is Errand', async (t) => {
  const { services, networks } = compose;
  t.same(Object.keys(services).sort(), ['agent', 'errand', 'moto', 'task']);
  t.equal(networks['agent-net']?.internal, true, 'agent-net has no route out');
  t.same(networksOf(services['agent']!), ['agent-net'], 'the agent is on agent-net only');
  t.equal(services['agent']!.network_mode, undefined, 'and shares no other namespace');
  t.equal(services['agent']!.ports, undefined, 'and publishes nothing');
  const members = Object.entries(services)
    .filter(([, s]) => networksOf(s).includes('agent-net'))
    .map(([name]) => name)
    .sort();
  t.same(members, ['agent', 'errand'], 'agent-net members');
  t.same(networksOf(services['errand']!).sort(), ['agent-net', 'upstream'], 'Errand bridges the two');
  t.notOk(networksOf(services['moto']!).includes('agent-net'), 'the emulator is not reachable by the agent');
});

const errand = compose.services['errand']!;
const agent = compose.services['agent']!;
const flag = (name: string): string | undefined =>
  errand.command?.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const errandIp = (errand.networks as Record<string, { ipv4_address?: string }>)['agent-net']?.ipv4_address;

t.test("Errand listens on its agent-net address only, and the agent's variables lead there", async (t) => {
  const subnet = compose.networks['agent-net']?.ipam?.config[0]?.subnet ?? '';
  t.ok(errandIp?.startsWith(subnet.replace(/\.0\/24$/, '.')), `${errandIp} is in ${subnet}`);
  t.equal(flag('listen'), `${errandIp}:4750`, 'the AWS endpoint binds agent-net only');
  t.equal(flag('proxy-listen'), `${errandIp}:4751`, 'the forward proxy binds agent-net only');
  t.equal(flag('ops-listen'), '127.0.0.1:4752', "ops stays on Errand's loopback");
  const env = agent.environment ?? {};
  t.equal(env['AWS_ENDPOINT_URL'], `http://${flag('listen')}`);
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'])
    t.equal(env[name], `http://${flag('proxy-listen')}`, name);
  t.ok(env['NO_PROXY']?.split(',').includes(errandIp ?? ''), 'the AWS endpoint is not proxied');
  t.equal(env['AWS_ACCESS_KEY_ID'], PLACEHOLDER_CREDENTIALS.accessKeyId);
  t.equal(env['AWS_SECRET_ACCESS_KEY'], PLACEHOLDER_CREDENTIALS.secretAccessKey);
  for (const name of [
    'AWS_SESSION_TOKEN',
    'AWS_ROLE_ARN',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  ])
    t.notOk(name in env, `the agent has no ${name}`);
  t.equal(env['AWS_EC2_METADATA_DISABLED'], 'true');
  const caDir = flag('ca-dir');
  for (const name of ['AWS_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'CURL_CA_BUNDLE'])
    t.equal(env[name], `${caDir}/ca-bundle.pem`, name);
  t.equal(env['NODE_EXTRA_CA_CERTS'], `${caDir}/ca.pem`);
  t.same(
    agent.volumes,
    ['./compose/agent.sh:/agent/agent.sh:ro', `ca:${caDir}:ro`],
    'the agent mounts the CA read-only',
  );
});

t.test('the manifest, the state and the source credentials stay with Errand', async (t) => {
  t.ok(errand.volumes?.includes('task:/etc/errand/task:ro'), 'Errand reads the manifest read-only');
  t.equal(flag('manifest'), '/etc/errand/task/task.jws');
  t.equal(flag('trust-key'), '/etc/errand/task/trust-key.pem');
  t.notOk(
    (agent.volumes ?? []).some((v) => v.startsWith('task:') || v.startsWith('state:')),
    'the agent mounts neither the manifest nor the state',
  );
  t.not(
    errand.environment?.['AWS_ACCESS_KEY_ID'],
    PLACEHOLDER_CREDENTIALS.accessKeyId,
    "Errand's own keys are not the placeholder",
  );
  t.equal(errand.environment?.['AWS_ENDPOINT_URL'], 'http://moto:5000');
});

t.test('start order and health: the agent waits for /readyz, checked without a shell', async (t) => {
  t.same(agent.depends_on, { errand: { condition: 'service_healthy' } });
  t.same(errand.depends_on, { task: { condition: 'service_completed_successfully' } });
  const test = errand.healthcheck?.test ?? [];
  t.equal(test[0], 'CMD', 'exec form (CMD-SHELL would need a shell)');
  t.equal(test[1], '/nodejs/bin/node');
  t.match(test.at(-1), `http://${flag('ops-listen')}/readyz`);
});

t.test('every container is hardened and runs as its own numeric UID', async (t) => {
  for (const name of ['agent', 'errand', 'task']) {
    const s = compose.services[name]!;
    t.equal(s.read_only, true, `${name}: read-only root filesystem`);
    t.same(s.cap_drop, ['ALL'], `${name}: no capabilities`);
    t.same(s.security_opt, ['no-new-privileges:true'], `${name}: no-new-privileges`);
  }
  t.equal(errand.user, `${IMAGE_UID}:${IMAGE_UID}`, "Errand runs as the image's UID");
  t.equal(
    compose.services['task']!.user,
    errand.user,
    'so does the task preparation, which writes its files',
  );
  t.match(agent.user, /^[0-9]+:[0-9]+$/);
  t.not(Number(agent.user?.split(':')[0]), IMAGE_UID, "the agent's UID differs from Errand's");
});

t.test('what the compose file points at exists', async (t) => {
  t.same(errand.build, { context: '..', dockerfile: 'deploy/Dockerfile' });
  t.ok(existsSync(join(DEPLOY, '..', errand.build?.dockerfile ?? 'missing')));
  for (const [name, s] of Object.entries(compose.services)) {
    for (const v of s.volumes ?? []) {
      const source = v.split(':')[0]!;
      if (source.startsWith('.')) t.ok(existsSync(join(DEPLOY, source)), `${name}: ${source} exists`);
      else t.ok(source in compose.volumes, `${name}: volume ${source} is declared`);
    }
  }
  t.same(compose.services['task']!.entrypoint?.at(-1), '/app/deploy/compose/prepare-task.ts');
  t.match(
    compose.services['moto']!.image,
    /^motoserver\/moto:[0-9]+\.[0-9]+\.[0-9]+$/,
    'the emulator is pinned',
  );
  const motoPin = /^moto\[server\]==(\S+)$/m.exec(await read('requirements-test.txt'))?.[1];
  t.equal(compose.services['moto']!.image, `motoserver/moto:${motoPin}`, 'the same moto as the tests');
});
