/**
 * The child process behind planDeploy (deployPlan.ts): one plan per process, because Pulumi's
 * runtime and its mocks are global to a process. Receives PlanOptions over IPC, runs index.ts
 * under the unit tests' mocks with real generated values, and answers with the plan.
 */
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, KeyObject, randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { utils as ssh2Utils } from "ssh2";
import type { DeployPlan, GeneratedValue, PlannedCommand, PlannedConnection, PlannedFirewallRule, PlanOptions } from "./deployPlan";
import { DEFAULT_VPC_IP_RANGE, hostOfResource, sameValue } from "./deployPlan";
import { installMocks, MockedResult, RecordedResource, settle, valueOf } from "../support/mocks";

// ---- Keys: what @pulumi/tls's PrivateKey gives, made with node:crypto.

function sshString(value: Buffer | string): Buffer {
    const bytes = Buffer.from(value);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
}

/** An SSH mpint: big-endian, no leading zero bytes, one zero byte before a set high bit. */
function sshMpint(value: Buffer): Buffer {
    let start = 0;
    while (start < value.length && value[start] === 0) start++;
    const digits = value.subarray(start);
    return sshString(digits.length > 0 && digits[0] & 0x80 ? Buffer.concat([Buffer.from([0]), digits]) : digits);
}

const ECDSA_CURVES: Record<string, { node: string; ssh: string }> = {
    P256: { node: "prime256v1", ssh: "nistp256" },
    P384: { node: "secp384r1", ssh: "nistp384" },
    P521: { node: "secp521r1", ssh: "nistp521" },
};

/**
 * The public blob and the private fields of OpenSSH's key format (PROTOCOL.key in openssh-portable),
 * written here because ssh2 1.17.0's own keygen emits about one ed25519 pair in 256 that it
 * cannot parse back (it strips the public key's leading zero bytes): every field below has
 * its fixed length.
 */
function opensshParts(privateKey: KeyObject, curve?: string): { type: string; blob: Buffer; fields: Buffer } {
    const jwk = privateKey.export({ format: "jwk" });
    const bytes = (b64: string | undefined) => Buffer.from(b64!, "base64url");
    if (jwk.kty === "OKP") {
        const pub = bytes(jwk.x);
        const blob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
        return { type: "ssh-ed25519", blob, fields: Buffer.concat([blob, sshString(Buffer.concat([bytes(jwk.d), pub]))]) };
    }
    const type = `ecdsa-sha2-${ECDSA_CURVES[curve!].ssh}`;
    const point = Buffer.concat([Buffer.from([4]), bytes(jwk.x), bytes(jwk.y)]);
    const blob = Buffer.concat([sshString(type), sshString(ECDSA_CURVES[curve!].ssh), sshString(point)]);
    return { type, blob, fields: Buffer.concat([blob, sshMpint(bytes(jwk.d))]) };
}

function opensshPrivateKey(blob: Buffer, fields: Buffer): string {
    const check = randomBytes(4);
    let section = Buffer.concat([check, check, fields, sshString("")]);
    const padding = (8 - (section.length % 8)) % 8;
    section = Buffer.concat([section, Buffer.from(Array.from({ length: padding }, (_, i) => i + 1))]);
    const body = Buffer.concat([Buffer.from("openssh-key-v1\0", "binary"), sshString("none"), sshString("none"), sshString(""), Buffer.from([0, 0, 0, 1]), sshString(blob), sshString(section)]);
    const lines = body.toString("base64").match(/.{1,70}/g)!;
    return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function privateKey(inputs: Record<string, any>): Record<string, unknown> {
    const algorithm: string = inputs.algorithm;
    const curve: string = inputs.ecdsaCurve ?? "P224";
    if (algorithm !== "ED25519" && !(algorithm === "ECDSA" && curve in ECDSA_CURVES)) {
        throw new Error(`deploy plans make ED25519 and ECDSA P256/P384/P521 keys only; got ${algorithm} ${curve}`);
    }
    const pair = algorithm === "ED25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: ECDSA_CURVES[curve].node });
    const { type, blob, fields } = opensshParts(pair.privateKey, curve);
    const privateKeyOpenssh = opensshPrivateKey(blob, fields);
    if (ssh2Utils.parseKey(privateKeyOpenssh) instanceof Error) {
        throw new Error(`ssh2 cannot parse a generated ${type} key`);
    }
    const pkcs8 = pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const md5 = createHash("md5").update(blob).digest("hex");
    return {
        // The provider writes ECDSA keys as SEC 1 ("EC PRIVATE KEY") and ED25519 keys as PKCS #8.
        privateKeyPem: algorithm === "ECDSA" ? pair.privateKey.export({ type: "sec1", format: "pem" }).toString() : pkcs8,
        privateKeyPemPkcs8: pkcs8,
        privateKeyOpenssh,
        publicKeyPem: pair.publicKey.export({ type: "spki", format: "pem" }).toString(),
        publicKeyOpenssh: `${type} ${blob.toString("base64")}\n`,
        publicKeyFingerprintMd5: md5.match(/../g)!.join(":"),
        publicKeyFingerprintSha256: `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`,
    };
}

// ---- Certificates: what @pulumi/tls gives, made with the openssl CLI.

/** openssl in a scratch directory holding `files`; returns the file it wrote as `out`. */
function openssl(args: string[], files: Record<string, string>): string {
    const dir = mkdtempSync(path.join(tmpdir(), "deploy-plan-"));
    try {
        for (const [name, content] of Object.entries(files)) {
            writeFileSync(path.join(dir, name), content, { mode: 0o600 });
        }
        const result = spawnSync("openssl", [...args, "-out", "out.pem"], { cwd: dir, encoding: "utf8" });
        if (result.status !== 0) {
            throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
        }
        return readFileSync(path.join(dir, "out.pem"), "utf8");
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/** The subject in pkix.Name's order, as the provider (Go's crypto/x509) encodes it. */
function subjectArg(subject: Record<string, any> | undefined): string {
    const fields: [string, unknown][] = [
        ["C", subject?.country],
        ["ST", subject?.province],
        ["L", subject?.locality],
        ...((subject?.streetAddresses ?? []) as string[]).map((s): [string, unknown] => ["street", s]),
        ["postalCode", subject?.postalCode],
        ["O", subject?.organization],
        ["OU", subject?.organizationalUnit],
        ["CN", subject?.commonName],
        ["serialNumber", subject?.serialNumber],
    ];
    const parts = fields.filter(([, v]) => v !== undefined && v !== "").map(([k, v]) => `/${k}=${String(v).replace(/[\\/=+]/g, "\\$&")}`);
    return parts.length > 0 ? parts.join("") : "/";
}

/** allowedUses as the provider names them (terraform-provider-tls internal/provider/common_cert.go). */
const KEY_USAGES: Record<string, string> = {
    digital_signature: "digitalSignature",
    content_commitment: "nonRepudiation",
    key_encipherment: "keyEncipherment",
    data_encipherment: "dataEncipherment",
    key_agreement: "keyAgreement",
    cert_signing: "keyCertSign",
    crl_signing: "cRLSign",
    encipher_only: "encipherOnly",
    decipher_only: "decipherOnly",
};
const EXTENDED_KEY_USAGES: Record<string, string> = {
    any_extended: "anyExtendedKeyUsage",
    server_auth: "serverAuth",
    client_auth: "clientAuth",
    code_signing: "codeSigning",
    email_protection: "emailProtection",
    ipsec_end_system: "ipsecEndSystem",
    ipsec_tunnel: "ipsecTunnel",
    ipsec_user: "ipsecUser",
    timestamping: "timeStamping",
    ocsp_signing: "OCSPSigning",
    microsoft_server_gated_crypto: "msSGC",
    netscape_server_gated_crypto: "nsSGC",
    microsoft_commercial_code_signing: "1.3.6.1.4.1.311.2.1.22",
    microsoft_kernel_code_signing: "1.3.6.1.4.1.311.61.1.1",
};

function subjectAltName(inputs: Record<string, any>): string[] {
    const names = [...((inputs.dnsNames ?? []) as string[]).map((n) => `DNS:${n}`), ...((inputs.ipAddresses ?? []) as string[]).map((a) => `IP:${a}`), ...((inputs.uris ?? []) as string[]).map((u) => `URI:${u}`)];
    return names.length > 0 ? [`subjectAltName = ${names.join(", ")}`] : [];
}

/** An openssl config whose [ext] section holds `lines` (and a [req] section `req` needs). */
function extensionConfig(lines: string[]): string {
    return `[req]\ndistinguished_name = dn\n[dn]\n[ext]\n${lines.join("\n")}\n`;
}

/** The certificate extensions the provider sets from a certificate resource's inputs. */
function certificateExtensions(inputs: Record<string, any>, signedByCa: boolean): string[] {
    const uses = (inputs.allowedUses ?? []) as string[];
    const unknown = uses.filter((u) => KEY_USAGES[u] === undefined && EXTENDED_KEY_USAGES[u] === undefined);
    if (unknown.length > 0) {
        throw new Error(`unknown allowedUses: ${unknown.join(", ")}`);
    }
    const keyUsage = uses.filter((u) => KEY_USAGES[u] !== undefined).map((u) => KEY_USAGES[u]);
    const extended = uses.filter((u) => EXTENDED_KEY_USAGES[u] !== undefined).map((u) => EXTENDED_KEY_USAGES[u]);
    const isCa = inputs.isCaCertificate === true;
    return [
        `basicConstraints = critical, CA:${isCa ? "TRUE" : "FALSE"}`,
        ...(keyUsage.length > 0 ? [`keyUsage = critical, ${keyUsage.join(", ")}`] : []),
        ...(extended.length > 0 ? [`extendedKeyUsage = ${extended.join(", ")}`] : []),
        // The provider gives a CA certificate a subject key ID; Go's x509 gives a signed one its issuer's.
        // openssl 3 would add a subject key ID to every certificate; "none" keeps it off.
        `subjectKeyIdentifier = ${isCa || inputs.setSubjectKeyId === true ? "hash" : "none"}`,
        ...(signedByCa ? ["authorityKeyIdentifier = keyid"] : []),
    ];
}

/** openssl 3.0's req and x509 count validity in days only. */
function validityDays(hours: number): string {
    if (!Number.isInteger(hours / 24) || hours <= 0) {
        throw new Error(`validityPeriodHours must be a positive multiple of 24 here (openssl 3.0 takes days); got ${hours}`);
    }
    return String(hours / 24);
}

const serial = () => `0x${randomBytes(16).toString("hex").replace(/^[89a-f]/, "1")}`;

function selfSignedCert(inputs: Record<string, any>): Record<string, unknown> {
    const args = ["req", "-x509", "-new", "-key", "key.pem", "-subj", subjectArg(inputs.subject), "-days", validityDays(inputs.validityPeriodHours), "-set_serial", serial()];
    const config = extensionConfig([...certificateExtensions(inputs, false), ...subjectAltName(inputs)]);
    return { certPem: openssl([...args, "-config", "ext.cnf", "-extensions", "ext"], { "key.pem": inputs.privateKeyPem, "ext.cnf": config }) };
}

function certRequest(inputs: Record<string, any>): Record<string, unknown> {
    const names = subjectAltName(inputs);
    const args = ["req", "-new", "-key", "key.pem", "-subj", subjectArg(inputs.subject), "-config", "ext.cnf", ...(names.length > 0 ? ["-reqexts", "ext"] : [])];
    return { certRequestPem: openssl(args, { "key.pem": inputs.privateKeyPem, "ext.cnf": extensionConfig(names) }) };
}

/** Subject and names come from the request, as the provider copies them; the rest from the inputs. */
function locallySignedCert(inputs: Record<string, any>): Record<string, unknown> {
    const args = ["x509", "-req", "-in", "csr.pem", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-set_serial", serial(), "-days", validityDays(inputs.validityPeriodHours)];
    const files = { "csr.pem": inputs.certRequestPem, "ca.pem": inputs.caCertPem, "ca-key.pem": inputs.caPrivateKeyPem, "ext.cnf": extensionConfig(certificateExtensions(inputs, true)) };
    return { certPem: openssl([...args, "-extfile", "ext.cnf", "-extensions", "ext", "-copy_extensions", "copy"], files) };
}

// ---- Random values: what @pulumi/random gives.

const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMERIC = "0123456789";
/** terraform-provider-random internal/random/string.go's special characters. */
const SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

/** The provider's algorithm: each class's minimum first, the rest from all enabled classes, shuffled. */
function randomText(inputs: Record<string, any>): Record<string, unknown> {
    // An empty overrideSpecial keeps the default set, as in the provider.
    const special = typeof inputs.overrideSpecial === "string" && inputs.overrideSpecial !== "" ? inputs.overrideSpecial : SPECIAL;
    const classes: [boolean, string, number][] = [
        [inputs.lower ?? true, LOWER, inputs.minLower ?? 0],
        [inputs.upper ?? true, UPPER, inputs.minUpper ?? 0],
        [inputs.numeric ?? inputs.number ?? true, NUMERIC, inputs.minNumeric ?? 0],
        [inputs.special ?? true, special, inputs.minSpecial ?? 0],
    ];
    const pick = (from: string) => from[randomInt(from.length)];
    const chars: string[] = [];
    let all = "";
    for (const [enabled, set, min] of classes) {
        if (enabled) {
            all += set;
            chars.push(...Array.from({ length: min }, () => pick(set)));
        }
    }
    const length: number = inputs.length;
    while (chars.length < length) chars.push(pick(all));
    for (let i = chars.length - 1; i > 0; i--) {
        const j = randomInt(i + 1);
        [chars[i], chars[j]] = [chars[j], chars[i]];
    }
    return { result: chars.join("") };
}

/** Real values for the resources whose values the host uses; undefined for the others. */
function generate(type: string, inputs: Record<string, any>, accessKey: PlanOptions["accessKey"]): { id?: string; state: Record<string, unknown> } | undefined {
    switch (type) {
        case "tls:index/privateKey:PrivateKey":
            return { state: privateKey(inputs) };
        case "tls:index/selfSignedCert:SelfSignedCert":
            return { state: selfSignedCert(inputs) };
        case "tls:index/certRequest:CertRequest":
            return { state: certRequest(inputs) };
        case "tls:index/locallySignedCert:LocallySignedCert":
            return { state: locallySignedCert(inputs) };
        case "random:index/randomPassword:RandomPassword":
        case "random:index/randomString:RandomString":
            return { state: randomText(inputs) };
        case "aws:iam/accessKey:AccessKey":
            return { id: accessKey.id, state: { secret: accessKey.secret } };
        default:
            return undefined;
    }
}

// ---- The program under mocks.

/** `type::name`, the key this file names resources by (names repeat across types, e.g. components). */
const key = (type: string, name: string) => `${type}::${name}`;

/** A URN's type and name: `urn:pulumi:STACK::PROJECT::ParentType$Type::NAME`. */
function keyOfUrn(urn: string): string {
    const parts = urn.split("::");
    return key(parts[parts.length - 2].split("$").pop()!, parts[parts.length - 1]);
}

interface Registration {
    dependencies: Map<string, string[]>;
    declared: string[];
}

/**
 * Records what the mocks are not told: what each registration waited for, and the order in which
 * resources were declared. The SDK registers a resource only once the resources in its
 * dependency list are done (their URNs resolve when the engine has finished with them), and
 * once its parent is registered: a component waits for its own dependsOn, so a child of one
 * follows those too although its own dependency list does not name them
 * (@pulumi/pulumi runtime/resource.js prepareResource, runtime/dependsOn.js).
 */
function recordRegistrations(): Registration {
    const recorded: Registration = { dependencies: new Map(), declared: [] };
    type Request = { getType(): string; getName(): string; getParent(): string; getDependenciesList(): string[] };
    const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks") as { MockMonitor: { prototype: { registerResource(req: Request, cb: unknown): unknown } } };
    const register = MockMonitor.prototype.registerResource;
    MockMonitor.prototype.registerResource = function (req: Request, cb: unknown) {
        const waitedFor = req.getParent() === "" ? req.getDependenciesList() : [req.getParent(), ...req.getDependenciesList()];
        recorded.dependencies.set(key(req.getType(), req.getName()), waitedFor.map(keyOfUrn));
        return register.call(this, req, cb);
    };
    // Resource constructors call this synchronously, so the calls come in declaration order.
    const runtime = require("@pulumi/pulumi/runtime/resource") as { registerResource(...args: unknown[]): unknown };
    const declare = runtime.registerResource;
    runtime.registerResource = function (...args: unknown[]) {
        recorded.declared.push(key(String(args[2]), String(args[3])));
        return declare.apply(this, args);
    };
    return recorded;
}

const COMMAND_KINDS: Record<string, PlannedCommand["kind"]> = { "command:remote:Command": "remote", "command:local:Command": "local" };

/** The nearest commands `start` depends on, looking through resources that are not commands. */
function commandsBefore(start: string, dependencies: Map<string, string[]>, commands: Set<string>): string[] {
    const found = new Set<string>();
    const seen = new Set<string>();
    const visit = (node: string) => {
        for (const dep of dependencies.get(node) ?? []) {
            if (seen.has(dep)) continue;
            seen.add(dep);
            if (commands.has(dep)) found.add(dep);
            else visit(dep);
        }
    };
    visit(start);
    return [...found];
}

/** Kahn's algorithm, taking the earliest declared of the commands that are free to run. */
function topological(commands: PlannedCommand[], rank: (name: string) => number): PlannedCommand[] {
    const waiting = [...commands].sort((a, b) => rank(a.name) - rank(b.name));
    const done = new Set<string>();
    const ordered: PlannedCommand[] = [];
    while (waiting.length > 0) {
        const next = waiting.findIndex((c) => c.after.every((a) => done.has(a)));
        if (next < 0) {
            throw new Error(`commands wait for each other: ${waiting.map((c) => c.name).join(", ")}`);
        }
        const [command] = waiting.splice(next, 1);
        done.add(command.name);
        ordered.push(command);
    }
    return ordered;
}

function plannedConnection(connection: Record<string, unknown> | undefined): PlannedConnection | undefined {
    if (connection === undefined) return undefined;
    const known = ["host", "user", "privateKey", "hostKey", "port", "perDialTimeout", "dialErrorLimit"];
    return Object.fromEntries(known.filter((k) => connection[k] !== undefined).map((k) => [k, connection[k]])) as unknown as PlannedConnection;
}

function plannedCommands(recorded: RecordedResource[], registration: Registration): PlannedCommand[] {
    const names = new Map<string, string>();
    const commandKeys = new Set<string>();
    for (const r of recorded.filter((r) => COMMAND_KINDS[r.type] !== undefined)) {
        commandKeys.add(key(r.type, r.name));
        names.set(key(r.type, r.name), r.name);
    }
    const commands = recorded
        .filter((r) => COMMAND_KINDS[r.type] !== undefined)
        .map((r): PlannedCommand => {
            const i = r.inputs;
            const command: PlannedCommand = {
                name: r.name,
                kind: COMMAND_KINDS[r.type],
                create: i.create,
                update: i.update,
                delete: i.delete,
                stdin: i.stdin,
                triggers: i.triggers,
                environment: i.environment,
                connection: plannedConnection(i.connection),
                after: commandsBefore(key(r.type, r.name), registration.dependencies, commandKeys).map((k) => names.get(k)!),
            };
            return Object.fromEntries(Object.entries(command).filter(([, v]) => v !== undefined)) as unknown as PlannedCommand;
        });
    const declared = new Map(registration.declared.map((k, index) => [names.get(k) ?? k, index]));
    return topological(commands, (name) => declared.get(name) ?? Number.MAX_SAFE_INTEGER);
}

/** Generated values: kept from `previous` while type and inputs match, as Pulumi's state keeps them. */
function resultOverride(options: PlanOptions, generated: Record<string, GeneratedValue>, dropletIds: Map<string, string>) {
    return (resource: { type: string; name: string; inputs: Record<string, any> }, defaults: MockedResult): MockedResult => {
        const { type, name, inputs } = resource;
        const address = () => options.dropletAddresses?.[hostOfResource(name)] ?? options.dropletAddress;
        if (type === "digitalocean:index/reservedIp:ReservedIp") {
            return { ...defaults, state: { ...defaults.state, ipAddress: address() } };
        }
        if (type === "digitalocean:index/droplet:Droplet") {
            dropletIds.set(name, defaults.id);
            return { ...defaults, state: { ...defaults.state, ipv4Address: address() } };
        }
        if (type === "digitalocean:index/loadBalancer:LoadBalancer" && options.balancerAddress !== undefined) {
            return { ...defaults, state: { ...defaults.state, ip: options.balancerAddress } };
        }
        const kept = options.previous?.generated[name];
        const made = kept !== undefined && kept.type === type && sameValue(kept.inputs, inputs) ? kept : generate(type, inputs, options.accessKey);
        if (made === undefined) {
            return defaults;
        }
        generated[name] = { type, inputs, id: made.id ?? defaults.id, state: made.state };
        return { id: made.id ?? defaults.id, state: { ...defaults.state, ...made.state } };
    };
}

async function plan(options: PlanOptions): Promise<DeployPlan> {
    const registration = recordRegistrations();
    const generated: Record<string, GeneratedValue> = {};
    const dropletIds = new Map<string, string>();
    // getVpc answers with the network the test's balancer connects from.
    const recorded = installMocks("private-registry", resultOverride(options, generated, dropletIds), options.vpcIpRange ?? DEFAULT_VPC_IP_RANGE);
    pulumi.runtime.setAllConfig(options.config);
    const program = require("../../index") as Record<string, unknown>;
    await settle(recorded);

    const outputs: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(program)) {
        if (value !== undefined) {
            outputs[name] = await valueOf(pulumi.output(value));
        }
    }
    const droplet = recorded.find((r) => r.type === "digitalocean:index/droplet:Droplet");
    const firewall = recorded.find((r) => r.type === "digitalocean:index/firewall:Firewall");
    const hosts: DeployPlan["hosts"] = {};
    const firewalls = recorded.filter((r) => r.type === "digitalocean:index/firewall:Firewall");
    for (const d of recorded.filter((r) => r.type === "digitalocean:index/droplet:Droplet")) {
        const host = hostOfResource(d.name);
        // DigitalOcean applies every firewall that lists a droplet, their rules together: the
        // host's own (SSH) and, behind a balancer, one beside it that admits the balancer.
        const id = Number(dropletIds.get(d.name));
        const covering = firewalls.filter((f) => ((f.inputs.dropletIds ?? []) as unknown[]).map(Number).includes(id));
        const applied = covering.length > 0 ? covering : firewalls.filter((f) => hostOfResource(f.name) === host);
        hosts[host] = { userData: d.inputs.userData, firewall: { inboundRules: applied.flatMap((f) => (f.inputs.inboundRules ?? []) as PlannedFirewallRule[]) } };
    }
    return {
        userData: droplet?.inputs.userData,
        firewall: { inboundRules: firewall?.inputs.inboundRules ?? [] },
        hosts,
        commands: plannedCommands(recorded, registration),
        outputs,
        generated,
        resources: recorded.map((r) => ({ type: r.type, name: r.name })),
    };
}

function fail(error: unknown): void {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.send!({ error: text }, () => process.exit(1));
}

process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
process.once("message", (options: PlanOptions) => {
    plan(options).then(
        (result) => process.send!({ plan: result }, () => process.exit(0)),
        fail,
    );
});
