import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { isSecretValue, ofType, RecordedResource, single, valueOf } from "../support/mocks";
import { ADMIN_SECRET, deployFromSettings, installSpacesMocks, REGISTRY_SECRET, SPACES_BUCKET, SPACES_KEY, type Deployed } from "../support/spacesMocks";
import { decodeBundleFiles } from "../support/bundle";
import { stackOutputs } from "../../components/outputs";

/**
 * storage=spaces with the DigitalOcean token as the only credential: the token makes a bucket
 * admin key, and the bucket is managed by a provider of its own that signs with that key.
 */

const TOKEN = "dop_v1_MOCKTOKENa83kq0Zt5Wm1Rx7Pn2Bv4Lc";
const PROVIDER = "pulumi:providers:digitalocean";

const recorded: RecordedResource[] = installSpacesMocks();

/** Deploys with `digitalocean:` config `doConfig` (its token a secret, as `pulumi config set --secret` stores it). */
async function deploy(prefix: string, values: Record<string, string>, doConfig: Record<string, string> = { token: TOKEN }, aws?: Map<string, string>): Promise<Deployed> {
    pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(doConfig).map(([k, v]) => [`digitalocean:${k}`, v])), ["digitalocean:token"]);
    return deployFromSettings(recorded, prefix, values, aws);
}

const named = (d: Deployed, name: string) => {
    const found = d.resources.filter((r) => r.name === name);
    assert.equal(found.length, 1, `one resource named ${name}; got ${found.length}`);
    return found[0];
};
const optionsOf = (d: Deployed, name: string) => {
    const found = d.options.filter((o) => o.name === name);
    assert.ok(found.length > 0, `options of ${name}`);
    return found[found.length - 1].opts;
};

before(async () => {
    // No Spaces key of the user's own, in either place the provider would look.
    delete process.env.SPACES_ACCESS_KEY_ID;
    delete process.env.SPACES_SECRET_ACCESS_KEY;
});

describe("storage=spaces with only digitalocean:token", () => {
    let d: Deployed;
    before(async () => {
        d = await deploy("tok", { storage: "spaces" });
    });

    it("makes a bucket admin key with the token: full access, the least grant that creates and configures a bucket", () => {
        const admin = named(d, "tok-storage-bucket-admin-key");
        assert.equal(admin.type, SPACES_KEY);
        assert.deepEqual(admin.inputs.grants, [{ bucket: "", permission: "fullaccess" }]);
        const opts = optionsOf(d, "tok-storage-bucket-admin-key");
        assert.equal(opts.parent, d.registry.spaces, "a child of the storage component");
        assert.equal(opts.provider, undefined, "made by the default provider, which holds the token");
    });

    it("manages the bucket with a provider of its own, given the token and the admin key", async () => {
        const provider = named(d, "tok-storage-spaces-provider");
        assert.equal(provider.type, PROVIDER);
        assert.equal(provider.inputs.token, TOKEN);
        assert.equal(provider.inputs.spacesAccessId, "DO00TOKSTORAGEBUCKETADMINKEY");
        assert.equal(provider.inputs.spacesSecretKey, ADMIN_SECRET);
        assert.equal(optionsOf(d, "tok-storage-spaces-provider").parent, d.registry.spaces);

        const bucket = optionsOf(d, "tok-storage-bucket");
        assert.equal(bucket.provider, d.registry.spaces!.bucketProvider);
        assert.ok((bucket.dependsOn as pulumi.Resource[]).includes(d.registry.spaces!.bucketAdminKey), "destroy deletes the bucket before its admin key");
        assert.equal(single(d.resources, SPACES_BUCKET).name, "tok-storage-bucket");
    });

    it("keeps the registry's key separate: read and write on the bucket, made by the default provider", async () => {
        const key = named(d, "tok-storage-key");
        assert.deepEqual(key.inputs.grants, [{ bucket: "tok-storage-bucket-7d3e0b2", permission: "readwrite" }]);
        assert.equal(optionsOf(d, "tok-storage-key").provider, undefined);
        assert.equal(await valueOf(d.registry.spaces!.accessKeyId), "DO00TOKSTORAGEKEY");
        assert.equal(await valueOf(d.registry.spaces!.secretAccessKey), REGISTRY_SECRET);
        assert.equal(ofType(d.resources, SPACES_KEY).length, 2);
    });

    it("hands the provider its token and the admin key as secrets, and the admin key goes nowhere else", async () => {
        const provider = named(d, "tok-storage-spaces-provider");
        for (const input of ["token", "spacesAccessId", "spacesSecretKey"]) {
            assert.ok(isSecretValue(provider.rawInputs[input]), `the provider's ${input} reaches the engine as a secret`);
        }
        for (const r of d.resources.filter((x) => x.type !== PROVIDER)) {
            const shown = JSON.stringify(r.inputs);
            assert.ok(!shown.includes(ADMIN_SECRET), `${r.type} ${r.name} holds the admin key's secret`);
            assert.ok(!shown.includes(TOKEN), `${r.type} ${r.name} holds the token`);
        }
        const start = ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"))!;
        for (const [file, text] of Object.entries(decodeBundleFiles(start.inputs.stdin))) {
            assert.ok(!text.includes(ADMIN_SECRET) && !text.includes("DO00TOKSTORAGEBUCKETADMINKEY"), `the droplet's ${file} names the admin key`);
        }
        for (const [name, output] of Object.entries(stackOutputs(d.registry))) {
            if (output !== undefined) {
                const shown = JSON.stringify(await valueOf(output as pulumi.Output<unknown>));
                assert.ok(!shown.includes(ADMIN_SECRET) && !shown.includes(TOKEN), `output ${name}, secret or not`);
            }
        }
    });
});

describe("the bucket's provider across settings", () => {
    it("a credential rotation turns over the registry's key alone: the admin key and the provider stay as they were", async () => {
        const at = async (rotation: string) => {
            const d = await deploy("rot", { storage: "spaces", credentialRotation: rotation });
            const keys = ofType(d.resources, SPACES_KEY).map((k) => `${k.name} ${JSON.stringify(k.inputs)}`);
            return { keys, provider: JSON.stringify(named(d, "rot-storage-spaces-provider").inputs), bucketProvider: optionsOf(d, "rot-storage-bucket").provider };
        };
        const first = await at("0");
        const rotated = await at("3");
        const admin = (keys: string[]) => keys.find((k) => k.startsWith("rot-storage-bucket-admin-key "));
        assert.ok(admin(first.keys) !== undefined);
        assert.equal(admin(rotated.keys), admin(first.keys));
        assert.equal(rotated.provider, first.provider);
        assert.ok(rotated.keys.some((k) => k.startsWith("rot-storage-key-3 ")));
        assert.ok(!rotated.keys.some((k) => k.startsWith("rot-storage-key ")));
        assert.ok(rotated.bucketProvider !== undefined);
    });

    it("with forceDestroy the bucket is emptied and deleted through the same provider, before its admin key", async () => {
        const d = await deploy("force", { storage: "spaces", forceDestroy: "true" });
        assert.equal(single(d.resources, SPACES_BUCKET).inputs.forceDestroy, true);
        const bucket = optionsOf(d, "force-storage-bucket");
        assert.equal(bucket.provider, d.registry.spaces!.bucketProvider);
        assert.ok((bucket.dependsOn as pulumi.Resource[]).includes(d.registry.spaces!.bucketAdminKey));
    });

    it("without digitalocean:token in config, the provider gets no token of ours and its plugin reads DIGITALOCEAN_TOKEN", async () => {
        const d = await deploy("envtok", { storage: "spaces" }, {});
        const provider = named(d, "envtok-storage-spaces-provider");
        assert.equal(provider.inputs.token, undefined);
        assert.equal(provider.inputs.spacesSecretKey, ADMIN_SECRET);
    });

    it("digitalocean:spacesEndpoint, which the default provider would read, reaches the bucket's provider", async () => {
        const d = await deploy("endpoint", { storage: "spaces" }, { token: TOKEN, spacesEndpoint: "https://{{.Region}}.spaces.example.test" });
        assert.equal(named(d, "endpoint-storage-spaces-provider").inputs.spacesEndpoint, "https://{{.Region}}.spaces.example.test");
    });

    it("a Spaces key of the user's own, in the environment or config, is not what the bucket is managed with", async () => {
        process.env.SPACES_ACCESS_KEY_ID = "DO00USERSOWNKEY";
        process.env.SPACES_SECRET_ACCESS_KEY = "USERSOWNSECRET";
        try {
            const d = await deploy("own", { storage: "spaces" }, { token: TOKEN, spacesAccessId: "DO00USERSCONFIGKEY", spacesSecretKey: "USERSCONFIGSECRET" });
            const provider = named(d, "own-storage-spaces-provider");
            assert.equal(provider.inputs.spacesAccessId, "DO00OWNSTORAGEBUCKETADMINKEY");
            assert.equal(provider.inputs.spacesSecretKey, ADMIN_SECRET);
        } finally {
            delete process.env.SPACES_ACCESS_KEY_ID;
            delete process.env.SPACES_SECRET_ACCESS_KEY;
        }
    });

    it("storage=s3 declares no provider of its own and no Spaces key", async () => {
        const d = await deploy("plain", {}, { token: TOKEN }, new Map([["region", "eu-central-1"]]));
        assert.deepEqual(d.resources.filter((r) => r.type.startsWith("pulumi:providers:") || r.type === SPACES_KEY).map((r) => r.name), []);
    });
});
