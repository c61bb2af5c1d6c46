import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { utils } from "ssh2";
import { parse } from "yaml";
import { changedCommands, DeployPlan, PlannedCommand, planDeploy, PlanOptions } from "../harness/deployPlan";
import { decodeBundleFiles } from "../support/bundle";

const ADDRESS = "192.0.2.44";
const BASE: PlanOptions = {
    config: { "aws:region": "us-east-1", "private-registry:tls": "private-ca" },
    dropletAddress: ADDRESS,
    accessKey: { id: "AKIADEPLOYPLANTEST01", secret: "deploy/plan/test/secret/0123456789abcdefgh" },
};
// The two logins a stack without `users` has, then one more.
const MORE_USERS = [
    { name: "ci", role: "push" },
    { name: "deploy", role: "pull" },
    { name: "team-a-ci", role: "push", repositories: ["team-a/**"] },
];

let first: DeployPlan;
let unchanged: DeployPlan;
let withUser: DeployPlan;
const dir = mkdtempSync(path.join(tmpdir(), "deploy-plan-test-"));

before(async () => {
    first = await planDeploy(BASE);
    [unchanged, withUser] = await Promise.all([
        planDeploy({ ...BASE, previous: first }),
        planDeploy({ ...BASE, config: { ...BASE.config, "private-registry:users": JSON.stringify(MORE_USERS) }, previous: first }),
    ]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function command(plan: DeployPlan, name: string): PlannedCommand {
    const found = plan.commands.find((c) => c.name === name);
    assert.ok(found, `no command ${name} in ${plan.commands.map((c) => c.name).join(", ")}`);
    return found;
}

function file(name: string, content: string): string {
    const file = path.join(dir, name);
    writeFileSync(file, content, { mode: 0o600 });
    return file;
}

/** Each changed command's name and the fields that changed, for assertion messages. */
function changes(previous: DeployPlan, next: DeployPlan): string[] {
    const fields = ["create", "update", "delete", "stdin", "triggers", "environment", "connection"] as const;
    return changedCommands(previous, next).map((c) => {
        const old = previous.commands.find((o) => o.name === c.name);
        return `${c.name}: ${old === undefined ? "new" : fields.filter((f) => JSON.stringify(old[f]) !== JSON.stringify(c[f])).join(", ")}`;
    });
}

function run(program: string, args: string[]): string {
    const result = spawnSync(program, args, { encoding: "utf8" });
    assert.equal(result.status, 0, `${program} ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
}

describe("a deploy plan of the default private-CA stack", () => {
    it("starts with the first-boot wait and starts the registry after the host's commands", () => {
        const names = first.commands.map((c) => c.name);
        assert.equal(names[0], "registry-host-wait-ready");
        const container = names.indexOf("registry-service-container");
        const hostCommands = names.filter((n) => n.startsWith("registry-host-"));
        assert.ok(hostCommands.includes("registry-host-login-guard"), `public mode guards logins: ${hostCommands.join(", ")}`);
        assert.ok(hostCommands.every((n) => names.indexOf(n) < container), names.join(", "));
        const containerAfter = command(first, "registry-service-container").after;
        assert.ok(containerAfter.includes("registry-host-wait-ready"), `through RegistryService's dependsOn: ${containerAfter.join(", ")}`);
        first.commands.forEach((c, i) => assert.ok(c.after.every((a) => names.indexOf(a) < i), `${c.name} runs after ${c.after.join(", ")}`));
    });

    it("sends the registry's secrets on stdin, never in the script", () => {
        const container = command(first, "registry-service-container");
        assert.ok(container.stdin !== undefined && container.create !== undefined);
        const users = first.outputs.registryUsers as Record<string, { password: string }>;
        const secrets = [...Object.values(users).map((u) => u.password), BASE.accessKey.secret, String(first.generated["registry-service-http-secret"].state.result)];
        assert.equal(secrets.length, 4);
        for (const secret of secrets) {
            assert.ok(!container.create.includes(secret), "a secret in the start script");
        }
        assert.match(decodeBundleFiles(container.stdin)["config.yml"], new RegExp(`${BASE.accessKey.id}[\\s\\S]*${BASE.accessKey.secret}`), "the given access key");
    });

    it("pins the host key that the droplet's user data installs", () => {
        const connection = command(first, "registry-host-wait-ready").connection!;
        const keys = (parse(first.userData.replace(/^#cloud-config\n/, "")) as { ssh_keys: Record<string, string> }).ssh_keys;
        assert.equal(keys.ed25519_public, connection.hostKey);
        assert.equal(run("ssh-keygen", ["-y", "-f", file("host_key", keys.ed25519_private)]).trim(), connection.hostKey);
        assert.equal(first.outputs.sshHostPublicKey, connection.hostKey);
        assert.deepEqual(first.firewall.inboundRules.map((r) => r.portRange), ["22", "443"]);
    });

    it("logs in with a deploy key that OpenSSH and ssh2 both read", () => {
        const connection = command(first, "registry-service-container").connection!;
        assert.deepEqual([connection.host, connection.user], [ADDRESS, "root"]);
        assert.equal(connection.privateKey, first.outputs.sshPrivateKey);
        const publicKey = String(first.generated["registry-host-deploy-key"].state.publicKeyOpenssh).trim();
        assert.match(publicKey, /^ssh-ed25519 AAAA/);
        assert.equal(run("ssh-keygen", ["-y", "-f", file("deploy_key", connection.privateKey)]).trim(), publicKey);
        const parsed = utils.parseKey(connection.privateKey);
        assert.ok(!(parsed instanceof Error), String(parsed));
        assert.equal(`ssh-ed25519 ${(Array.isArray(parsed) ? parsed[0] : parsed).getPublicSSH().toString("base64")}`, publicKey);
    });

    it("serves a certificate for the droplet's address that caCertificate verifies", () => {
        const files = decodeBundleFiles(command(first, "registry-service-container").stdin!);
        const ca = file("ca.crt", String(first.outputs.caCertificate));
        const cert = file("tls.crt", files["front/tls.crt"]);
        assert.equal(files["ca.crt"], first.outputs.caCertificate);
        assert.equal(run("openssl", ["verify", "-CAfile", ca, "-verify_ip", ADDRESS, "-purpose", "sslserver", cert]).trim(), `${cert}: OK`);
        assert.match(run("openssl", ["x509", "-in", cert, "-noout", "-ext", "subjectAltName"]), new RegExp(`IP Address:${ADDRESS.replace(/\./g, "\\.")}`));
        const keyOf = (args: string[]) => run("openssl", args);
        assert.equal(keyOf(["pkey", "-in", file("tls.key", files["front/tls.key"]), "-pubout"]), keyOf(["x509", "-in", cert, "-noout", "-pubkey"]), "the key pair matches");
    });
});

describe("a later plan", () => {
    it("runs no command when nothing changed", () => {
        assert.deepEqual(changes(first, unchanged), []);
        assert.deepEqual(unchanged.outputs.registryUsers, first.outputs.registryUsers);
    });

    it("restarts only the registry for one more user, and keeps the other passwords", () => {
        assert.deepEqual(changes(first, withUser), ["registry-service-container: stdin, triggers"]);
        const before = first.outputs.registryUsers as Record<string, { password: string }>;
        const now = withUser.outputs.registryUsers as Record<string, { password: string }>;
        assert.deepEqual(Object.keys(now), ["ci", "deploy", "team-a-ci"]);
        assert.equal(now.ci.password, before.ci.password);
        assert.match(now["team-a-ci"].password, /^[A-Za-z0-9]{32}$/);
    });
});

describe("a deploy plan with two replicas", () => {
    const HOSTS = { "registry-host": "192.0.2.51", "registry-host-2": "192.0.2.52" };
    const BALANCER = "192.0.2.50";
    const VPC = "10.99.0.0/24";
    let plan: DeployPlan;
    before(async () => {
        plan = await planDeploy({
            ...BASE,
            config: { ...BASE.config, "private-registry:replicas": "2", "private-registry:gcSchedule": "" },
            dropletAddresses: HOSTS,
            balancerAddress: BALANCER,
            vpcIpRange: VPC,
        });
    });

    it("connects to each replica at its own address, and starts the second only after the first", () => {
        assert.equal(command(plan, "registry-service-container").connection?.host, HOSTS["registry-host"]);
        assert.equal(command(plan, "registry-service-2-container").connection?.host, HOSTS["registry-host-2"]);
        const order = plan.commands.map((c) => c.name);
        assert.ok(order.indexOf("registry-service-container") < order.indexOf("registry-service-2-container"), order.join(", "));
        assert.ok(command(plan, "registry-service-2-container").after.includes("registry-service-container"), "the second replica's deploy waits for the first");
    });

    it("admits 443 on every host from the balancer alone", () => {
        for (const host of Object.keys(HOSTS)) {
            const https = plan.hosts[host].firewall.inboundRules.filter((r) => r.portRange === "443");
            assert.deepEqual(https.map((r) => [r.sourceAddresses, r.sourceLoadBalancerUids]), [[undefined, ["registry-balancer-id"]]], host);
        }
    });

    it("ships both replicas one bundle, whose certificate names the balancer and whose front reads PROXY headers from the VPC", () => {
        const [one, two] = ["registry-service-container", "registry-service-2-container"].map((name) => decodeBundleFiles(command(plan, name).stdin ?? ""));
        assert.deepEqual(two, one);
        const certificate = run("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", file("replica.crt", one["front/tls.crt"])]);
        assert.match(certificate, new RegExp(`IP Address:${BALANCER.replace(/\./g, "\\.")}`));
        assert.match(one["front/Caddyfile"], new RegExp(`allow ${VPC.replace(/[./]/g, "\\$&")} 127\\.0\\.0\\.1/32`));
        assert.equal(plan.outputs.registryHost, BALANCER);
    });
});
