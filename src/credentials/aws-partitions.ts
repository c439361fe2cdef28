// The AWS partitions STS endpoints are built from: region pattern and DNS suffixes. The same data
// the AWS SDKs resolve endpoints with (their partitions.json); a unit test checks this table
// against the SDK's copy, so a new partition shows up as a failing test rather than a wrong host.

export interface AwsPartition {
  readonly name: string;
  readonly regionRegex: RegExp;
  readonly dnsSuffix: string;
  readonly dualStackDnsSuffix: string;
}

/** In the SDK's order: the first whose pattern matches a region is its partition. */
export const AWS_PARTITIONS: readonly AwsPartition[] = [
  {
    name: 'aws',
    regionRegex: /^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$/,
    dnsSuffix: 'amazonaws.com',
    dualStackDnsSuffix: 'api.aws',
  },
  {
    name: 'aws-cn',
    regionRegex: /^cn-\w+-\d+$/,
    dnsSuffix: 'amazonaws.com.cn',
    dualStackDnsSuffix: 'api.amazonwebservices.com.cn',
  },
  {
    name: 'aws-eusc',
    regionRegex: /^eusc-(de)-\w+-\d+$/,
    dnsSuffix: 'amazonaws.eu',
    dualStackDnsSuffix: 'api.amazonwebservices.eu',
  },
  {
    name: 'aws-iso',
    regionRegex: /^us-iso-\w+-\d+$/,
    dnsSuffix: 'c2s.ic.gov',
    dualStackDnsSuffix: 'api.aws.ic.gov',
  },
  {
    name: 'aws-iso-b',
    regionRegex: /^us-isob-\w+-\d+$/,
    dnsSuffix: 'sc2s.sgov.gov',
    dualStackDnsSuffix: 'api.aws.scloud',
  },
  {
    name: 'aws-iso-e',
    regionRegex: /^eu-isoe-\w+-\d+$/,
    dnsSuffix: 'cloud.adc-e.uk',
    dualStackDnsSuffix: 'api.cloud-aws.adc-e.uk',
  },
  {
    name: 'aws-iso-f',
    regionRegex: /^us-isof-\w+-\d+$/,
    dnsSuffix: 'csp.hci.ic.gov',
    dualStackDnsSuffix: 'api.aws.hci.ic.gov',
  },
  {
    name: 'aws-us-gov',
    regionRegex: /^us-gov-\w+-\d+$/,
    dnsSuffix: 'amazonaws.com',
    dualStackDnsSuffix: 'api.aws',
  },
];

/** The region's partition; like the SDKs, a region no pattern matches is taken to be in `aws`. */
export function partitionOf(region: string): AwsPartition {
  return AWS_PARTITIONS.find((p) => p.regionRegex.test(region)) ?? (AWS_PARTITIONS[0] as AwsPartition);
}
