import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { isSecretValue, ofType, RecordedResource, single, valueOf } from "../support/mocks";
import { deployFromSettings, installSpacesMocks, REGISTRY_SECRET, type Deployed } from "../support/spacesMocks";
import { decodeBundleFiles } from "../support/bundle";
import { stackOutputs } from "../../components/outputs";

const recorded: RecordedResource[] = installSpacesMocks();
const deploy = (prefix: string, values: Record<string, string>, aws?: Map<string, string>) => deployFromSettings(recorded, prefix, values, aws);

/** The registry's key: every Spaces key but the bucket's admin key (spacesProvider.test.ts). */
const registryKeyOf = (d: Deployed) => single(d.resources.filter((r) => !r.name.endsWith("-bucket-admin-key")), "digitalocean:index/spacesKey:SpacesKey");

const startOf = (d: Deployed) => ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"))!;

describe("storage=spaces", () => {
    let d: Deployed;
    before(async () => {
        d = await deploy("sp", { storage: "spaces" });
    });

    it("makes no AWS resource at all, and no IAM user, key or policy", () => {
        const aws = d.resources.filter((r) => r.type.startsWith("aws:"));
        assert.deepEqual(aws.map((r) => `${r.type} ${r.name}`), []);
        assert.equal(d.resources.filter((r) => r.type === "private-registry:storage:RegistryBucket" || r.type === "private-registry:storage:StorageUser").length, 0);
        assert.equal(d.registry.bucket, undefined);
        assert.equal(d.registry.storageUser, undefined);
    });

    it("makes one private Spaces bucket in the droplet's region, with the abort-incomplete-uploads rule", () => {
        const bucket = single(d.resources, "digitalocean:index/spacesBucket:SpacesBucket");
        assert.equal(bucket.name, "sp-storage-bucket");
        assert.equal(bucket.inputs.region, "nyc3");
        assert.equal(bucket.inputs.region, single(d.resources, "digitalocean:index/droplet:Droplet").inputs.region);
        assert.equal(bucket.inputs.acl, "private");
        assert.equal(bucket.inputs.forceDestroy, false);
        assert.equal(bucket.inputs.name, undefined, "the name is generated unless given");
        assert.deepEqual(bucket.inputs.versioning, { enabled: false });
        assert.deepEqual(bucket.inputs.lifecycleRules, [{ id: "abort-incomplete-multipart-uploads", enabled: true, abortIncompleteMultipartUploadDays: 1 }]);
        assert.equal(single(d.resources, "private-registry:storage:SpacesStorage").name, "sp-storage");
    });

    it("grants the key read and write on that one bucket, and nothing else", async () => {
        const key = registryKeyOf(d);
        assert.equal(key.name, "sp-storage-key");
        const bucketName = await valueOf(d.registry.bucketName);
        assert.equal(bucketName, "sp-storage-bucket-7d3e0b2");
        assert.deepEqual(key.inputs.grants, [{ bucket: bucketName, permission: "readwrite" }]);
        assert.equal(key.inputs.name, "sp-storage-bucket-7d3e0b2-registry");
    });

    it("points the registry's S3 driver at the region's Spaces endpoint, with the key", () => {
        const files = decodeBundleFiles(startOf(d).inputs.stdin);
        for (const file of ["config.yml", "config-readonly.yml"]) {
            const s3 = parse(files[file]).storage.s3;
            assert.equal(s3.regionendpoint, "https://nyc3.digitaloceanspaces.com", file);
            assert.equal(s3.region, "nyc3");
            assert.equal(s3.forcepathstyle, true);
            assert.equal(s3.bucket, "sp-storage-bucket-7d3e0b2");
            assert.equal(s3.accesskey, "DO00SPSTORAGEKEY");
            assert.equal(s3.secretkey, REGISTRY_SECRET);
            assert.equal(s3.encrypt, false, "Spaces supports SSE-C only");
            assert.equal(s3.objectacl, "private");
            assert.doesNotMatch(files[file], /amazonaws/);
        }
    });

    it("keeps the key's secret a secret: never in the command text, the outputs or plain inputs", async () => {
        assert.equal(await pulumi.isSecret(d.registry.spaces!.secretAccessKey), true);
        assert.equal(await pulumi.isSecret(d.registry.spaces!.key.secretKey), false, "the mock leaves it plain, proving the wrapper matters");
        const start = startOf(d);
        assert.ok(isSecretValue(start.rawInputs.stdin), "stdin, which carries it, reaches the engine as a secret");
        for (const command of ofType(d.resources, "command:remote:Command").concat(ofType(d.resources, "command:local:Command"))) {
            assert.ok(!String(command.inputs.create ?? "").includes(REGISTRY_SECRET), `${command.name}'s command text`);
            assert.ok(!JSON.stringify(command.inputs.environment ?? {}).includes(REGISTRY_SECRET), `${command.name}'s environment`);
            assert.ok(!JSON.stringify(command.inputs.triggers ?? []).includes(REGISTRY_SECRET), `${command.name}'s triggers`);
        }
        const outputs = stackOutputs(d.registry);
        for (const [name, output] of Object.entries(outputs)) {
            if (output === undefined || (await pulumi.isSecret(output as pulumi.Output<unknown>))) {
                continue;
            }
            assert.ok(!JSON.stringify(await valueOf(output as pulumi.Output<unknown>)).includes(REGISTRY_SECRET), `plain output ${name}`);
        }
    });

    it("starts the registry only once the key and the bucket exist", () => {
        const service = d.options.find((o) => o.type === "private-registry:registry:RegistryService");
        const deps = service?.opts.dependsOn as pulumi.Resource[];
        assert.ok(deps.includes(d.registry.spaces!.key));
        assert.ok(deps.includes(d.registry.spaces!));
    });

    it("says where the layers are, and prices the stack with Spaces", async () => {
        assert.equal(await valueOf(d.registry.bucketRegion), "nyc3");
        const outputs = stackOutputs(d.registry);
        assert.equal(await valueOf(outputs.bucketName), "sp-storage-bucket-7d3e0b2");
        assert.equal(await valueOf(outputs.bucketRegion), "nyc3");
        assert.equal(await valueOf(outputs.estimatedMonthlyCostUsd), 11);
    });
});

describe("storage=spaces with the other bucket settings", () => {
    it("a droplet region without Spaces puts the bucket in the nearest one, and the driver there", async () => {
        const d = await deploy("spnyc1", { storage: "spaces", dropletRegion: "nyc1" });
        assert.equal(single(d.resources, "digitalocean:index/droplet:Droplet").inputs.region, "nyc1");
        assert.equal(single(d.resources, "digitalocean:index/spacesBucket:SpacesBucket").inputs.region, "nyc3");
        assert.equal(parse(decodeBundleFiles(startOf(d).inputs.stdin)["config.yml"]).storage.s3.regionendpoint, "https://nyc3.digitaloceanspaces.com");
    });

    it("versioning, the abort days, an exact name and forceDestroy reach the bucket", async () => {
        const d = await deploy("spopts", { storage: "spaces", versioning: "true", abortIncompleteUploadDays: "7", bucketName: "team-registry", forceDestroy: "true" });
        const bucket = single(d.resources, "digitalocean:index/spacesBucket:SpacesBucket").inputs;
        assert.equal(bucket.name, "team-registry");
        assert.equal(bucket.forceDestroy, true);
        assert.deepEqual(bucket.versioning, { enabled: true });
        assert.deepEqual(bucket.lifecycleRules, [{ id: "abort-incomplete-multipart-uploads", enabled: true, abortIncompleteMultipartUploadDays: 7, noncurrentVersionExpiration: { days: 30 } }]);
        assert.deepEqual(registryKeyOf(d).inputs.grants, [{ bucket: "team-registry", permission: "readwrite" }]);
    });

    it("with forceDestroy off, the bucket alone holds its settings, so a destroy that stops at it loses none", async () => {
        const d = await deploy("spkeep", { storage: "spaces" });
        const storageTypes = d.resources.filter((r) => r.name.startsWith("spkeep-storage")).map((r) => r.type).sort();
        assert.deepEqual(storageTypes, [
            "digitalocean:index/spacesBucket:SpacesBucket",
            "digitalocean:index/spacesKey:SpacesKey",
            "digitalocean:index/spacesKey:SpacesKey",
            "private-registry:storage:SpacesStorage",
            "pulumi:providers:digitalocean",
        ]);
        assert.equal(single(d.resources, "digitalocean:index/spacesBucket:SpacesBucket").inputs.forceDestroy, false);
    });

    it("a credential rotation makes a new key beside the old one's name", async () => {
        const d = await deploy("sprot", { storage: "spaces", credentialRotation: "2" });
        const key = registryKeyOf(d);
        assert.equal(key.name, "sprot-storage-key-2");
        assert.equal(key.inputs.name, "sprot-storage-bucket-7d3e0b2-registry-2");
        assert.equal(parse(decodeBundleFiles(startOf(d).inputs.stdin)["config.yml"]).storage.s3.accesskey, "DO00SPROTSTORAGEKEY2");
    });
});

describe("storage=s3 is today's stack", () => {
    /** The default stack's storage resources, by type and name, as they were before Spaces existed. */
    const S3_STORAGE = [
        "private-registry:storage:RegistryBucket base-storage",
        "aws:s3/bucket:Bucket base-storage-bucket",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock base-storage-public-access-block",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls base-storage-ownership",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration base-storage-encryption",
        "aws:s3/bucketVersioning:BucketVersioning base-storage-versioning",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration base-storage-lifecycle",
        "aws:s3/bucketPolicy:BucketPolicy base-storage-tls-only-policy",
        "private-registry:storage:StorageUser base-storage",
        "aws:iam/user:User base-storage-user",
        "aws:iam/userPolicy:UserPolicy base-storage-policy",
        "aws:iam/accessKey:AccessKey base-storage-access-key",
    ].sort();

    it("declares the same storage resources, by type and name, and no Spaces resource", async () => {
        const d = await deploy("base", {}, new Map([["region", "eu-central-1"]]));
        const storage = d.resources.filter((r) => r.name.startsWith("base-storage")).map((r) => `${r.type} ${r.name}`).sort();
        assert.deepEqual(storage, S3_STORAGE);
        assert.equal(d.resources.filter((r) => r.type.includes("spaces") || r.type.includes("Spaces")).length, 0);
        assert.equal(d.registry.spaces, undefined);
    });

    it("storage=s3 set explicitly gives every resource the very inputs of a stack without it", async () => {
        // One stack name for both, as a real stack keeps; only the mock's droplet ID differs.
        const shown = async (d: Deployed) => JSON.stringify(d.resources.map((r) => ({ type: r.type, name: r.name, inputs: r.inputs }))).replaceAll(await valueOf(d.registry.host.droplet.id), "DROPLET");
        const without = await deploy("same", {}, new Map([["region", "eu-central-1"]]));
        const explicit = await deploy("same", { storage: "s3" }, new Map([["region", "eu-central-1"]]));
        assert.equal(explicit.resources.length, without.resources.length);
        assert.equal(await shown(explicit), await shown(without));
        assert.equal(parse(decodeBundleFiles(startOf(explicit).inputs.stdin)["config.yml"]).storage.s3.regionendpoint, "https://s3.eu-central-1.amazonaws.com");
    });
});
