// ARN syntax ("Amazon Resource Names (ARNs)", IAM User Guide): arn:partition:service:region:account:resource,
// where the resource part may itself contain ':' and '/'.

export interface Arn {
  readonly partition: string;
  readonly service: string;
  readonly region: string;
  readonly account: string;
  readonly resource: string;
}

const ARN = /^arn:(aws|aws-cn|aws-us-gov):([a-z0-9-]{1,64}):([a-z0-9-]{0,32}):([0-9]{12}|):(.{1,2048})$/s;

export function parseArn(text: string): Arn | undefined {
  const m = ARN.exec(text);
  if (!m) return undefined;
  return { partition: m[1]!, service: m[2]!, region: m[3]!, account: m[4]!, resource: m[5]! };
}

/** `aws` unless the region is in a separate partition (China, GovCloud). */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}
