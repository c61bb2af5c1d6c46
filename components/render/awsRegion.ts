/**
 * What an AWS region name implies for the bucket: the ARN partition its policies must name, and
 * the S3 endpoint the registry's driver talks to. Pure.
 *
 * Sources:
 * - Partitions `aws`, `aws-cn` (cn-*) and `aws-us-gov` (us-gov-*), each account scoped to one:
 *   AWS General Reference, "Identify AWS resources with ARNs", and docs.amazonaws.cn
 *   `general/latest/gr/ARNs.html` ("In the Beijing and Ningxia Regions, the ARN syntax includes
 *   a cn: arn:aws-cn").
 * - Regional S3 endpoints `s3.REGION.amazonaws.com`, and `amazonaws.com.cn` for the China
 *   regions: AWS General Reference, "Amazon S3 endpoints and quotas"; docs.amazonaws.cn
 *   `general/latest/gr/endpoints-arns.html`.
 * - Why the endpoint is always set: without `regionendpoint` the v3 S3 driver refuses any region
 *   missing from the region list bundled in its aws-sdk-go v1 (distribution
 *   `registry/storage/driver/s3-aws/s3.go`: "Don't check the region value if a custom endpoint
 *   is provided", then `invalid region provided`; distribution#4614), so a region AWS opened
 *   after that SDK release would make the registry exit at start.
 */

export type AwsPartition = "aws" | "aws-cn" | "aws-us-gov";

/** The isolated partitions (us-iso-*, us-isob-*, eu-isoe-*, us-isof-*): unreachable from a droplet. */
const ISOLATED_REGION = /^[a-z]{2}-iso[a-z]?-/;

/** The region's partition, or undefined for one this project cannot use. */
export function awsPartitionOf(region: string): AwsPartition | undefined {
    if (ISOLATED_REGION.test(region)) {
        return undefined;
    }
    if (region.startsWith("cn-")) {
        return "aws-cn";
    }
    if (region.startsWith("us-gov-")) {
        return "aws-us-gov";
    }
    return "aws";
}

/** The regional S3 endpoint the driver is pointed at, for every region alike. */
export function s3RegionalEndpoint(region: string): string {
    const domain = awsPartitionOf(region) === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
    return `https://s3.${region}.${domain}`;
}
