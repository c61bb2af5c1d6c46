import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { renderStoragePolicy } from "./render/iamPolicy";

export interface StorageUserArgs {
    /** The bucket the registry stores into; the policy grants nothing outside it. */
    bucketName: pulumi.Input<string>;
    /** ARN partition of the bucket's region (`aws`, `aws-cn`, `aws-us-gov`). Default `aws`. */
    partition?: pulumi.Input<string>;
}

/**
 * The IAM identity the registry uses for S3: a user with one inline policy listing exactly the
 * storage driver's actions on one bucket, and its access key.
 */
export class StorageUser extends pulumi.ComponentResource {
    public readonly user: aws.iam.User;
    public readonly policy: aws.iam.UserPolicy;
    public readonly accessKey: aws.iam.AccessKey;
    public readonly accessKeyId: pulumi.Output<string>;
    /** Always a Pulumi secret, also where the provider does not mark it (e.g. under mocks). */
    public readonly secretAccessKey: pulumi.Output<string>;

    constructor(name: string, args: StorageUserArgs, opts?: pulumi.ComponentResourceOptions) {
        super("private-registry:storage:StorageUser", name, {}, opts);

        this.user = new aws.iam.User(
            `${name}-user`,
            { path: "/docker-registry/", tags: { "managed-by": "pulumi", purpose: "docker-registry" } },
            { parent: this },
        );

        this.policy = new aws.iam.UserPolicy(
            `${name}-policy`,
            {
                user: this.user.name,
                policy: pulumi.all([args.bucketName, args.partition ?? "aws"]).apply(([bucket, partition]) => JSON.stringify(renderStoragePolicy(bucket, partition))),
            },
            { parent: this },
        );

        // The key waits for the policy so the registry never starts with a powerless key.
        this.accessKey = new aws.iam.AccessKey(`${name}-access-key`, { user: this.user.name }, { parent: this, dependsOn: [this.policy] });
        this.accessKeyId = this.accessKey.id;
        this.secretAccessKey = pulumi.secret(this.accessKey.secret);

        this.registerOutputs({ userName: this.user.name, accessKeyId: this.accessKeyId });
    }
}
