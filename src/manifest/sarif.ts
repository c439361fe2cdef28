// Lint results as SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format), the form code
// scanning dashboards read. One run; the driver lists every rule, each result points at its rule
// by id and index and at its file by physicalLocation, with a region when the line is known.

import type { FileResult } from './lint.ts';
import { type LintRule, RULE_LIST, type Severity } from './lint-rules.ts';

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
export const SARIF_VERSION = '2.1.0';

// SARIF §3.27.10 result.level is one of none, note, warning, error.
const LEVEL: Readonly<Record<Severity, 'error' | 'warning' | 'note'>> = {
  ERROR: 'error',
  SECURITY_WARNING: 'warning',
  WARNING: 'warning',
  SUGGESTION: 'note',
};

const ruleDescriptor = (r: LintRule) => ({
  id: r.id,
  name: r.name,
  shortDescription: { text: r.summary },
  help: { text: r.help },
  defaultConfiguration: { level: LEVEL[r.severity] },
  properties: {
    severity: r.severity,
    tags: r.severity === 'SECURITY_WARNING' || r.severity === 'ERROR' ? ['security'] : [],
  },
});

// SARIF §3.4: artifactLocation.uri is a URI reference; a relative file path with forward slashes,
// percent-encoded where URI syntax needs it, is one.
const uriOf = (file: string): string => file.split(/[\\/]/).map(encodeURIComponent).join('/');

export interface SarifOptions {
  readonly toolVersion: string;
}

export function toSarif(results: readonly FileResult[], opts: SarifOptions): object {
  const index = new Map(RULE_LIST.map((r, i) => [r.id, i]));
  return {
    $schema: SARIF_SCHEMA,
    version: SARIF_VERSION,
    runs: [
      {
        tool: {
          driver: {
            name: 'errand-manifest-lint',
            version: opts.toolVersion,
            rules: RULE_LIST.map(ruleDescriptor),
          },
        },
        results: results.flatMap((file) =>
          file.findings.map((f) => ({
            ruleId: f.ruleId,
            ruleIndex: index.get(f.ruleId) ?? -1,
            level: LEVEL[f.severity],
            message: { text: f.message },
            locations: [
              {
                physicalLocation: {
                  artifactLocation: { uri: uriOf(file.file) },
                  ...(f.line === undefined || f.line < 1
                    ? {}
                    : { region: { startLine: f.line, startColumn: Math.max(1, f.column ?? 1) } }),
                },
                logicalLocations: [{ fullyQualifiedName: f.path === '' ? '/' : f.path, kind: 'member' }],
              },
            ],
            properties: { severity: f.severity, path: f.path },
          })),
        ),
      },
    ],
  };
}

export function formatSarif(results: readonly FileResult[], opts: SarifOptions): string {
  return `${JSON.stringify(toSarif(results, opts), null, 2)}\n`;
}
