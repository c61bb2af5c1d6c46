import * as fs from "node:fs";
import * as path from "node:path";
import { changedCommands, planDeploy, type DeployPlan, type PlannedCommand } from "./deployPlan";
import { ProcessTracker, type RunResult } from "./processes";
import { Skopeo } from "./skopeo";
import { makeTempDir, systemBinary, type TempDir } from "./tools";
import { Twin } from "./twin";
import { TwinDeployer } from "./twinDeploy";
import { loadTwinImages, twinImages } from "./twinImages";
import { createTwinNetwork, type TwinNetwork } from "./twinNetwork";
import { serveAptRepository, startTwinDns, startTwinS3, type TwinS3 } from "./twinServices";
import { startTwinAcme, type TwinAcme, type TwinAcmeOptions } from "./twinAcme";
import { Balancer } from "./balancer";
import type { PlannedFirewallRule } from "./deployPlan";
import { replicaName } from "../../components/render/balancer";
import { registryImageReference, REGISTRY_IMAGE_DIGESTS, REGISTRY_VERSION } from "../../components/versions";

/**
 * A droplet twin deployed as `pulumi up` deploys a droplet: the network (deployer, twin, CI
 * clients, S3, the cloud firewall), the program planned under mocks with the twin's address,
 * the twin booted on the plan's user data, the images present, and the plan's remote commands
 * run over SSH from the deployer. `up()` plans again with other config and runs what changed.
 */

export interface TwinLabOptions {
    /** Prefix of the temp directory. */
    name: string;
    /** Stack config beyond the lab's own (region, bucket, TLS mode). */
    config?: Record<string, string>;
    /** Client namespaces besides `client` (the CI runner). */
    extraClients?: string[];
    limits?: { memoryBytes?: number; cpus?: number };
    /**
     * The certificate over ACME instead of the private CA: Pebble in an `acme` namespace, the
     * stack set to tls=letsencrypt for `domain` with Pebble as acmeServer, and the lab's DNS
     * (challtestsrv) the resolver of the deployer and the clients. The domain has no A record
     * until the test adds one.
     */
    acme?: TwinAcmeOptions & { domain: string };
    /**
     * Replicas (`private-registry:replicas`): with 2 or more, a twin for each replica host
     * (namespaces `twin`, `twin-2`, ...), and the stand-in balancer (balancer.ts) in a `balancer`
     * namespace that the plan's load balancer `ip` names. The VPC the program reads with getVpc is
     * the /31 of the balancer and a `vpc-peer` namespace: another member of the balancer's network
     * that sends no PROXY header. Each twin's one address stands for its public and private ones.
     */
    replicas?: number;
    log?: (line: string) => void;
}

/** What a later `up` changes besides config. */
export interface TwinUpOptions {
    /**
     * The key a new aws.iam.AccessKey resource gets (a raised credentialRotation makes one), from
     * `s3.createAccessKey()`. Without it, a new AccessKey resource gets the lab's current key.
     */
    accessKey?: AccessKey;
    /** Called with the new plan before its commands run, as its outputs are known when `pulumi up` begins to apply them. */
    onPlanned?: (next: DeployPlan) => void;
}

export interface AccessKey {
    id: string;
    secret: string;
}

export const TWIN_REGION = "us-east-1";
/** The first replica's DockerHost; the others are replicaName(REPLICA_HOST, index). */
export const REPLICA_HOST = "registry-host";

/** The namespace of replica `index` (0-based): `twin`, `twin-2`, ... */
export function replicaRole(index: number): string {
    return replicaName("twin", index);
}

/**
 * The namespaces replicas add after the lab's `count` others (whose addresses are 10 + position):
 * the other twins, then the balancer and the VPC's other member at an even and the next odd
 * address, so that one /31 holds the two of them and nothing else; `vpc-pad` takes an odd place.
 */
function replicaRoles(count: number, replicas: number): string[] {
    if (replicas <= 1) {
        return [];
    }
    const roles = Array.from({ length: replicas - 1 }, (_, index) => replicaRole(index + 1));
    if ((10 + count + roles.length) % 2 === 1) {
        roles.push("vpc-pad");
    }
    return [...roles, "balancer", "vpc-peer"];
}
const REPO_ROOT = path.resolve(__dirname, "..", "..");

export class TwinLab {
    plan!: DeployPlan;
    twin!: Twin;
    s3!: TwinS3;
    deployer!: TwinDeployer;
    acme?: TwinAcme;
    /** With replicas: every twin, the first being `twin`, in the order of the replicas' hosts. */
    twins: Twin[] = [];
    /** With replicas: the stand-in load balancer, started by deploy(). */
    balancer?: Balancer;
    /** What a new AccessKey resource in the next plan gets. */
    private newAccessKey!: AccessKey;
    private configuration: Record<string, string> = {};

    private constructor(
        readonly tracker: ProcessTracker,
        readonly tmp: TempDir,
        readonly net: TwinNetwork,
        private readonly options: TwinLabOptions,
    ) {}

    static async start(options: TwinLabOptions): Promise<TwinLab> {
        const tracker = new ProcessTracker();
        const tmp = makeTempDir(options.name);
        const clients = ["client", ...(options.extraClients ?? [])];
        const base = ["deployer", "twin", "s3", ...clients, ...(options.acme === undefined ? [] : ["acme"])];
        const net = createTwinNetwork(tracker, [...base, ...replicaRoles(base.length, options.replicas ?? 1)]);
        const lab = new TwinLab(tracker, tmp, net, options);
        try {
            await lab.boot(clients);
        } catch (e) {
            await lab.dispose();
            throw e;
        }
        return lab;
    }

    private async boot(clients: string[]): Promise<void> {
        const log = this.options.log ?? (() => undefined);
        const bucket = `twin-${path.basename(this.tmp.path).slice(-8).toLowerCase().replace(/[^a-z0-9]/g, "0")}`;
        this.s3 = await startTwinS3(this.tracker, this.net, "s3", { dir: this.tmp.join("s3"), region: TWIN_REGION, bucket });
        const aptSource = await serveAptRepository(this.tracker, this.net, "deployer", this.tmp.path);
        const nameserver = await startTwinDns(this.tracker, this.net, "s3", { dir: this.tmp.join("dns"), records: { [this.s3.hostname]: this.net.hosts.s3.address } });
        // Clients resolve S3's names too: a redirected pull fetches layers from S3 itself.
        for (const role of clients) {
            this.writeNetnsHosts(role, { [this.net.hosts.s3.address]: this.s3.hostNames });
        }
        const acme = this.options.acme;
        let tlsConfig: Record<string, string> = { "private-registry:tls": "private-ca" };
        if (acme !== undefined) {
            this.acme = await startTwinAcme(this.tracker, this.net, "acme", { ...acme, dir: this.tmp.join("acme") });
            for (const role of ["deployer", ...clients]) {
                this.writeNetnsFile(role, "resolv.conf", `nameserver ${this.acme.nameserver}\n`);
            }
            tlsConfig = {
                "private-registry:tls": "letsencrypt",
                "private-registry:domain": acme.domain,
                "private-registry:acmeServer": this.acme.directory,
                "private-registry:acmeServerCa": this.acme.caPem,
            };
        }
        this.configuration = {
            "aws:region": TWIN_REGION,
            "private-registry:bucketName": bucket,
            ...tlsConfig,
            ...(this.replicas > 1 ? { "private-registry:replicas": String(this.replicas) } : {}),
            // SSH from the deployer only, as the README advises: the scan then tells the two apart.
            "private-registry:sshAllowedCidrs": JSON.stringify([`${this.net.hosts.deployer.address}/32`]),
            ...(this.options.config ?? {}),
        };
        // The IAM user's key, as on AWS: the registry signing with S3's root key would pass checks that its own key fails.
        this.newAccessKey = await this.s3.createAccessKey();
        log("[twin] planning the program under mocks");
        this.plan = await this.planWith(this.configuration);
        this.applyCloudFirewalls(this.plan);
        log("[twin] booting the twin on the plan's user data");
        this.twin = await Twin.create(this.tracker, {
            dir: this.tmp.join("twin"),
            host: this.net.hosts.twin,
            userData: this.plan.userData,
            instanceId: `i-${path.basename(this.tmp.path)}`,
            sshPublicKeys: [this.deployPublicKey()],
            hostsEntries: { [this.net.hosts.s3.address]: this.s3.hostNames },
            aptSource,
            nameserver,
            limits: this.options.limits,
        });
        log("[twin] importing the pinned images");
        const registryImage = registryImageReference(REGISTRY_VERSION, REGISTRY_IMAGE_DIGESTS[REGISTRY_VERSION]);
        await loadTwinImages(this.tracker, this.twin, twinImages(registryImage, this.s3.certs.caCertFile), this.tmp.join("images"));
        await this.trustS3(this.twin);
        this.twins = [this.twin];
        for (let index = 1; index < this.replicas; index++) {
            const host = replicaName(REPLICA_HOST, index);
            const userData = this.plan.hosts[host]?.userData;
            if (userData === undefined) {
                throw new Error(`the plan has no droplet for ${host}; it has ${Object.keys(this.plan.hosts).join(", ")}`);
            }
            log(`[twin] booting ${replicaRole(index)} on ${host}'s user data`);
            const twin = await Twin.create(this.tracker, {
                dir: this.tmp.join(replicaRole(index)),
                host: this.net.hosts[replicaRole(index)],
                userData,
                instanceId: `i-${path.basename(this.tmp.path)}-${index + 1}`,
                sshPublicKeys: [this.deployPublicKey(host)],
                hostsEntries: { [this.net.hosts.s3.address]: this.s3.hostNames },
                aptSource,
                nameserver,
                limits: this.options.limits,
            });
            await loadTwinImages(this.tracker, twin, twinImages(registryImage, this.s3.certs.caCertFile), this.tmp.join(`images-${index + 1}`));
            await this.trustS3(twin);
            this.twins.push(twin);
        }
        this.deployer = new TwinDeployer(this.tracker, this.net, "deployer", this.tmp.join("deployer"));
    }

    /**
     * The host itself trusts the S3 stand-in's CA, as a droplet trusts the public CAs that AWS's
     * and Spaces' certificates chain to: the replicas' maintenance jobs reach the bucket from the
     * host (bucketFlag.ts), not from a container.
     */
    private async trustS3(twin: Twin): Promise<void> {
        const target = twin.file("/usr/local/share/ca-certificates/s3-stand-in.crt");
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.copyFileSync(this.s3.certs.caCertFile, target);
        await twin.execChecked("update-ca-certificates >/dev/null");
    }

    /** Runs the whole plan, as the first `pulumi up`. */
    async deploy(): Promise<void> {
        await this.deployer.run(this.plan.commands, { log: this.options.log });
        if (this.replicas > 1 && this.balancer === undefined) {
            this.options.log?.("[twin] starting the stand-in balancer");
            this.balancer = await Balancer.start(this.tracker, {
                dir: this.tmp.join("balancer"),
                ns: this.net.hosts.balancer.ns,
                address: this.net.hosts.balancer.address,
                servers: this.twins.map((twin, index) => ({ name: replicaName(REPLICA_HOST, index), address: twin.address })),
                checkName: String(this.plan.outputs.registryHost ?? this.net.hosts.balancer.address),
            });
        }
    }

    /** Replicas the lab runs: 1 is the single droplet with no balancer. */
    get replicas(): number {
        return this.options.replicas ?? 1;
    }

    /**
     * The network the balancer connects from, as the program reads it with getVpc: the /31 of
     * the balancer and the VPC's other member.
     */
    get vpcIpRange(): string | undefined {
        return this.replicas > 1 ? `${this.net.hosts.balancer.address}/31` : undefined;
    }

    /**
     * Each host's cloud firewall in front of its twin. A rule that admits the load balancer by its
     * id admits the stand-in balancer's address, as DigitalOcean admits its balancer's traffic.
     */
    applyCloudFirewalls(plan: DeployPlan = this.plan, extra: PlannedFirewallRule[] = []): void {
        if (this.replicas <= 1) {
            this.net.applyCloudFirewall("twin", [...plan.firewall.inboundRules, ...extra]);
            return;
        }
        for (let index = 0; index < this.replicas; index++) {
            this.net.applyCloudFirewall(replicaRole(index), [...this.cloudFirewallRules(index, plan), ...extra]);
        }
    }

    /** Replica `index`'s cloud firewall rules, the balancer's id given as its address. */
    cloudFirewallRules(index: number, plan: DeployPlan = this.plan): PlannedFirewallRule[] {
        const host = plan.hosts[replicaName(REPLICA_HOST, index)];
        if (host === undefined) {
            throw new Error(`the plan has no droplet for ${replicaName(REPLICA_HOST, index)}; it has ${Object.keys(plan.hosts).join(", ")}`);
        }
        const balancer = this.net.hosts.balancer.address;
        return host.firewall.inboundRules.map((rule) =>
            (rule.sourceLoadBalancerUids ?? []).length === 0 ? rule : { ...rule, sourceAddresses: [...(rule.sourceAddresses ?? []), `${balancer}/32`] },
        );
    }

    /** A later `pulumi up` with config changed: plans again from the last plan and runs what changed. */
    async up(change: Record<string, string>, options: TwinUpOptions = {}): Promise<PlannedCommand[]> {
        this.configuration = { ...this.configuration, ...change };
        this.newAccessKey = options.accessKey ?? this.newAccessKey;
        const next = await this.planWith(this.configuration, this.plan);
        options.onPlanned?.(next);
        const changed = changedCommands(this.plan, next);
        this.applyCloudFirewalls(next);
        await this.deployer.run(changed, { log: this.options.log });
        this.plan = next;
        return changed;
    }

    private planWith(config: Record<string, string>, previous?: DeployPlan): Promise<DeployPlan> {
        // With a domain, the program looks up its A record as `pulumi up` would, on the deployer.
        const netns = this.acme === undefined ? undefined : this.net.hosts.deployer.ns;
        const replicas =
            this.replicas <= 1
                ? {}
                : {
                      dropletAddresses: Object.fromEntries(Array.from({ length: this.replicas }, (_, index) => [replicaName(REPLICA_HOST, index), this.net.hosts[replicaRole(index)].address])),
                      balancerAddress: this.net.hosts.balancer.address,
                      vpcIpRange: this.vpcIpRange,
                  };
        return planDeploy({ config, dropletAddress: this.net.hosts.twin.address, accessKey: this.newAccessKey, previous, netns, ...replicas });
    }

    /** The IAM user's access key in the last plan: the one the registry signs with. */
    get accessKey(): AccessKey {
        const keys = Object.values(this.plan.generated).filter((value) => value.type === "aws:iam/accessKey:AccessKey");
        if (keys.length !== 1) {
            throw new Error(`the plan has ${keys.length} access keys; it generated ${Object.keys(this.plan.generated).join(", ")}`);
        }
        return { id: keys[0].id, secret: String(keys[0].state.secret) };
    }

    /** The generated deploy key's public half: what `digitalocean.SshKey` registers for the droplet. */
    private deployPublicKey(host?: string): string {
        const key = Object.entries(this.plan.generated).find(([name, value]) => value.type === "tls:index/privateKey:PrivateKey" && (host === undefined ? name.endsWith("-deploy-key") : name === `${host}-deploy-key`));
        const publicKey = key?.[1].state.publicKeyOpenssh;
        if (typeof publicKey !== "string") {
            throw new Error(`the plan has no generated deploy key; it generated ${Object.keys(this.plan.generated).join(", ")}`);
        }
        return publicKey;
    }

    /** A tracker whose commands run inside `role`'s namespace. */
    trackerIn(role: string): ProcessTracker {
        return new ProcessTracker({ commandPrefix: [systemBinary("ip"), "netns", "exec", this.net.hosts[role].ns] });
    }

    /** skopeo in `role`'s namespace, trusting the stack's CA and S3's. */
    skopeoIn(role: string): { skopeo: Skopeo; certDir: string } {
        const certDir = this.tmp.join(`certs-${role}`);
        fs.mkdirSync(certDir, { recursive: true });
        fs.writeFileSync(path.join(certDir, "ca.crt"), String(this.plan.outputs.caCertificate));
        fs.copyFileSync(this.s3.certs.caCertFile, path.join(certDir, "s3-ca.crt"));
        return { skopeo: new Skopeo(this.trackerIn(role), this.tmp.join(`skopeo-${role}`)), certDir };
    }

    /**
     * `npm run check`'s script as CI runs it after `pulumi up`, from `role`'s namespace, with the
     * stack outputs on stdin. NODE_EXTRA_CA_CERTS adds the S3 stand-in's CA, standing in for the
     * public CAs that AWS's certificate chains to (a redirected pull fetches from S3 itself).
     */
    async liveCheck(role: string, options: { trustedPem?: string; args?: string[] } = {}): Promise<RunResult> {
        const inside = this.net.inside(role, process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "scripts/live-check.ts"), ...(options.args ?? [])]);
        // `trustedPem`: what the CI runner's own trust store adds, as for a CA the public does not trust.
        const trusted = this.tmp.join(`trusted-${role}.pem`);
        fs.writeFileSync(trusted, `${fs.readFileSync(this.s3.certs.caCertFile, "utf8").trim()}\n${options.trustedPem ?? ""}`);
        return this.tracker.run(inside.command, inside.args, {
            input: JSON.stringify(this.plan.outputs),
            cwd: REPO_ROOT,
            env: { ...process.env, NODE_EXTRA_CA_CERTS: trusted },
            timeoutMs: 180_000,
            secrets: Object.values(this.plan.outputs.registryUsers as Record<string, { password: string }>).map((u) => u.password),
        });
    }

    private writeNetnsHosts(role: string, entries: Record<string, string[]>): void {
        this.writeNetnsFile(role, "hosts", ["127.0.0.1 localhost", ...Object.entries(entries).map(([a, names]) => `${a} ${names.join(" ")}`), ""].join("\n"));
    }

    /** `ip netns exec` binds each file of /etc/netns/NS over its namesake in /etc (ip-netns(8)). */
    private writeNetnsFile(role: string, name: "hosts" | "resolv.conf", text: string): void {
        const dir = path.join("/etc/netns", this.net.hosts[role].ns);
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, name), text);
        this.tracker.addCleanup(`${dir}/${name}`, () => fs.rmSync(dir, { recursive: true, force: true }), () => fs.rmSync(dir, { recursive: true, force: true }));
    }

    async dispose(): Promise<void> {
        await this.tracker.dispose();
        this.tmp.remove();
    }
}
