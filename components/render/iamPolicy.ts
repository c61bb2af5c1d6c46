/**
 * The storage user's IAM policy: exactly what the registry's S3 driver calls, on exactly one
 * bucket. Pure: a bucket name in, a policy document out.
 *
 * Source: distribution `docs/content/storage-drivers/s3.md`, "S3 permission scopes".
 */

/** Actions on the bucket itself (`arn:aws:s3:::BUCKET`). */
export const BUCKET_ACTIONS = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"] as const;

/** Actions on the objects in the bucket (`arn:aws:s3:::BUCKET/*`). */
export const OBJECT_ACTIONS = [
    "s3:PutObject",
    "s3:GetObject",
    "s3:DeleteObject",
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
] as const;

export interface PolicyStatement {
    Sid: string;
    Effect: "Allow" | "Deny";
    Action: string[];
    Resource: string[];
}

export interface PolicyDocument {
    Version: "2012-10-17";
    Statement: PolicyStatement[];
}

export function bucketArn(bucketName: string, partition = "aws"): string {
    return `arn:${partition}:s3:::${bucketName}`;
}

export function renderStoragePolicy(bucketName: string, partition = "aws"): PolicyDocument {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName)) {
        // A '*' or '/' here would widen the grant beyond one bucket.
        throw new Error(`bucket name ${JSON.stringify(bucketName)} is not a valid S3 bucket name`);
    }
    const arn = bucketArn(bucketName, partition);
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "RegistryBucket", Effect: "Allow", Action: [...BUCKET_ACTIONS], Resource: [arn] },
            { Sid: "RegistryObjects", Effect: "Allow", Action: [...OBJECT_ACTIONS], Resource: [`${arn}/*`] },
        ],
    };
}

/** A bucket policy that refuses every request not made over TLS, whoever makes it. */
export function renderTlsOnlyBucketPolicy(bucketName: string, partition = "aws"): Record<string, unknown> {
    const arn = bucketArn(bucketName, partition);
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [arn, `${arn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ],
    };
}
