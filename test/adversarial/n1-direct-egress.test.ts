// N1: the agent bypassing Errand. Enforcement is the pod's, not Errand's, so this tests the chart's
// rendered rules (the golden renders the helm test pins to the real helm): the iptables rules of the
// initContainer mode are evaluated, packet by packet, by a small model of iptables (nat OUTPUT, then
// filter OUTPUT; owner, protocol, destination, port and interface matches; REDIRECT, REJECT, RETURN)
// and must send every agent TCP connection to ports 443 and 80 to Errand and refuse everything else
// but DNS; the NetworkPolicy must allow nothing but DNS and HTTPS outside link-local space; the agent
// container must not be able to change or dodge the rules. What needs a cluster (the rules installed in a real pod
// network namespace, a CNI plugin's rules in mode cni) is pending here and stated below.

import t from 'tap';
import { type Container, KUBES, type Render, readRender } from '../helpers/golden-pod.ts';

const ERRAND_UID = 64750;
const AGENT_UID = 1000;

interface Packet {
  readonly uid: number;
  readonly family: 4 | 6;
  readonly proto: 'tcp' | 'udp' | 'icmp';
  readonly dst: string;
  readonly dport?: number;
}
type Verdict = { verdict: 'accept' | 'reject'; to: string };

interface Rule {
  readonly chain: string;
  readonly args: Map<string, string>;
  readonly target: string;
}

/** Parses iptables-restore text into tables of rules (only the options the chart uses). */
function parseRules(text: string): Map<string, Rule[]> {
  const tables = new Map<string, Rule[]>();
  let table = '';
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line.startsWith('*')) {
      table = line.slice(1);
      tables.set(table, []);
    } else if (line.startsWith('-A ')) {
      const words = line.split(/\s+/);
      const args = new Map<string, string>();
      for (let i = 2; i < words.length; i++) {
        const w = words[i]!;
        if (w === '-m') {
          i++; // the match module name; its options follow
          continue;
        }
        if (w.startsWith('-')) args.set(w, words[i + 1] ?? '');
        i++;
      }
      const known = new Set([
        '-p',
        '-d',
        '-o',
        '--uid-owner',
        '--ctstate',
        '--dport',
        '-j',
        '--to-ports',
        '--reject-with',
      ]);
      for (const k of args.keys())
        if (!known.has(k)) throw new Error(`the model does not know ${k}: ${line}`);
      tables.get(table)!.push({ chain: words[1]!, args, target: args.get('-j')! });
    }
  }
  return tables;
}

const inCidr = (ip: string, cidr: string): boolean => {
  const [net = '', bits = '32'] = cidr.split('/');
  const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(net) / size);
};

function matches(rule: Rule, p: Packet, oif: string): boolean {
  const a = rule.args;
  if (a.has('-p') && a.get('-p') !== p.proto) return false;
  if (a.has('-d') && !(p.family === 4 && inCidr(p.dst, a.get('-d')!))) return false;
  if (a.has('-o') && a.get('-o') !== oif) return false;
  if (a.has('--uid-owner') && Number(a.get('--uid-owner')) !== p.uid) return false;
  if (a.has('--ctstate') && !a.get('--ctstate')!.split(',').includes('NEW')) return false; // a new connection
  if (a.has('--dport') && Number(a.get('--dport')) !== p.dport) return false;
  return true;
}

/** Walks a built-in chain (and the chains it jumps to); returns the terminal target or undefined. */
function walk(rules: Rule[], chain: string, p: Packet, oif: string): Rule | undefined {
  for (const rule of rules.filter((r) => r.chain === chain)) {
    if (!matches(rule, p, oif)) continue;
    if (rule.target === 'RETURN') return undefined;
    if (
      rule.target === 'REDIRECT' ||
      rule.target === 'REJECT' ||
      rule.target === 'ACCEPT' ||
      rule.target === 'DROP'
    )
      return rule;
    const inner = walk(rules, rule.target, p, oif);
    if (inner) return inner;
  }
  return undefined;
}

const loopback = (p: Packet) => (p.family === 4 ? p.dst.startsWith('127.') : p.dst === '::1');

/** The fate of a new outbound connection from the pod: nat OUTPUT, then filter OUTPUT (policy ACCEPT). */
function evaluate(render: Render, packet: Packet): Verdict {
  const tables = parseRules(render.rules[packet.family === 4 ? 'rules.v4' : 'rules.v6'] ?? '');
  let p = packet;
  const nat = tables.get('nat') ?? [];
  const redirect = walk(nat, 'OUTPUT', p, loopback(p) ? 'lo' : 'eth0');
  if (redirect?.target === 'REDIRECT')
    p = { ...p, dst: '127.0.0.1', dport: Number(redirect.args.get('--to-ports')) };
  const oif = loopback(p) ? 'lo' : 'eth0';
  const filter = walk(tables.get('filter') ?? [], 'OUTPUT', p, oif);
  if (filter?.target === 'REJECT' || filter?.target === 'DROP') return { verdict: 'reject', to: '' };
  return { verdict: 'accept', to: `${p.dst}:${p.dport ?? ''}` };
}

const transparentPort = (render: Render): number => {
  const errand = render.pod.initContainers.find((c) => c.name === 'errand')!;
  const listen = errand.env?.find((e) => e.name === 'ERRAND_TRANSPARENT_LISTEN')?.value ?? '';
  if (!listen.startsWith('127.0.0.1:'))
    throw new Error(`the transparent listener is not on loopback: ${listen}`);
  return Number(listen.split(':')[1]);
};

for (const kube of KUBES) {
  t.test(
    `Kubernetes ${kube}, egress initContainer: every agent connection goes to Errand or nowhere`,
    async (t) => {
      const r = await readRender(kube, 'initContainer');
      const errand = `127.0.0.1:${transparentPort(r)}`;
      const rows: [string, Packet, Verdict][] = [
        [
          'agent HTTPS to the internet',
          { uid: AGENT_UID, family: 4, proto: 'tcp', dst: '1.1.1.1', dport: 443 },
          { verdict: 'accept', to: errand },
        ],
        [
          'agent plain HTTP',
          { uid: AGENT_UID, family: 4, proto: 'tcp', dst: '93.184.216.34', dport: 80 },
          { verdict: 'accept', to: errand },
        ],
        [
          'agent to the metadata service',
          { uid: AGENT_UID, family: 4, proto: 'tcp', dst: '169.254.169.254', dport: 80 },
          { verdict: 'accept', to: errand },
        ],
        // The transparent listener cannot learn the original port, so only 443 and 80 go to it; a
        // connection to any other port is refused rather than sent on to 443 or 80.
        [
          'agent to a pod in the cluster, port 8080',
          { uid: AGENT_UID, family: 4, proto: 'tcp', dst: '10.0.3.7', dport: 8080 },
          { verdict: 'reject', to: '' },
        ],
        [
          'agent TLS to port 8443',
          { uid: AGENT_UID, family: 4, proto: 'tcp', dst: '1.1.1.1', dport: 8443 },
          { verdict: 'reject', to: '' },
        ],
        [
          'agent SSH',
          { uid: AGENT_UID, family: 4, proto: 'tcp', dst: '1.1.1.1', dport: 22 },
          { verdict: 'reject', to: '' },
        ],
        [
          'agent as root (an image that allows it)',
          { uid: 0, family: 4, proto: 'tcp', dst: '1.1.1.1', dport: 443 },
          { verdict: 'accept', to: errand },
        ],
        [
          'agent to the AWS endpoint on loopback',
          { uid: AGENT_UID, family: 4, proto: 'tcp', dst: '127.0.0.1', dport: 4750 },
          { verdict: 'accept', to: '127.0.0.1:4750' },
        ],
        [
          'agent QUIC (UDP 443)',
          { uid: AGENT_UID, family: 4, proto: 'udp', dst: '1.1.1.1', dport: 443 },
          { verdict: 'reject', to: '' },
        ],
        [
          'agent ICMP',
          { uid: AGENT_UID, family: 4, proto: 'icmp', dst: '1.1.1.1' },
          { verdict: 'reject', to: '' },
        ],
        [
          'agent IPv6 HTTPS',
          { uid: AGENT_UID, family: 6, proto: 'tcp', dst: '2606:4700::1111', dport: 443 },
          { verdict: 'reject', to: '' },
        ],
        [
          'agent IPv6 UDP',
          { uid: AGENT_UID, family: 6, proto: 'udp', dst: '2606:4700::1111', dport: 443 },
          { verdict: 'reject', to: '' },
        ],
        // allowAgentDns (default true): DNS may leave the pod; the NetworkPolicy keeps it to kube-dns.
        [
          'agent DNS (UDP 53, allowAgentDns)',
          { uid: AGENT_UID, family: 4, proto: 'udp', dst: '10.96.0.10', dport: 53 },
          { verdict: 'accept', to: '10.96.0.10:53' },
        ],
        [
          'Errand itself to AWS',
          { uid: ERRAND_UID, family: 4, proto: 'tcp', dst: '52.216.1.2', dport: 443 },
          { verdict: 'accept', to: '52.216.1.2:443' },
        ],
      ];
      for (const [name, packet, expected] of rows) t.same(evaluate(r, packet), expected, name);

      // The netinit containers run first, so the rules exist before Errand and before any agent process.
      const names = r.pod.initContainers.map((c) => c.name);
      t.ok(names.indexOf('errand-netinit') < names.indexOf('errand'), 'rules before Errand');
      t.ok(names.indexOf('errand-netinit-v6') < names.indexOf('errand'), 'IPv6 rules before Errand');
      t.match(r.rules['rules.v4'], `--uid-owner ${ERRAND_UID} -j RETURN`, 'only Errand is exempt');
      t.equal(r.annotations['errand.dev/errand-uid'], String(ERRAND_UID));
    },
  );

  t.test(`Kubernetes ${kube}: the agent can neither change the rules nor pass for Errand`, async (t) => {
    for (const mode of ['none', 'initContainer', 'cni'] as const) {
      const r = await readRender(kube, mode);
      const agents: Container[] = r.pod.containers;
      t.ok(agents.length > 0);
      for (const a of agents) {
        const sc = a.securityContext ?? {};
        t.not(
          sc.runAsUser ?? r.pod.securityContext?.runAsUser,
          ERRAND_UID,
          `${mode} ${a.name}: not Errand's UID`,
        );
        t.ok(sc.runAsNonRoot, `${mode} ${a.name}: not root`);
        t.equal(sc.allowPrivilegeEscalation, false, `${mode} ${a.name}: no privilege escalation`);
        t.same(sc.capabilities?.drop, ['ALL'], `${mode} ${a.name}: every capability dropped (no NET_ADMIN)`);
        t.notOk(sc.capabilities?.add?.length, `${mode} ${a.name}: none added`);
        t.notOk(sc.privileged, `${mode} ${a.name}: not privileged`);
      }
      t.notOk(
        r.pod.shareProcessNamespace,
        `${mode}: no shared process namespace (no signal to, or /proc of, Errand)`,
      );
    }
  });

  t.test(
    `Kubernetes ${kube}: the NetworkPolicy allows DNS and HTTPS outside link-local space only`,
    async (t) => {
      for (const mode of ['none', 'initContainer', 'cni'] as const) {
        const np = (await readRender(kube, mode)).networkPolicy;
        t.same(np.spec.policyTypes, ['Ingress', 'Egress'], `${mode}: egress is isolated`);
        for (const rule of np.spec.egress) {
          t.ok(rule.ports && rule.ports.length > 0, `${mode}: every egress rule names its ports`);
          const ports = (rule.ports ?? []).map((p) => `${p.protocol}/${p.port}`).sort();
          const dns = ports.every((p) => p.endsWith('/53'));
          t.ok(dns || ports.join() === 'TCP/443', `${mode}: DNS or HTTPS only (${ports})`);
          for (const peer of rule.to) {
            const block = peer['ipBlock'] as { cidr: string; except?: string[] } | undefined;
            if (block?.cidr === '0.0.0.0/0')
              t.ok(block.except?.includes('169.254.0.0/16'), `${mode}: never IMDS (v4)`);
            if (block?.cidr === '::/0')
              t.ok(block.except?.includes('fd00:ec2::/32'), `${mode}: never IMDS (v6)`);
          }
        }
      }
    },
  );

  t.test(`Kubernetes ${kube}: egress none and cni (what this suite cannot enforce)`, async (t) => {
    const none = await readRender(kube, 'none');
    t.same(none.rules, {}, 'none: no in-pod rules');
    t.equal(
      none.annotations['errand.dev/egress'],
      'none',
      'none: the pod says so, for an admission policy to refuse',
    );
    t.comment(
      'PENDING/GAP: with egress none (the chart default) a client that ignores HTTP(S)_PROXY and AWS_ENDPOINT_URL reaches any HTTPS host directly (the NetworkPolicy backstop allows TCP 443); it carries no credential Errand holds, but N1 is not enforced.',
    );
    const cni = await readRender(kube, 'cni');
    t.same(cni.rules, {}, 'cni: the chart installs nothing privileged');
    t.equal(
      cni.annotations['errand.dev/errand-uid'],
      String(ERRAND_UID),
      'cni: the plugin learns which UID is Errand',
    );
    t.comment(
      'PENDING: egress cni is enforced by the CNI plugin; testing it needs a cluster with that plugin.',
    );
  });
}
