/**
 * `replicas` under mocks: one replica is the stack as it was before replicas existed, and three
 * stand behind one balancer that passes TLS through, share every secret, and update in turn.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { parse } from "yaml";
import { installMocks, MOCK_VPC, ofType, optionsRecorder, RecordedOptions, RecordedResource, settle, single, valueOf } from "../support/mocks";
import { decodeBundleFiles } from "../support/bundle";
import { loadStackArgs } from "../../components/stackConfig";
import type { PrivateRegistry as PrivateRegistryType } from "../../components/privateRegistry";
import type { stackOutputs as StackOutputs } from "../../components/outputs";
import { BALANCER_HEALTH_CHECK, balancerDrain, replicaName } from "../../components/render/balancer";

const recorded: RecordedResource[] = installMocks();
let PrivateRegistry: typeof PrivateRegistryType;
let stackOutputs: typeof StackOutputs;

interface Deployed {
    registry: PrivateRegistryType;
    resources: RecordedResource[];
    options: RecordedOptions[];
}

async function deploy(prefix: string, values: Record<string, string>): Promise<Deployed> {
    const options: RecordedOptions[] = [];
    const before = recorded.length;
    const args = loadStackArgs(new Map(Object.entries(values)), new Map([["region", "eu-central-1"]]));
    const registry = new PrivateRegistry(prefix, args, { transformations: [optionsRecorder(options)] }, async () => {
        throw new Error("no DNS in unit tests");
    });
    await settle(recorded);
    return { registry, resources: recorded.slice(before), options };
}

const BALANCER = "digitalocean:index/loadBalancer:LoadBalancer";
const FIREWALL = "digitalocean:index/firewall:Firewall";
const SEVERAL = { replicas: "3", tls: "private-ca", gcSchedule: "" };

/** Each replica's start command, in replica order. */
function containers(d: Deployed, prefix: string): RecordedResource[] {
    return ["", "-2", "-3"].map((suffix) => single(d.resources.filter((r) => r.name === `${prefix}-service${suffix}-container`), "command:remote:Command"));
}

before(async () => {
    ({ PrivateRegistry } = await import("../../components/privateRegistry.js"));
    ({ stackOutputs } = await import("../../components/outputs.js"));
});

describe("one replica", () => {
    it("declares every resource a stack had before replicas, with the same inputs, and nothing more", async () => {
        // Recorded from the program before `replicas` existed: every resource but the commands,
        // whose scripts follow other settings, with its inputs under these same mocks.
        const before: { type: string; name: string; inputs: unknown }[] = JSON.parse(readFileSync(join(__dirname, "../support/singleDropletStack.json"), "utf8"));
        const d = await deploy("registry", {});
        const now = d.resources.filter((r) => !r.type.startsWith("command:")).map((r) => ({ type: r.type, name: r.name, inputs: r.inputs }));
        const byName = (rows: { type: string; name: string }[]) => rows.map((r) => `${r.type} ${r.name}`).sort();
        assert.deepEqual(byName(now), byName(before));
        for (const row of before) {
            assert.deepEqual(now.find((r) => r.type === row.type && r.name === row.name)?.inputs, row.inputs, `${row.name}'s inputs changed`);
        }
    });

    it("set explicitly, gives every resource, commands included, the inputs of a stack without it", async () => {
        const shown = async (d: Deployed) => JSON.stringify(d.resources.map((r) => ({ type: r.type, name: r.name, inputs: r.inputs }))).replaceAll(await valueOf(d.registry.host.droplet.id), "DROPLET");
        const without = await deploy("same", {});
        const explicit = await deploy("same", { replicas: "1" });
        assert.equal(await shown(explicit), await shown(without));
        assert.equal(ofType(explicit.resources, BALANCER).length, 0);
        const files = decodeBundleFiles(containers1(explicit).inputs.stdin);
        assert.doesNotMatch(files["front/Caddyfile"], /proxy_protocol/);
        assert.deepEqual(parse(files["config.yml"]).storage.cache, { blobdescriptor: "inmemory" });
    });
});

function containers1(d: Deployed): RecordedResource {
    return single(d.resources.filter((r) => r.name.endsWith("-service-container")), "command:remote:Command");
}

describe("three replicas", () => {
    let d: Deployed;
    before(async () => {
        d = await deploy("trio", SEVERAL);
    });

    it("builds three droplets from the same host component, the first under a single droplet's names", () => {
        assert.deepEqual(
            ofType(d.resources, "digitalocean:index/droplet:Droplet").map((r) => r.name),
            ["trio-host-droplet", "trio-host-2-droplet", "trio-host-3-droplet"],
        );
        for (const host of ["trio-host", "trio-host-2", "trio-host-3"]) {
            for (const command of ["wait-ready", "host-firewall", "login-guard", "host-updates"]) {
                assert.equal(d.resources.filter((r) => r.name === `${host}-${command}`).length, 1, `${host} lacks ${command}`);
            }
            // Behind the balancer a ban names the client in the PROXY header (check 22).
            assert.match(single(d.resources.filter((r) => r.name === `${host}-login-guard`), "command:remote:Command").inputs.create, /PROXY TCP4 <ip> /);
        }
    });

    it("puts one balancer in front, passing TLS through with the PROXY protocol, checking each replica's / with every number set", async () => {
        const balancer = single(d.resources, BALANCER).inputs;
        const dropletIds = await Promise.all(d.registry.hosts.map((h) => valueOf(h.droplet.id)));
        assert.deepEqual(balancer.dropletIds, dropletIds.map(Number));
        assert.equal(balancer.enableProxyProtocol, true);
        assert.equal(balancer.httpIdleTimeoutSeconds, 600, "the API's most, so a large blob's silent commit is not cut at 60 s");
        assert.deepEqual(balancer.forwardingRules, [{ entryPort: 443, entryProtocol: "tcp", targetPort: 443, targetProtocol: "tcp" }]);
        assert.deepEqual(balancer.healthcheck, { ...BALANCER_HEALTH_CHECK });
        // The provider's defaults for these differ from the API's: none may be left out.
        for (const key of ["checkIntervalSeconds", "responseTimeoutSeconds", "unhealthyThreshold", "healthyThreshold"] as const) {
            assert.equal(typeof balancer.healthcheck[key], "number", `${key} is left to a default`);
        }
        assert.equal(balancer.vpcUuid, MOCK_VPC.id);
        assert.equal(balancer.region, "nyc3");
        assert.equal(balancer.firewall, undefined, "the default httpsAllowedCidrs admits everyone: no allow list");
    });

    it("admits 443 on the droplets from the balancer alone, and SSH as before", async () => {
        const balancerId = await valueOf(d.registry.balancer!.id);
        const hostFirewalls = ofType(d.resources, FIREWALL).filter((r) => r.name !== "trio-balancer-firewall");
        assert.equal(hostFirewalls.length, 3);
        for (const firewall of hostFirewalls) {
            assert.deepEqual(firewall.inputs.inboundRules.map((r: { portRange: string }) => r.portRange), ["22"], `${firewall.name} opens more than SSH`);
        }
        const fromBalancer = single(d.resources.filter((r) => r.name === "trio-balancer-firewall"), FIREWALL).inputs;
        assert.deepEqual(fromBalancer.inboundRules, [{ protocol: "tcp", portRange: "443", sourceLoadBalancerUids: [balancerId] }]);
        assert.deepEqual(fromBalancer.dropletIds, single(d.resources, BALANCER).inputs.dropletIds);
    });

    it("gives every replica the very same registry config, logins and key pair, from one set of generated secrets", () => {
        const bundles = containers(d, "trio").map((c) => decodeBundleFiles(c.inputs.stdin));
        for (const file of ["config.yml", "htpasswd", "front/Caddyfile", "front/tls.crt", "front/tls.key"]) {
            assert.ok(bundles[0][file] !== undefined && bundles[0][file] !== "", `the bundle lacks ${file}`);
            assert.equal(bundles[1][file], bundles[0][file], `replica 2's ${file} differs`);
            assert.equal(bundles[2][file], bundles[0][file], `replica 3's ${file} differs`);
        }
        assert.ok(String(parse(bundles[0]["config.yml"]).http.secret).length >= 48);
        assert.equal(parse(bundles[0]["config.yml"]).storage.cache, undefined, "an in-memory descriptor cache would miss the other replicas' deletions");
        const generated = ofType(d.resources, "random:index/randomPassword:RandomPassword").map((r) => r.name);
        assert.deepEqual(generated.sort(), ["trio-service-http-secret", "trio-service-password", "trio-service-password-deploy", "trio-service-upstream-password"]);
    });

    it("has each front read the balancer's PROXY header from the droplets' VPC and loopback alone", () => {
        const caddyfile = decodeBundleFiles(containers(d, "trio")[0].inputs.stdin)["front/Caddyfile"];
        assert.match(caddyfile, new RegExp(`^\\t+allow ${MOCK_VPC.ipRange.replace(/[./]/g, "\\$&")} 127\\.0\\.0\\.1/32 ::1/128$`, "m"));
    });

    it("names the balancer's address in the certificate, the outputs and the docker config", async () => {
        const balancerIp = await valueOf(d.registry.balancer!.ip);
        assert.deepEqual(single(d.resources, "tls:index/certRequest:CertRequest").inputs.ipAddresses, [balancerIp]);
        assert.equal(await valueOf(d.registry.registryHost), balancerIp);
        const outputs = stackOutputs(d.registry);
        assert.match(await valueOf(outputs.dockerConfigJson), new RegExp(`"${balancerIp.replace(/\./g, "\\.")}"`));
        assert.match(await valueOf(d.registry.serving), /through a load balancer in front of 3 droplets/);
    });

    it("has each replica leave the balancer before it restarts anything, and rejoin once it serves", () => {
        const drain = balancerDrain();
        for (const container of containers(d, "trio")) {
            assert.match(container.inputs.create, new RegExp(`sleep ${drain.leaveSeconds}\n`));
            assert.match(container.inputs.create, new RegExp(`sleep ${drain.rejoinSeconds}\n`));
            assert.match(decodeBundleFiles(container.inputs.stdin)["front/Caddyfile"], /@draining file \{\n\t+root \/etc\/caddy\n\t+try_files \/draining/);
        }
    });

    it("arms a drain before shutdown on every replica, and reboots them for updates a quarter of an hour apart", () => {
        for (const [index, container] of containers(d, "trio").entries()) {
            assert.match(container.inputs.create, new RegExp(`ExecStop=/bin/sh -c 'touch /etc/private-registry/front/draining && sleep ${balancerDrain().leaveSeconds}'`));
            assert.match(container.inputs.create, /systemctl enable --now private-registry-drain\.service/);
            const updates = single(d.resources.filter((r) => r.name === `${replicaName("trio-host", index)}-host-updates`), "command:remote:Command");
            assert.match(updates.inputs.create, new RegExp(`Automatic-Reboot-Time "${["04:30", "04:45", "05:00"][index]}"`));
        }
        const teardown = single(d.resources.filter((r) => r.name === "trio-service-3-teardown"), "command:local:Command");
        assert.match(teardown.inputs.environment.REGISTRY_STOP_SCRIPT, /private-registry-drain\.service/);
    });

    it("updates one replica at a time: each service waits for the one before it", () => {
        const services = d.registry.services;
        assert.equal(services.length, 3);
        for (const [index, service] of services.entries()) {
            const options = d.options.find((o) => o.resource === service)!.opts;
            const dependsOn = [options.dependsOn ?? []].flat();
            assert.equal(dependsOn.includes(services[index - 1]), index > 0, `service ${index + 1}'s wait for the one before it`);
        }
    });

    it("gives CI the same outputs, with every replica's address and key, and no maintenance command", async () => {
        const outputs = stackOutputs(d.registry);
        assert.equal(outputs.maintenanceCommand, undefined);
        assert.equal((await valueOf(outputs.replicaDropletIps!)).length, 3);
        assert.equal((await valueOf(outputs.replicaSshPrivateKeys!)).length, 3);
        assert.equal(await valueOf(outputs.registryUsername), "ci");
    });

    it("bills three droplets and the balancer", async () => {
        const one = await valueOf((await deploy("solo", { tls: "private-ca", gcSchedule: "" })).registry.estimatedMonthlyCostUsd);
        const three = await valueOf(d.registry.estimatedMonthlyCostUsd);
        assert.ok(one !== undefined && three !== undefined);
        // Two more s-1vcpu-1gb droplets at $6, the balancer's node at $10, and each replica's
        // storage health check's requests.
        assert.ok(three - one >= 2 * 6 + 10 && three - one < 2 * 6 + 10 + 1, `three replicas cost ${three - one} more than one`);
    });
});

describe("three replicas and the weekly collection", () => {
    let d: Deployed;
    before(async () => {
        d = await deploy("weekly", { replicas: "3", tls: "private-ca", keepNewestTags: "5" });
    });

    it("has the first replica collect and apply retention, and the others follow its window", () => {
        const [first, ...others] = containers(d, "weekly");
        assert.match(first.inputs.create, /announced window \$window_id to the other replicas/);
        assert.match(first.inputs.create, /for follower in replica-2 replica-3; do/);
        assert.ok(decodeBundleFiles(first.inputs.stdin)["retention.yml"] !== undefined, "the first replica applies retention");
        for (const [index, container] of others.entries()) {
            assert.match(container.inputs.create, new RegExp(`\nme='replica-${index + 2}'\n`));
            assert.doesNotMatch(container.inputs.create, /garbage-collect/, `replica ${index + 2} collects`);
            assert.equal(decodeBundleFiles(container.inputs.stdin)["retention.yml"], undefined, `replica ${index + 2} applies retention`);
        }
        for (const container of [first, ...others]) {
            assert.match(container.inputs.create, /OnCalendar=Sun \*-\*-\* 03:00:00 UTC/, "every replica's timer fires at the schedule");
            assert.match(container.inputs.create, /"\$lib_dir\/bucket-flag"/);
        }
    });

    it("gives each replica the bucket through the registry's own key, in a file of the secret bundle, never in the script", () => {
        for (const container of containers(d, "weekly")) {
            const files = decodeBundleFiles(container.inputs.stdin);
            const s3 = parse(files["config.yml"]).storage.s3;
            const settings = JSON.parse(files["bucket.json"]);
            assert.deepEqual(
                { endpoint: settings.endpoint, region: settings.region, bucket: settings.bucket, pathStyle: settings.pathStyle, accessKey: settings.accessKey, secretKey: settings.secretKey },
                { endpoint: s3.regionendpoint, region: s3.region, bucket: s3.bucket, pathStyle: false, accessKey: s3.accesskey, secretKey: s3.secretkey },
            );
            assert.ok(!container.inputs.create.includes(s3.secretkey), "the storage secret is in the command text");
        }
    });

    it("gives one droplet neither the bucket file nor the program", async () => {
        const one = containers1(await deploy("lone", {}));
        assert.equal(decodeBundleFiles(one.inputs.stdin)["bucket.json"], undefined);
        assert.doesNotMatch(one.inputs.create, /bucket-flag|private-registry-drain/);
    });
});

describe("three replicas with a narrowed httpsAllowedCidrs", () => {
    it("enforces the list at the balancer's firewall", async () => {
        const d = await deploy("narrow", { ...SEVERAL, httpsAllowedCidrs: JSON.stringify(["198.51.100.0/24", "2001:db8::/32"]) });
        assert.deepEqual(single(d.resources, BALANCER).inputs.firewall, { allows: ["cidr:198.51.100.0/24", "cidr:2001:db8::/32"] });
    });
});
