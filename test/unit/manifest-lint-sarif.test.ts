// The SARIF output holds to the structure SARIF 2.1.0 requires (OASIS SARIF v2.1.0: sarifLog §3.13,
// run §3.14, tool §3.18, toolComponent §3.19, reportingDescriptor §3.49, result §3.27, location
// §3.28, physicalLocation §3.29, region §3.30), checked field by field here.
import t from 'tap';
import type { FileResult } from '../../src/manifest/lint.ts';
import { RULE_LIST } from '../../src/manifest/lint-rules.ts';
import { formatSarif, SARIF_VERSION, toSarif } from '../../src/manifest/sarif.ts';
import { arr, type Json, obj, sarifViolations } from '../fixtures/review/sarif-check.ts';

const results: FileResult[] = [
  {
    file: 'examples/with space.yaml',
    loaded: true,
    findings: [
      {
        ruleId: 'ERRAND011',
        rule: 'write-action',
        severity: 'WARNING',
        message: "grant 'w' allows POST https://api.acme.dev/v1/x",
        path: '/http/grants/0/method',
        line: 21,
        column: 15,
      },
      {
        ruleId: 'ERRAND014',
        rule: 'long-lived',
        severity: 'WARNING',
        message: 'the manifest is valid for 3 hours from now',
        path: '/task/expiresAt',
      },
    ],
  },
  {
    file: 'bad.yaml',
    loaded: false,
    findings: [
      {
        ruleId: 'ERRAND000',
        rule: 'manifest-invalid',
        severity: 'ERROR',
        message: 'ERR_MANIFEST_SYNTAX bad',
        path: '',
        line: 3,
        column: 1,
      },
    ],
  },
];

t.test('the SARIF log has every field SARIF 2.1.0 requires', async (t) => {
  const log = JSON.parse(formatSarif(results, { toolVersion: '0.1.0' }));
  t.same(sarifViolations(log), []);
  t.equal(log.version, SARIF_VERSION);
  t.equal(log.runs[0].tool.driver.rules.length, RULE_LIST.length);
});

t.test('results point at file, line and column, with the JSON pointer as logical location', async (t) => {
  const log = toSarif(results, { toolVersion: '0.1.0' }) as Json;
  const run = obj(arr(log['runs'])[0]);
  t.same(run['results'], [
    {
      ruleId: 'ERRAND011',
      ruleIndex: RULE_LIST.findIndex((r) => r.id === 'ERRAND011'),
      level: 'warning',
      message: { text: "grant 'w' allows POST https://api.acme.dev/v1/x" },
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: 'examples/with%20space.yaml' },
            region: { startLine: 21, startColumn: 15 },
          },
          logicalLocations: [{ fullyQualifiedName: '/http/grants/0/method', kind: 'member' }],
        },
      ],
      properties: { severity: 'WARNING', path: '/http/grants/0/method' },
    },
    {
      ruleId: 'ERRAND014',
      ruleIndex: RULE_LIST.findIndex((r) => r.id === 'ERRAND014'),
      level: 'warning',
      message: { text: 'the manifest is valid for 3 hours from now' },
      locations: [
        {
          physicalLocation: { artifactLocation: { uri: 'examples/with%20space.yaml' } },
          logicalLocations: [{ fullyQualifiedName: '/task/expiresAt', kind: 'member' }],
        },
      ],
      properties: { severity: 'WARNING', path: '/task/expiresAt' },
    },
    {
      ruleId: 'ERRAND000',
      ruleIndex: 0,
      level: 'error',
      message: { text: 'ERR_MANIFEST_SYNTAX bad' },
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: 'bad.yaml' },
            region: { startLine: 3, startColumn: 1 },
          },
          logicalLocations: [{ fullyQualifiedName: '/', kind: 'member' }],
        },
      ],
      properties: { severity: 'ERROR', path: '' },
    },
  ]);
});

t.test('rule descriptors carry severity and a security tag where it applies', async (t) => {
  const log = toSarif([], { toolVersion: '0.1.0' }) as Json;
  const driver = obj(obj(obj(arr(log['runs'])[0])['tool'])['driver']);
  const broad = arr(driver['rules'])
    .map(obj)
    .find((r) => r['id'] === 'ERRAND006');
  t.same(broad, {
    id: 'ERRAND006',
    name: 'broad-resource',
    shortDescription: { text: 'A grant uses broadResource: its wildcards cover objects nobody listed.' },
    help: { text: 'Replace the pattern with the exact ARNs the task needs.' },
    defaultConfiguration: { level: 'warning' },
    properties: { severity: 'SECURITY_WARNING', tags: ['security'] },
  });
  t.same(obj(arr(log['runs'])[0])['results'], []);
});

t.test('the structural check itself rejects broken logs', async (t) => {
  t.same(
    sarifViolations({
      version: '2.0.0',
      runs: [
        {
          tool: { driver: { name: '', rules: [{ id: 'A' }, { id: 'A' }] } },
          results: [
            {
              ruleId: 'B',
              ruleIndex: 0,
              level: 'fatal',
              message: {},
              locations: [
                {
                  physicalLocation: {
                    artifactLocation: { uri: '' },
                    region: { startLine: 0, startColumn: 0 },
                  },
                },
              ],
            },
          ],
        },
      ],
    }),
    [
      'sarifLog.version must be "2.1.0"',
      'sarifLog.$schema should name the schema',
      'runs[0].tool.driver.name required',
      'runs[0] rule ids must be unique',
      'rules[0].shortDescription.text',
      'rules[0].defaultConfiguration.level',
      'rules[1].shortDescription.text',
      'rules[1].defaultConfiguration.level',
      'results[0].message',
      'results[0].level',
      'results[0].ruleIndex must point at rule B',
      'results[0] artifactLocation.uri',
      'results[0] startLine >= 1',
      'results[0] startColumn >= 1',
    ],
  );
  t.throws(() => sarifViolations([]), { message: 'not an object: []' });
  t.throws(() => sarifViolations({ version: '2.1.0', runs: {} }), { message: 'not an array: {}' });
});
