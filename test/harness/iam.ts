import { simulate, type SimulationOptions } from "../support/iam";
import type { S3Operation } from "./s3";

/**
 * From S3 API calls (as a server logged them) to the IAM actions AWS authorizes them with, and
 * an IAM simulation of a policy against each.
 *
 * Source: AWS "Amazon S3 actions" / "Policy actions for Amazon S3 API operations" tables.
 */

export interface IamRequirement {
    action: string;
    /** "object": arn:aws:s3:::BUCKET/KEY; "bucket": arn:aws:s3:::BUCKET. */
    scope: "bucket" | "object";
    /** Why this action is needed, for failure messages. */
    note?: string;
}

/**
 * What each S3 API operation needs. An operation missing here makes {@link iamRequirementsFor}
 * throw, so a new call the registry starts making is noticed rather than silently unchecked.
 */
export const S3_OPERATION_IAM: Readonly<Record<string, readonly IamRequirement[]>> = {
    PutObject: [{ action: "s3:PutObject", scope: "object" }],
    CreateMultipartUpload: [{ action: "s3:PutObject", scope: "object" }],
    UploadPart: [{ action: "s3:PutObject", scope: "object" }],
    CompleteMultipartUpload: [{ action: "s3:PutObject", scope: "object" }],
    UploadPartCopy: [
        { action: "s3:PutObject", scope: "object" },
        { action: "s3:GetObject", scope: "object", note: "read of the copy source (same bucket)" },
    ],
    CopyObject: [
        { action: "s3:PutObject", scope: "object" },
        { action: "s3:GetObject", scope: "object", note: "read of the copy source (same bucket)" },
    ],
    AbortMultipartUpload: [{ action: "s3:AbortMultipartUpload", scope: "object" }],
    ListParts: [{ action: "s3:ListMultipartUploadParts", scope: "object" }],
    ListMultipartUploads: [{ action: "s3:ListBucketMultipartUploads", scope: "bucket" }],
    GetObject: [{ action: "s3:GetObject", scope: "object" }],
    HeadObject: [{ action: "s3:GetObject", scope: "object" }],
    ListObjectsV2: [{ action: "s3:ListBucket", scope: "bucket" }],
    ListObjects: [{ action: "s3:ListBucket", scope: "bucket" }],
    HeadBucket: [{ action: "s3:ListBucket", scope: "bucket" }],
    GetBucketLocation: [{ action: "s3:GetBucketLocation", scope: "bucket" }],
    DeleteObject: [{ action: "s3:DeleteObject", scope: "object" }],
    // Multi-object delete is a bucket-level POST, but AWS authorizes each key with s3:DeleteObject.
    DeleteObjects: [{ action: "s3:DeleteObject", scope: "object", note: "each deleted key" }],
};

/** Key used when the log names no object (DeleteObjects, copy sources): any object in the bucket. */
export const ANY_OBJECT_KEY = "docker/registry/v2/any-object";

export interface IamCheck {
    operation: string;
    action: string;
    resource: string;
    note?: string;
}

/** The distinct (operation, action, resource kind) checks needed for a list of operations. */
export function iamRequirementsFor(operations: readonly S3Operation[], bucket: string, partition = "aws"): IamCheck[] {
    const checks = new Map<string, IamCheck>();
    const unknown = new Set<string>();
    for (const op of operations) {
        const requirements = S3_OPERATION_IAM[op.operation];
        if (requirements === undefined) {
            unknown.add(op.operation);
            continue;
        }
        for (const r of requirements) {
            const key = op.key !== "-" && r.note === undefined ? op.key : ANY_OBJECT_KEY;
            const resource = r.scope === "bucket" ? `arn:${partition}:s3:::${bucket}` : `arn:${partition}:s3:::${bucket}/${key}`;
            // One check per operation+action is enough; the resource shape is what matters.
            const id = `${op.operation} ${r.action} ${r.scope}`;
            if (!checks.has(id)) {
                checks.set(id, { operation: op.operation, action: r.action, resource, note: r.note });
            }
        }
    }
    if (unknown.size > 0) {
        throw new Error(`no IAM mapping for S3 operation(s) ${[...unknown].join(", ")}: add them to S3_OPERATION_IAM in test/harness/iam.ts`);
    }
    return [...checks.values()];
}

export interface IamDecision extends IamCheck {
    /** "Allowed", "ImplicitlyDenied", "ExplicitlyDenied", or "Error: ..." */
    result: string;
}

/** Runs the IAM evaluator (test/support/iam.ts) for each check with `policy` as the caller's identity policy. */
export async function simulateIdentityPolicy(policy: unknown, checks: readonly IamCheck[], options: SimulationOptions = {}): Promise<IamDecision[]> {
    const decisions: IamDecision[] = [];
    for (const check of checks) {
        decisions.push({ ...check, result: await simulate(policy, check.action, check.resource, options) });
    }
    return decisions;
}
