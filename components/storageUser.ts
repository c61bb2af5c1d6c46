import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { renderStoragePolicy } from "./render/iamPolicy";

export interface StorageUserArgs {
    /** The bucket the registry stores into; the policy grants nothing outside it. */
    bucketName: pulumi.Input<string>;
    /** ARN partition of the bucket's region (`aws`, `aws-cn`, `aws-us-gov`). Default `aws`. */
    partition?: pulumi.Input<string>;
    /** Raised by one, the next `pulumi up` issues a new access key and deletes the old one. Default `0`. */
    keyGeneration?: number;
}

/**
 * The access key's resource name for a generation. Generation 0 keeps the name it always had,
 * so existing stacks keep their key. Each later one is a new resource: Pulumi creates it while
 * the program runs, the registry's start command (which depends on it) restarts the registry
 * with it, and only after the program has finished does the engine delete the resources it no
 * longer declares, the old key among them (pulumi/pulumi v3.248.0,
 * pkg/resource/deploy/deployment_executor.go `performPostSteps`, step_generator.go
 * `GenerateDeletes`: "resources that ... were not registered in the new snapshot"). An IAM user
 * may hold two keys, so the old and the new coexist for that moment.
 */
export function accessKeyResourceName(name: string, generation: number): string {
    return generation === 0 ? `${name}-access-key` : `${name}-access-key-${generation}`;
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
        this.accessKey = new aws.iam.AccessKey(accessKeyResourceName(name, args.keyGeneration ?? 0), { user: this.user.name }, { parent: this, dependsOn: [this.policy] });
        this.accessKeyId = this.accessKey.id;
        this.secretAccessKey = pulumi.secret(this.accessKey.secret);

        this.registerOutputs({ userName: this.user.name, accessKeyId: this.accessKeyId });
    }
}
