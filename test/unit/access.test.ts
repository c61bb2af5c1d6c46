import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { installMocks, isSecretValue, ofType, optionsRecorder, RecordedOptions, RecordedResource, settle, single, valueOf } from "../support/mocks";
import { loadStackArgs } from "../../components/stackConfig";
import { decodeBundleFiles } from "../support/bundle";
import type { PrivateRegistry as PrivateRegistryType } from "../../components/privateRegistry";
import type { stackOutputs as StackOutputs } from "../../components/outputs";

/**
 * Who may do what, under mocks: one generated password per user, the roles reaching the front's
 * config, the outputs CI and Kubernetes take, and what `credentialRotation` replaces (and what
 * it must leave alone).
 */

const recorded: RecordedResource[] = installMocks();
let PrivateRegistry: typeof PrivateRegistryType;
let stackOutputs: typeof StackOutputs;

interface Deployed {
    registry: PrivateRegistryType;
    resources: RecordedResource[];
    options: RecordedOptions[];
    files: Record<string, string>;
}

async function deploy(prefix: string, values: Record<string, string>): Promise<Deployed> {
    const options: RecordedOptions[] = [];
    const before = recorded.length;
    const args = loadStackArgs(new Map(Object.entries(values)), new Map([["region", "us-east-1"]]));
    const registry = new PrivateRegistry(prefix, args, { transformations: [optionsRecorder(options)] });
    await settle(recorded);
    const resources = recorded.slice(before);
    const start = ofType(resources, "command:remote:Command").find((c) => c.name === `${prefix}-service-container`);
    assert.ok(start, "the start command");
    return { registry, resources, options, files: decodeBundleFiles(start.inputs.stdin) };
}

/** The users' passwords: every generated password but the registry's HTTP secret and the front's own login. */
function passwords(d: Deployed): RecordedResource[] {
    return ofType(d.resources, "random:index/randomPassword:RandomPassword").filter((r) => !r.name.endsWith("http-secret") && !r.name.endsWith("upstream-password"));
}

function upstreamPassword(d: Deployed): RecordedResource {
    const found = ofType(d.resources, "random:index/randomPassword:RandomPassword").filter((r) => r.name.endsWith("upstream-password"));
    assert.equal(found.length, 1, "one login for the front");
    return found[0];
}

/** Stack config as `pulumi config set --path 'users[0].name' ...` leaves it: a JSON string. */
const TEAM_USERS = JSON.stringify([
    { name: "builder", role: "push" },
    { name: "team", role: "push", repositories: ["team-a/**"] },
    { name: "k8s", role: "pull" },
]);

before(async () => {
    ({ PrivateRegistry } = await import("../../components/privateRegistry.js"));
    ({ stackOutputs } = await import("../../components/outputs.js"));
});

/** The named matchers whose expression names `user`: its refusals, and its count of upload starts. */
function matchersNaming(caddyfile: string, user: string): string[] {
    return [...caddyfile.matchAll(new RegExp(`^\\t+(@\\S+) \\{\\n\\t+expression \`\\{http\\.auth\\.user\\.id\\} == "${user}"\``, "gm"))].map((m) => m[1]);
}

describe("the default users", () => {
    let d: Deployed;
    before(async () => {
        d = await deploy("acc", {});
    });

    it("are a push user ci, whose password keeps its old resource name, and a pull user deploy", () => {
        assert.deepEqual(passwords(d).map((p) => p.name).sort(), ["acc-service-password", "acc-service-password-deploy"]);
        for (const password of passwords(d)) {
            assert.equal(password.inputs.keepers, undefined, "without a rotation, no keepers: an existing stack's password stays");
        }
        assert.deepEqual(d.files.htpasswd.trim().split("\n").map((l) => l.split(":")[0]), ["front"], "the registry knows the front's login alone");
        assert.deepEqual([...d.files["front/Caddyfile"].matchAll(/^\t+(\S+) \$argon2id\$/gm)].map((m) => m[1]), ["ci", "deploy"], "the front checks the users'");
    });

    it("give the pull user a refusal of every write in the front, and the push user none", () => {
        const caddyfile = d.files["front/Caddyfile"];
        assert.match(caddyfile, /expression `\{http\.auth\.user\.id\} == "deploy"`\n\t+not method GET HEAD/);
        assert.deepEqual(matchersNaming(caddyfile, "ci"), ["@upload_start_counted_for_0"], "no refusal, only its count of upload starts");
    });

    it("come out as secrets: a map of every user's credentials and a Docker config per user", async () => {
        const outputs = stackOutputs(d.registry);
        assert.ok(await pulumi.isSecret(outputs.registryUsers));
        assert.ok(await pulumi.isSecret(outputs.dockerConfigJsons));
        const users = await valueOf(outputs.registryUsers);
        assert.deepEqual(Object.keys(users), ["ci", "deploy"]);
        assert.equal(users.ci.role, "push");
        assert.equal(users.deploy.role, "pull");
        assert.notEqual(users.ci.password, users.deploy.password);
        assert.equal(users.ci.password, await valueOf(outputs.registryPassword), "registryPassword is the push user's");
        const host = await valueOf(d.registry.registryHost);
        const configs = await valueOf(outputs.dockerConfigJsons);
        for (const name of ["ci", "deploy"]) {
            const auth = JSON.parse(configs[name]).auths[host];
            assert.equal(Buffer.from(auth.auth, "base64").toString(), `${name}:${users[name].password}`);
        }
        assert.equal(await valueOf(outputs.dockerConfigJson), configs.ci, "dockerConfigJson stays the push user's");
    });

    it("never put a password in the start command's text", async () => {
        const start = single(d.resources.filter((r) => r.name === "acc-service-container"), "command:remote:Command");
        const users = await valueOf(stackOutputs(d.registry).registryUsers);
        for (const user of Object.values(users)) {
            assert.ok(!start.inputs.create.includes(user.password));
        }
        assert.ok(isSecretValue(start.rawInputs.stdin));
    });
});

describe("users from stack config", () => {
    let d: Deployed;
    before(async () => {
        d = await deploy("team", { users: TEAM_USERS });
    });

    it("get a password each; the first push user takes the name the one login always had", () => {
        assert.deepEqual(passwords(d).map((p) => p.name).sort(), ["team-service-password", "team-service-password-k8s", "team-service-password-team"]);
    });

    it("reach the front with their roles and repository patterns", () => {
        const caddyfile = d.files["front/Caddyfile"];
        assert.match(caddyfile, /== "k8s"`\n\t+not method GET HEAD/);
        assert.match(caddyfile, /== "team"`\n\t+not path \/v2\//);
        assert.match(caddyfile, /team-a\/\.\*/, "team-a/** as a pattern over path components");
        assert.deepEqual(matchersNaming(caddyfile, "builder"), ["@upload_start_counted_for_0"], "no refusal, only its count of upload starts");
    });

    it("name the first push user in the CI outputs", async () => {
        const outputs = stackOutputs(d.registry);
        assert.equal(await valueOf(outputs.registryUsername), "builder");
        const users = await valueOf(outputs.registryUsers);
        assert.deepEqual(users.team.repositories, ["team-a/**"]);
        assert.equal(users.k8s.repositories, undefined);
    });
});

describe("credentialRotation", () => {
    let before0: Deployed;
    let after3: Deployed;
    before(async () => {
        before0 = await deploy("rot0", {});
        after3 = await deploy("rot3", { credentialRotation: "3" });
    });

    it("at 0 keeps the access key's old resource name, so existing stacks keep their key", () => {
        assert.equal(single(before0.resources, "aws:iam/accessKey:AccessKey").name, "rot0-storage-access-key");
    });

    it("declares the next key under a new name, and no other: Pulumi creates it, then deletes the old one after everything else", () => {
        assert.equal(single(after3.resources, "aws:iam/accessKey:AccessKey").name, "rot3-storage-access-key-3");
    });

    it("restarts the registry with the new key: the start command reads it and waits for it", () => {
        const config = parse(after3.files["config.yml"]);
        assert.equal(config.storage.s3.accesskey, "rot3-storage-access-key-3-id");
        const service = after3.options.find((o) => o.type === "private-registry:registry:RegistryService");
        assert.ok((service?.opts.dependsOn as pulumi.Resource[]).includes(after3.registry.storageUser!.accessKey));
    });

    it("generates every password anew, through keepers that name the rotation", () => {
        assert.equal(passwords(after3).length, 2);
        for (const password of passwords(after3)) {
            assert.deepEqual(password.inputs.keepers, { credentialRotation: "3" });
        }
        const salts = ofType(after3.resources, "random:index/randomString:RandomString");
        assert.ok(salts.every((s) => s.inputs.keepers === undefined), "the salts need no rotation");
    });

    it("leaves the front's own login to the registry as it is: the registry's htpasswd does not change", () => {
        assert.equal(upstreamPassword(after3).inputs.keepers, undefined);
    });

    it("changes the start command's trigger, so the next up runs it", () => {
        const trigger = (d: Deployed) => ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"))!.inputs.triggers[0];
        assert.notEqual(trigger(before0), trigger(after3));
    });
});

describe("the failed-login guard", () => {
    it("is installed over SSH in public mode, reading the front's refusal log", async () => {
        const d = await deploy("guard", {});
        const guard = ofType(d.resources, "command:remote:Command").find((c) => c.name === "guard-host-login-guard");
        assert.ok(guard);
        assert.match(guard.inputs.create, /log='\/var\/log\/private-registry\/front-refused\.log'/);
        assert.match(guard.inputs.create, /fail2ban-client status 'private-registry-front'/);
    });

    it("is left out in tunnel mode, where no client reaches the front from outside", async () => {
        const d = await deploy("guardless", { exposure: "tunnel" });
        assert.equal(ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("login-guard")), undefined);
    });
});

describe("the host firewall", () => {
    it("opens the front's port in the image's ufw in public mode, before the registry starts", async () => {
        const d = await deploy("ufw", {});
        const open = ofType(d.resources, "command:remote:Command").find((c) => c.name === "ufw-host-host-firewall");
        assert.ok(open, "a host-firewall command in public mode");
        assert.match(open.inputs.create, /^ufw allow '443\/tcp' >\/dev\/null$/m);
        const service = d.options.find((o) => o.type === "private-registry:registry:RegistryService");
        assert.ok((service?.opts.dependsOn as pulumi.Resource[]).includes(d.registry.host.hostFirewall as pulumi.Resource), "the service waits for it");
    });

    it("opens nothing in tunnel mode, where the front listens on loopback only", async () => {
        const d = await deploy("ufwless", { exposure: "tunnel" });
        assert.equal(ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("host-firewall")), undefined);
        assert.equal(d.registry.host.hostFirewall, undefined);
    });
});
