// The resource-type matcher tries the most literal formats first and stops at the first fit; that
// must pick what a full scan keeping the most literal fit (the first of equals) picks, for every
// resource type of every service in the IAM catalogue, ARNs filled in from each format.

import t from 'tap';
import { compileArnFormat, createResourceTypeMatcher } from '../../src/manifest/arn.ts';
import { createIamCatalog, type IamResourceType } from '../../src/manifest/iam-actions.ts';

/** The full scan the matcher replaces. */
const scan = (types: readonly IamResourceType[], arn: string): IamResourceType | undefined => {
  let best: ReturnType<typeof compileArnFormat> | undefined;
  for (const format of types.map(compileArnFormat)) {
    if (format.pattern.test(arn) && (best === undefined || format.literal > best.literal)) best = format;
  }
  return best?.type;
};

/** ARNs for a format: placeholders filled with plausible values, and with values holding a '/'. */
const fill = (format: string): string[] =>
  ['name', 'a/b/c'].map((value) =>
    format.replace(/\$\{([A-Za-z0-9]+)\}/g, (_, v: string) =>
      v === 'Partition'
        ? 'aws'
        : v === 'Region'
          ? 'us-east-1'
          : /Account(Id)?$/.test(v)
            ? '123456789012'
            : value,
    ),
  );

t.test('first fit among the most literal formats = the full scan, over the whole catalogue', async (t) => {
  const iam = createIamCatalog();
  let checked = 0;
  let differ = 0;
  for (const service of iam.serviceNames()) {
    const types = iam.resourceTypes(service);
    const match = createResourceTypeMatcher(types);
    for (const type of types) {
      for (const arn of [...fill(type.arn), `${fill(type.arn)[0]}/extra`, `${fill(type.arn)[0]}:x`]) {
        checked += 1;
        if (match(arn) !== scan(types, arn)) differ += 1;
      }
    }
  }
  t.ok(checked > 5000, `${checked} ARNs checked`);
  t.equal(differ, 0, 'no ARN gets another type');
});
