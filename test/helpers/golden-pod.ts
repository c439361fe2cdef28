// The task pod as the chart renders it, read from the golden renders the helm test pins to the real
// helm binary (test/integration/helm-chart.test.ts fails when a render and its golden file differ).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './moto.ts';

export const GOLDEN_DIR = join(REPO_ROOT, 'test', 'fixtures', 'helm', 'golden');
export const KUBES = ['1.29', '1.33'] as const;
export type EgressMode = 'none' | 'initContainer' | 'cni';

export interface Container {
  readonly name: string;
  readonly restartPolicy?: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly env?: { name: string; value?: string }[];
  readonly volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readonly securityContext?: {
    runAsUser?: number;
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  readonly startupProbe?: { httpGet?: { path: string; port: string | number } };
  readonly ports?: { name?: string; containerPort: number }[];
}

export interface PodSpec {
  readonly containers: Container[];
  readonly initContainers: Container[];
  readonly shareProcessNamespace?: boolean;
  readonly restartPolicy?: string;
  readonly securityContext?: { runAsUser?: number };
}

export interface Render {
  readonly kube: string;
  readonly mode: EgressMode;
  readonly docs: Record<string, unknown>[];
  readonly pod: PodSpec;
  readonly annotations: Record<string, string>;
  /** rules.v4 / rules.v6 of the netinit ConfigMap, when the mode has one. */
  readonly rules: Record<string, string>;
  readonly networkPolicy: {
    spec: {
      policyTypes: string[];
      egress: { to: Record<string, unknown>[]; ports?: { port: number; protocol: string }[] }[];
    };
  };
}

export async function readRender(kube: string, mode: EgressMode): Promise<Render> {
  const text = await readFile(join(GOLDEN_DIR, `k8s-${kube}-egress-${mode}.yaml`), 'utf8');
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
  const kind = (k: string) => docs.filter((d) => d['kind'] === k);
  const job = kind('Job')[0] as {
    spec: { template: { metadata: { annotations: Record<string, string> }; spec: PodSpec } };
  };
  const configMap = kind('ConfigMap')[0] as { data: Record<string, string> } | undefined;
  return {
    kube,
    mode,
    docs,
    pod: job.spec.template.spec,
    annotations: job.spec.template.metadata.annotations,
    rules: configMap?.data ?? {},
    networkPolicy: kind('NetworkPolicy')[0] as Render['networkPolicy'],
  };
}
