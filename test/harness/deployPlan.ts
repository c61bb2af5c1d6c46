import { fork, spawn } from "node:child_process";
import * as path from "node:path";
import { systemBinary } from "./tools";

/**
 * The real program as a deploy plan: index.ts runs under mocks that make real keys, certificates
 * and passwords, and the plan lists each command as `pulumi up` would send it to the provider,
 * in an order the engine could run them. Another harness runs those commands against a host.
 *
 * ```ts
 * const plan = await planDeploy({ config: { "aws:region": "us-east-1" }, dropletAddress: "10.0.0.2", accessKey });
 * const next = await planDeploy({ config: { ...more }, dropletAddress: "10.0.0.2", accessKey, previous: plan });
 * for (const command of changedCommands(plan, next)) { ... }   // what a second `pulumi up` runs
 * ```
 */

export interface PlanOptions {
    /** Pulumi config as `pulumi config` holds it, e.g. {"private-registry:tls": "private-ca", "aws:region": "us-east-1"}. */
    config: Record<string, string>;
    /** What the mocked ReservedIp and the droplet's ipv4Address give: the test host's address. */
    dropletAddress: string;
    /**
     * With replicas, each host's own address, by its DockerHost component's name (`registry-host`,
     * `registry-host-2`, ...): its ReservedIp (`<host>-ip`) and its droplet (`<host>-droplet`) give
     * it. A host not named here gets `dropletAddress`.
     */
    dropletAddresses?: Record<string, string>;
    /** What the mocked load balancer's `ip` gives: the stand-in balancer's address. */
    balancerAddress?: string;
    /**
     * The VPC's `ipRange` the getVpc invoke answers with: the network the balancer connects from.
     * Default {@link DEFAULT_VPC_IP_RANGE}.
     */
    vpcIpRange?: string;
    /** An earlier plan: its generated values are kept by resource name while their inputs stay the same. */
    previous?: DeployPlan;
    /**
     * What the mocked aws.iam.AccessKey gives, so the registry can sign requests to an S3 stand-in.
     * Like every generated value, a later plan keeps the key of `previous` while the AccessKey's
     * inputs stay the same.
     */
    accessKey: { id: string; secret: string };
    /**
     * The network namespace `pulumi up` runs in, when the program's own DNS lookups matter (the
     * domain's A record): `ip netns exec` binds /etc/netns/NS/resolv.conf over /etc/resolv.conf.
     */
    netns?: string;
}

/** A cloud firewall's inbound rule as the program gives it to `digitalocean.Firewall`. */
export interface PlannedFirewallRule {
    protocol: string;
    portRange?: string;
    sourceAddresses?: string[];
    /** A load balancer's traffic, by its id (the mocked balancer's id is its resource name plus `-id`). */
    sourceLoadBalancerUids?: string[];
    sourceDropletIds?: number[];
    sourceTags?: string[];
}

/** What getVpc answers when the test names no range: a stand-in VPC range, in no test network. */
export const DEFAULT_VPC_IP_RANGE = "10.116.0.0/20";

/** The DockerHost a ReservedIp (`<host>-ip`) or droplet (`<host>-droplet`) belongs to, by its resource name. */
export function hostOfResource(name: string): string {
    return name.replace(/-(ip|droplet|firewall)$/, "");
}

export interface PlannedConnection {
    host: string;
    user: string;
    privateKey: string;
    hostKey?: string;
    port?: number;
    perDialTimeout?: number;
    dialErrorLimit?: number;
}

export interface PlannedCommand {
    /** The resource name, e.g. "registry-host-wait-ready". */
    name: string;
    kind: "remote" | "local";
    create?: string;
    update?: string;
    delete?: string;
    /** Unwrapped. */
    stdin?: string;
    triggers?: unknown[];
    environment?: Record<string, string>;
    connection?: PlannedConnection;
    /**
     * The commands this one waits for, directly or through resources that are not commands: its
     * explicit dependsOn (components expanded to their resources, as the SDK does), the resources
     * its inputs' outputs came from, and whatever its parent components waited for, since the SDK
     * registers a child only after its parent. Commands reached only through another command are
     * left out.
     */
    after: string[];
}

/** A generated resource's result and the inputs it was made from. */
export interface GeneratedValue {
    type: string;
    inputs: Record<string, unknown>;
    id: string;
    state: Record<string, unknown>;
}

export interface DeployPlan {
    /** The (first) droplet's cloud-init user data, unwrapped. */
    userData: string;
    /** The (first) cloud firewall's rules. */
    firewall: { inboundRules: PlannedFirewallRule[] };
    /**
     * Each host by its DockerHost component's name (`registry-host`, `registry-host-2`, ...): its
     * droplet's user data (each host has a host key of its own) and its cloud firewall's rules.
     */
    hosts: Record<string, { userData: string; firewall: { inboundRules: PlannedFirewallRule[] } }>;
    /** A topological order over `after`; ties in the order the program declared them. */
    commands: PlannedCommand[];
    /** The stack's exports, secrets unwrapped; exports the program leaves undefined are absent. */
    outputs: Record<string, unknown>;
    /** By resource name: what a later plan given this one as `previous` keeps. */
    generated: Record<string, GeneratedValue>;
    /** Every resource registered, in registration order. */
    resources: { type: string; name: string }[];
}

const MAIN = path.join(__dirname, "deployPlanMain.ts");
const REPO_ROOT = path.resolve(__dirname, "..", "..");
const PLAN_TIMEOUT_MS = 120_000;

/**
 * Environment the program must not see: Pulumi's own (PULUMI_CONFIG would add config behind the
 * plan's back) and the AWS region fallback loadStackArgs reads, so a plan depends on its options.
 */
function childEnv(): NodeJS.ProcessEnv {
    return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("PULUMI_") && key !== "AWS_REGION" && key !== "AWS_DEFAULT_REGION"));
}

/** Runs index.ts under mocks in a child process, a fresh Pulumi runtime per plan. */
export function planDeploy(options: PlanOptions): Promise<DeployPlan> {
    return new Promise((resolve, reject) => {
        const child =
            options.netns === undefined
                ? fork(MAIN, [], { cwd: REPO_ROOT, env: childEnv(), execArgv: ["--import", "tsx"], stdio: ["ignore", "pipe", "pipe", "ipc"], timeout: PLAN_TIMEOUT_MS })
                : // The IPC channel is an inherited descriptor, which `ip netns exec` passes on.
                  spawn(systemBinary("ip"), ["netns", "exec", options.netns, process.execPath, "--import", "tsx", MAIN], { cwd: REPO_ROOT, env: childEnv(), stdio: ["ignore", "pipe", "pipe", "ipc"], timeout: PLAN_TIMEOUT_MS });
        let log = "";
        child.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString()));
        child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
        let answer: { plan?: DeployPlan; error?: string } | undefined;
        child.on("message", (message: { plan?: DeployPlan; error?: string }) => (answer = message));
        child.on("error", reject);
        child.on("exit", (code, signal) => {
            if (answer?.plan !== undefined) {
                resolve(answer.plan);
            } else {
                reject(new Error(`planning failed (exit ${code ?? signal}): ${answer?.error ?? "no answer"}\n${log}`));
            }
        });
        child.send(options);
    });
}

function canonical(value: unknown): string {
    return JSON.stringify(value, (_key, v: unknown) =>
        v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
    );
}

/** True when both values serialise alike, whatever the order of object keys. */
export function sameValue(a: unknown, b: unknown): boolean {
    return canonical(a) === canonical(b);
}

/**
 * The commands a `pulumi up` of `next` runs after `previous`, in `next`'s order: new ones, and
 * changed ones that have a create or update to run. Why each change runs one:
 * - @pulumi/command 1.2.1 marks `triggers` `replaceOnChanges: ["triggers[*]"]`
 *   (node_modules/@pulumi/command/remote/command.js and local/command.js), so a changed trigger
 *   replaces the command: the new one runs `create`, then the old one's `delete` runs, if it has one.
 * - Its docs (remote/command.d.ts, `create` and `update`): "If an `update` command isn't
 *   provided, then `create` will also be run when the resource's inputs are modified". The
 *   provider defines no Diff of its own, so any input counts, `delete` and `connection` too
 *   (pulumi/pulumi-command v1.2.1, provider/pkg/provider/remote/commandController.go and
 *   local/commandController.go: Update runs `update`, else `create`, else nothing).
 * A command with neither create nor update (the local teardown) runs nothing on either path.
 */
export function changedCommands(previous: DeployPlan, next: DeployPlan): PlannedCommand[] {
    const before = new Map(previous.commands.map((c) => [c.name, c]));
    const inputs = (c: PlannedCommand) => [c.kind, c.create, c.update, c.delete, c.stdin, c.triggers, c.environment, c.connection];
    return next.commands.filter((command) => {
        const old = before.get(command.name);
        const runs = command.create !== undefined || command.update !== undefined;
        return runs && (old === undefined || !sameValue(inputs(old), inputs(command)));
    });
}
