import type { BenchContext } from '../lib/context.ts';
import { notMeasured, type ScenarioResult } from '../lib/results.ts';

// Scenario 2: the small GET through Errand's forward proxy (absolute-form http://) and through
// CONNECT + TLS interception, against the same baselines plus mitmproxy for interception.
// Pending: the forward proxy landed while this suite was being built; its scenarios are not
// written yet (docs/benchmarks.md, "Pending").

export async function runForwardProxy(_ctx: BenchContext): Promise<ScenarioResult> {
  return notMeasured(
    'forward-proxy',
    'Small GET through the forward proxy and through CONNECT + TLS interception',
    'pending',
    'not measured yet: the forward proxy (src/proxy/forward-proxy.ts) landed while this suite was being built',
    'the small GET through `--proxy-listen` as absolute-form http:// and as CONNECT + TLS interception with ' +
      'the pod CA; baselines: direct, the splice, http-proxy, the undici forwarder, tinyproxy, and mitmproxy ' +
      '(mitmdump) for interception; target: interception ≥ 5× mitmproxy throughput.',
  );
}
