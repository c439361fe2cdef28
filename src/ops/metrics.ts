import { Counter, Gauge, Histogram, Registry } from 'prom-client';

// Prometheus metrics in a registry the sidecar owns (never the global default). Label values are
// closed sets (listener, service, decision, reason code, grant id from the manifest): nothing the
// agent sends becomes a label, so it cannot blow up cardinality or smuggle data out.

export interface RequestLabels {
  readonly listener: string;
  readonly service: string;
  readonly decision: string;
  readonly reason: string;
}

export interface Metrics {
  readonly registry: Registry;
  observeRequest(labels: RequestLabels, seconds: number): void;
  upstreamError(service: string): void;
  setUsesRemaining(grantId: string, remaining: number): void;
  setSessionExpiry(session: string, epochSeconds: number): void;
}

/** Read at each scrape: the STS sessions held now (none once wiped or expired). */
export type SessionExpiries = () => readonly { readonly key: string; readonly expiresAt: string }[];

export function createMetrics(version: string, sessionExpiries?: SessionExpiries): Metrics {
  const registry = new Registry();
  // The labelled series of each label set, looked up once: prom-client hashes the labels on every
  // inc/observe otherwise. Bounded: every label value comes from a closed set (see above). A request
  // only adds to `pending`; each scrape hands the counts to prom-client (collect), so /metrics shows
  // every request decided before it.
  const requestSeries = new Map<
    string,
    { readonly labels: RequestLabels; pending: number; readonly observe: (seconds: number) => void }
  >();
  new Counter({
    name: 'errand_requests_total',
    help: 'Requests decided, by listener, service, decision and reason code',
    labelNames: ['listener', 'service', 'decision', 'reason'],
    registers: [registry],
    collect() {
      for (const series of requestSeries.values()) {
        if (series.pending === 0) continue;
        this.inc(series.labels, series.pending);
        series.pending = 0;
      }
    },
  });
  const duration = new Histogram({
    name: 'errand_request_duration_seconds',
    help: 'Time from request to decision or end of response',
    labelNames: ['listener', 'decision'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: 'errand_upstream_errors_total',
    help: 'Upstream connection, TLS or timeout failures',
    labelNames: ['service'],
    registers: [registry],
  });
  const uses = new Gauge({
    name: 'errand_grant_uses_remaining',
    help: 'Uses left per grant (-1 for unlimited)',
    labelNames: ['grant'],
    registers: [registry],
  });
  const expiry = new Gauge({
    name: 'errand_sts_session_expiry_timestamp_seconds',
    help: 'When each STS session expires',
    labelNames: ['session'],
    registers: [registry],
    collect() {
      if (!sessionExpiries) return;
      this.reset();
      for (const s of sessionExpiries()) this.set({ session: s.key }, Date.parse(s.expiresAt) / 1000);
    },
  });
  const build = new Gauge({
    name: 'errand_build_info',
    help: 'Errand version and Node version',
    labelNames: ['version', 'node'],
    registers: [registry],
  });
  build.set({ version, node: process.versions.node }, 1);
  return {
    registry,
    observeRequest(labels, seconds) {
      const key = `${labels.listener} ${labels.service} ${labels.decision} ${labels.reason}`;
      let series = requestSeries.get(key);
      if (series === undefined) {
        const histogram = duration.labels({ listener: labels.listener, decision: labels.decision });
        series = {
          labels: {
            listener: labels.listener,
            service: labels.service,
            decision: labels.decision,
            reason: labels.reason,
          },
          pending: 0,
          observe: (s) => histogram.observe(s),
        };
        requestSeries.set(key, series);
      }
      series.pending += 1;
      series.observe(seconds);
    },
    upstreamError: (service) => upstreamErrors.inc({ service }),
    setUsesRemaining: (grant, remaining) => uses.set({ grant }, remaining),
    setSessionExpiry: (session, epochSeconds) => expiry.set({ session }, epochSeconds),
  };
}
