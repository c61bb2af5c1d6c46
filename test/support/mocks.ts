import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

/** One resource the program asked for, with the inputs it gave. */
export interface RecordedResource {
    type: string;
    name: string;
    /** Inputs with secret markers removed. */
    inputs: Record<string, any>;
    /** Inputs as the engine would receive them: secrets still wrapped (see {@link isSecretValue}). */
    rawInputs: Record<string, any>;
}

/** The marker Pulumi's wire format puts on a secret value. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** True when a raw input value arrived as a Pulumi secret. */
export function isSecretValue(value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

function unwrapSecrets(value: unknown): any {
    if (isSecretValue(value)) {
        return unwrapSecrets((value as { value: unknown }).value);
    }
    if (Array.isArray(value)) {
        return value.map(unwrapSecrets);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

/** The last options a resource was created with, as seen by a transformation. */
export interface RecordedOptions {
    type: string;
    name: string;
    resource: pulumi.Resource;
    opts: pulumi.ResourceOptions;
}

/** Plausible provider-computed outputs, so the program's applies see realistic values. */
function computedState(type: string, name: string, inputs: Record<string, any>): Record<string, unknown> {
    switch (type) {
        case "aws:s3/bucket:Bucket": {
            const bucket = inputs.bucket ?? `${name}-4f2a9c1`;
            return { bucket, arn: `arn:aws:s3:::${bucket}` };
        }
        case "aws:iam/user:User":
            return { name: `${name}-a1b2c3`, arn: `arn:aws:iam::123456789012:user/docker-registry/${name}` };
        case "aws:iam/accessKey:AccessKey":
            // Under mocks the provider does not mark this secret: the program must.
            return { secret: "MOCKSECRETwJalrXUtnFEMIK7MDENGbPxRfiCY" };
        case "tls:index/privateKey:PrivateKey":
            return {
                privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\nmock-${name}\n-----END OPENSSH PRIVATE KEY-----\n`,
                privateKeyPem: `-----BEGIN PRIVATE KEY-----\nmock-${name}\n-----END PRIVATE KEY-----\n`,
                publicKeyOpenssh: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${Buffer.from(name).toString("base64").replace(/=/g, "")}\n`,
            };
        case "tls:index/selfSignedCert:SelfSignedCert":
        case "tls:index/locallySignedCert:LocallySignedCert":
            return { certPem: `-----BEGIN CERTIFICATE-----\nmock-${name}\n-----END CERTIFICATE-----\n` };
        case "tls:index/certRequest:CertRequest":
            return { certRequestPem: `-----BEGIN CERTIFICATE REQUEST-----\nmock-${name}\n-----END CERTIFICATE REQUEST-----\n` };
        case "random:index/randomPassword:RandomPassword": {
            // Distinct per resource (and per rotation), and always carrying the marker tests look for.
            const tag = createHash("sha256").update(`${name}/${JSON.stringify(inputs.keepers ?? {})}`).digest("hex");
            return { result: `MockPassw0rd${tag}MockPassw0rdMockPassw0rd`.slice(0, inputs.length ?? 32) };
        }
        case "random:index/randomString:RandomString":
            return { result: "abcdefghijklmnopqrstuvwxyz".slice(0, inputs.length ?? 22) };
        case "digitalocean:index/sshKey:SshKey":
            return { fingerprint: "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa" };
        case "digitalocean:index/reservedIp:ReservedIp":
            return { ipAddress: "203.0.113.10" };
        case "digitalocean:index/droplet:Droplet":
            return { ipv4Address: "198.51.100.20", vpcUuid: MOCK_VPC.id };
        case "digitalocean:index/loadBalancer:LoadBalancer":
            return { ip: "203.0.113.50" };
        default:
            return {};
    }
}

/** The region's default VPC every mocked droplet joins, as `digitalocean.getVpc` describes it. */
export const MOCK_VPC = { id: "5a4981aa-9653-4bd1-bef5-d6bff52042e4", ipRange: "10.116.0.0/20" } as const;

/** What the mocks give a resource: its ID and the outputs it adds to its inputs. */
export interface MockedResult {
    id: string;
    state: Record<string, unknown>;
}

/** Replaces the result the mocks would give a resource (passed as `defaults`). */
export type ResultOverride = (resource: { type: string; name: string; inputs: Record<string, any> }, defaults: MockedResult) => MockedResult;

/**
 * Installs in-process mocks that record every resource. The one provider function the program
 * calls, getVpc (with replicas: the droplets' network), answers for the mocked droplets' VPC,
 * {@link MOCK_VPC} unless `vpcIpRange` names another range; any other call throws with its token.
 */
export function installMocks(project = "private-registry", override?: ResultOverride, vpcIpRange: string = MOCK_VPC.ipRange): RecordedResource[] {
    const recorded: RecordedResource[] = [];
    let nextId = 1000;
    pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs) {
                const inputs = unwrapSecrets(args.inputs);
                recorded.push({ type: args.type, name: args.name, inputs, rawInputs: args.inputs });
                const id = args.type === "digitalocean:index/droplet:Droplet" ? String(nextId++) : `${args.name}-id`;
                const defaults = { id, state: computedState(args.type, args.name, inputs) };
                const result = override?.({ type: args.type, name: args.name, inputs }, defaults) ?? defaults;
                return { id: result.id, state: { ...inputs, ...result.state } };
            },
            call(args: pulumi.runtime.MockCallArgs) {
                if (args.token === "digitalocean:index/getVpc:getVpc" && args.inputs.id === MOCK_VPC.id) {
                    return { id: MOCK_VPC.id, ipRange: vpcIpRange, name: "default-nyc3", region: "nyc3", default: true };
                }
                throw new Error(`unexpected provider call ${args.token} ${JSON.stringify(args.inputs)}`);
            },
        },
        project,
        "test",
        false,
    );
    return recorded;
}

/** A transformation that records each resource's options (dependsOn, deleteBeforeReplace...). */
export function optionsRecorder(into: RecordedOptions[]): pulumi.ResourceTransformation {
    return (args) => {
        into.push({ type: args.type, name: args.name, resource: args.resource, opts: args.opts });
        return undefined;
    };
}

/** Resolves an Output's value (undefined while unknown). */
export function valueOf<T>(output: pulumi.Output<T> | undefined): Promise<T> {
    return new Promise((resolve) => (output === undefined ? resolve(undefined as T) : output.apply((v) => resolve(v))));
}

/** Waits until no new resource has been registered for a few turns of the event loop. */
export async function settle(recorded: RecordedResource[]): Promise<void> {
    let last = -1;
    let stableRounds = 0;
    while (stableRounds < 5) {
        await new Promise((r) => setTimeout(r, 10));
        stableRounds = recorded.length === last ? stableRounds + 1 : 0;
        last = recorded.length;
    }
}

export function ofType(recorded: RecordedResource[], type: string): RecordedResource[] {
    return recorded.filter((r) => r.type === type);
}

export function single(recorded: RecordedResource[], type: string): RecordedResource {
    const found = ofType(recorded, type);
    if (found.length !== 1) {
        throw new Error(`expected exactly one ${type}, found ${found.length}: ${found.map((r) => r.name).join(", ")}`);
    }
    return found[0];
}
