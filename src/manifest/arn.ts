// ARN parsing and matching against the IAM resource-type formats.
// ARN grammar: arn:partition:service:region:account-id:resource
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html); the resource part may
// itself contain ':' and '/'.

import type { IamResourceType } from './iam-actions.ts';

export interface Arn {
  readonly partition: string;
  readonly service: string;
  readonly region: string;
  readonly account: string;
  readonly resource: string;
}

/** Split an ARN into its six fields, or undefined when it has fewer than six. */
export function parseArn(text: string): Arn | undefined {
  // The first five colons delimit the fields; the rest, colons included, is the resource. Found by
  // indexOf rather than split and join: a large manifest parses thousands of ARNs at load.
  if (!text.startsWith('arn:')) return undefined;
  const c1 = text.indexOf(':', 4);
  const c2 = c1 === -1 ? -1 : text.indexOf(':', c1 + 1);
  const c3 = c2 === -1 ? -1 : text.indexOf(':', c2 + 1);
  const c4 = c3 === -1 ? -1 : text.indexOf(':', c3 + 1);
  if (c4 === -1) return undefined;
  return {
    partition: text.slice(4, c1),
    service: text.slice(c1 + 1, c2),
    region: text.slice(c2 + 1, c3),
    account: text.slice(c3 + 1, c4),
    resource: text.slice(c4 + 1),
  };
}

/** The partition a region belongs to (https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html). */
export function partitionOfRegion(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

export const hasWildcard = (text: string): boolean => /[*?]/.test(text);

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface CompiledFormat {
  readonly type: IamResourceType;
  readonly pattern: RegExp;
  /** Literal characters in the format: more literal text means a more specific type. */
  readonly literal: number;
}

/**
 * Turn an IAM ARN format into a regular expression. Placeholders match one path component, except
 * the last one, which may hold '/' (object keys, role paths, parameter names).
 */
export function compileArnFormat(type: IamResourceType): CompiledFormat {
  const tokens = type.arn.split(/(\$\{[A-Za-z0-9]+\})/).filter((t) => t !== '');
  let literal = 0;
  const source = tokens
    .map((token, i) => {
      const variable = /^\$\{([A-Za-z0-9]+)\}$/.exec(token)?.[1];
      if (variable === undefined) {
        literal += token.replaceAll('*', '').length;
        return token.split('*').map(escapeRegExp).join('.*');
      }
      if (variable === 'Partition') return 'aws(?:-[a-z]+)*';
      if (variable === 'Region') return '[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}';
      if (/Account(Id)?$/.test(variable)) return '[0-9]{12}';
      return i === tokens.length - 1 ? '.+' : '[^:/]+';
    })
    .join('');
  return { type, pattern: new RegExp(`^${source}$`), literal };
}

/** Finds the most specific resource type whose format an ARN fits, or undefined when none fits. */
export type ResourceTypeMatcher = (arn: string) => IamResourceType | undefined;

/**
 * Compile every format once and return a matcher over them: compiling is what costs (one RegExp per
 * type), so a caller checking many ARNs of one service keeps the matcher.
 */
export function createResourceTypeMatcher(types: readonly IamResourceType[]): ResourceTypeMatcher {
  // Most literal text first (a stable sort keeps the catalogue's order among equals): the first
  // format that fits is the most specific one, so most ARNs need one or two tests, not one per type.
  const compiled = types.map(compileArnFormat).sort((a, b) => b.literal - a.literal);
  return (arn) => compiled.find((format) => format.pattern.test(arn))?.type;
}

/** The most specific resource type whose format `arn` fits, or undefined when none fits. */
export function matchResourceType(
  arn: string,
  types: readonly IamResourceType[],
): IamResourceType | undefined {
  return createResourceTypeMatcher(types)(arn);
}

/** S3 bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). */
export function checkBucketName(bucket: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    return '3-63 characters from a-z 0-9 . and -, starting and ending with a letter or digit';
  }
  if (/\.\./.test(bucket)) return 'no two adjacent periods';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return 'not formatted as an IP address';
  return undefined;
}
