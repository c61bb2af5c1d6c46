import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { installMocks, isSecretValue, ofType, optionsRecorder, RecordedOptions, RecordedResource, settle, single, valueOf } from "../support/mocks";
import { loadSettings, Settings } from "../../components/settings";
import { decodeBundleFiles } from "../support/bundle";
import type { PrivateRegistry as PrivateRegistryType } from "../../components/privateRegistry";

const recorded: RecordedResource[] = installMocks();
let PrivateRegistry: typeof PrivateRegistryType;

function settingsFor(values: Record<string, string>): Settings {
    return loadSettings(new Map(Object.entries(values)), new Map([["region", "eu-central-1"]]));
}

interface Deployed {
    registry: PrivateRegistryType;
    resources: RecordedResource[];
    options: RecordedOptions[];
}

/** Builds one stack's worth of resources under its own name prefix and returns just those. */
async function deploy(prefix: string, values: Record<string, string>): Promise<Deployed> {
    const options: RecordedOptions[] = [];
    const before = recorded.length;
    const registry = new PrivateRegistry(prefix, settingsFor(values), { transformations: [optionsRecorder(options)] });
    await settle(recorded);
    return { registry, resources: recorded.slice(before), options };
}

before(async () => {
    ({ PrivateRegistry } = await import("../../components/privateRegistry.js"));
});

describe("default stack (public, private CA)", () => {
    let d: Deployed;
    before(async () => {
        d = await deploy("pub", {});
    });

    it("creates the bucket with every protection", () => {
        const bucket = single(d.resources, "aws:s3/bucket:Bucket");
        assert.equal(bucket.inputs.forceDestroy, false);
        assert.equal(bucket.inputs.bucket, undefined, "name is generated unless given");
        const pab = single(d.resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs;
        assert.deepEqual([pab.blockPublicAcls, pab.blockPublicPolicy, pab.ignorePublicAcls, pab.restrictPublicBuckets], [true, true, true, true]);
        assert.equal(single(d.resources, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs.rule.objectOwnership, "BucketOwnerEnforced");
        const sse = single(d.resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs;
        assert.equal(sse.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm, "AES256");
        const lifecycle = single(d.resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs;
        assert.equal(lifecycle.rules[0].abortIncompleteMultipartUpload.daysAfterInitiation, 3);
        assert.equal(lifecycle.rules[0].status, "Enabled");
        assert.equal(lifecycle.rules[0].noncurrentVersionExpiration, undefined);
        assert.equal(single(d.resources, "aws:s3/bucketVersioning:BucketVersioning").inputs.versioningConfiguration.status, "Suspended");
        const policy = JSON.parse(single(d.resources, "aws:s3/bucketPolicy:BucketPolicy").inputs.policy);
        assert.equal(policy.Statement[0].Effect, "Deny");
        assert.deepEqual(policy.Statement[0].Condition, { Bool: { "aws:SecureTransport": "false" } });
        assert.deepEqual(policy.Statement[0].Resource, ["arn:aws:s3:::pub-storage-bucket-4f2a9c1", "arn:aws:s3:::pub-storage-bucket-4f2a9c1/*"]);
    });

    it("grants the storage user exactly the driver's actions on that bucket", () => {
        const policy = JSON.parse(single(d.resources, "aws:iam/userPolicy:UserPolicy").inputs.policy);
        assert.deepEqual(policy.Statement.map((s: { Resource: string[] }) => s.Resource), [
            ["arn:aws:s3:::pub-storage-bucket-4f2a9c1"],
            ["arn:aws:s3:::pub-storage-bucket-4f2a9c1/*"],
        ]);
        assert.equal(policy.Statement.flatMap((s: { Action: string[] }) => s.Action).length, 8);
        single(d.resources, "aws:iam/accessKey:AccessKey");
        assert.equal(ofType(d.resources, "aws:iam/userPolicyAttachment:UserPolicyAttachment").length, 0, "no managed policy is attached");
    });

    it("keeps the access key's secret a secret even where the provider does not", async () => {
        assert.equal(await pulumi.isSecret(d.registry.storageUser.secretAccessKey), true);
        assert.equal(await pulumi.isSecret(d.registry.storageUser.accessKey.secret), false, "the mock leaves it plain, proving the wrapper matters");
    });

    it("builds a monitored Docker droplet with a pinned host key and a reserved IP", async () => {
        const droplet = single(d.resources, "digitalocean:index/droplet:Droplet").inputs;
        assert.equal(droplet.image, "docker-22-04");
        assert.equal(droplet.size, "s-1vcpu-1gb");
        assert.equal(droplet.region, "nyc3");
        assert.equal(droplet.monitoring, true);
        assert.deepEqual(droplet.sshKeys, ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"]);
        const cloudInit = parse(droplet.userData.replace(/^#cloud-config\n/, ""));
        assert.match(cloudInit.ssh_keys.ed25519_private, /mock-pub-host-host-key/);
        assert.ok(isSecretValue(single(d.resources, "digitalocean:index/droplet:Droplet").rawInputs.userData), "user data carries the host's private key");
        assert.equal(single(d.resources, "digitalocean:index/reservedIp:ReservedIp").inputs.region, "nyc3");
        const assignment = single(d.resources, "digitalocean:index/reservedIpAssignment:ReservedIpAssignment").inputs;
        assert.equal(assignment.ipAddress, "203.0.113.10");
        assert.equal(typeof assignment.dropletId, "number");
        assert.equal(ofType(d.resources, "digitalocean:index/sshKey:SshKey").length, 1);
    });

    it("opens only SSH and HTTPS in the firewall", () => {
        const firewall = single(d.resources, "digitalocean:index/firewall:Firewall").inputs;
        assert.deepEqual(
            firewall.inboundRules.map((r: { protocol: string; portRange: string; sourceAddresses: string[] }) => [r.protocol, r.portRange, r.sourceAddresses]),
            [
                ["tcp", "22", ["0.0.0.0/0", "::/0"]],
                ["tcp", "443", ["0.0.0.0/0", "::/0"]],
            ],
        );
        assert.equal(firewall.dropletIds.length, 1);
    });

    it("waits for first boot over a pinned, key-only SSH connection with generous retries", () => {
        const wait = ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("wait-ready"));
        assert.ok(wait);
        assert.match(wait.inputs.create, /cloud-init status --wait/);
        assert.match(wait.inputs.create, /docker info/);
        assert.equal(wait.inputs.connection.host, "203.0.113.10");
        assert.equal(wait.inputs.connection.user, "root");
        assert.match(wait.inputs.connection.hostKey, /^ssh-ed25519 /);
        assert.ok(wait.inputs.connection.dialErrorLimit >= 30);
    });

    it("starts the pinned registry with its files on stdin, never in the command", async () => {
        const start = ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"));
        assert.ok(start);
        assert.match(start.inputs.create, /image='docker.io\/library\/registry:3.1.1'/);
        assert.equal(start.inputs.delete, undefined, "removal is the teardown's job");
        assert.equal(start.inputs.environment, undefined, "sshd refuses Setenv and it would leak secrets");
        const files = decodeBundleFiles(start.inputs.stdin);
        const config = parse(files["config.yml"]);
        assert.equal(config.storage.s3.accesskey, "pub-storage-access-key-id");
        assert.equal(config.storage.s3.secretkey, "MOCKSECRETwJalrXUtnFEMIK7MDENGbPxRfiCY");
        assert.equal(config.storage.s3.bucket, "pub-storage-bucket-4f2a9c1");
        assert.equal(config.storage.s3.region, "eu-central-1");
        assert.equal(config.storage.s3.regionendpoint, undefined);
        assert.equal(config.http.tls.certificate, "/etc/distribution/tls.crt");
        assert.match(files.htpasswd, /^ci:\$2y\$05\$/);
        assert.match(files["tls.key"], /mock-pub-tls-server-key/);
        for (const secret of ["MOCKSECRET", "MockPassw0rd", "mock-pub-tls-server-key"]) {
            assert.ok(!start.inputs.create.includes(secret), `command text contains ${secret}`);
        }
        assert.ok(isSecretValue(start.rawInputs.stdin), "stdin reaches the engine as a secret");
        assert.equal(start.inputs.triggers.length, 2);
        assert.match(start.inputs.triggers[0], /^[a-f0-9]{64}$/);
        assert.equal(start.inputs.triggers[1], await valueOf(d.registry.host.droplet.id), "a replaced droplet gets the registry started again");
    });

    it("removes the container on destroy from the operator's machine, tolerating a vanished host", () => {
        const teardown = single(d.resources, "command:local:Command");
        assert.equal(teardown.inputs.create, undefined);
        assert.equal(teardown.inputs.delete, "node components/teardown.cjs");
        const env = teardown.inputs.environment;
        assert.equal(env.REGISTRY_SSH_HOST, "203.0.113.10");
        assert.match(env.REGISTRY_SSH_HOST_KEY, /^ssh-ed25519 /);
        assert.match(env.REGISTRY_STOP_SCRIPT, /docker rm -f "\$name"/);
        assert.ok(isSecretValue(teardown.rawInputs.environment) || isSecretValue(teardown.rawInputs.environment.REGISTRY_SSH_PRIVATE_KEY), "the deploy key stays secret");
        const options = d.options.find((o) => o.name.endsWith("service-teardown"));
        assert.ok((options?.opts.dependsOn as pulumi.Resource[]).includes(d.registry.service.startCommand), "torn down before the start command");
    });

    it("replaces the container delete-first and only after the host, firewall and key are ready", () => {
        const start = d.options.find((o) => o.name.endsWith("service-container"));
        assert.ok(start);
        assert.equal((start.opts as pulumi.CustomResourceOptions).deleteBeforeReplace, true);
        const service = d.options.find((o) => o.type === "private-registry:registry:RegistryService");
        assert.ok(service);
        const deps = service.opts.dependsOn as pulumi.Resource[];
        assert.ok(deps.includes(d.registry.host.ready), "depends on the readiness command");
        assert.ok(deps.includes(d.registry.host.firewall), "depends on the firewall");
        assert.ok(deps.includes(d.registry.storageUser.accessKey), "depends on the access key");
        assert.ok(deps.includes(d.registry.bucket), "depends on the bucket's protections");
        const wait = d.options.find((o) => o.name.endsWith("wait-ready"));
        assert.ok((wait?.opts.dependsOn as pulumi.Resource[]).includes(d.registry.host.firewall));
    });

    it("serves on the reserved IP with a private CA, and says so", async () => {
        assert.equal(await valueOf(d.registry.registryHost), "203.0.113.10");
        assert.equal(await valueOf(d.registry.registryUrl), "https://203.0.113.10");
        assert.match(await valueOf(d.registry.serving), /private CA.*\/etc\/docker\/certs.d\/203.0.113.10\/ca.crt/);
        const csr = single(d.resources, "tls:index/certRequest:CertRequest").inputs;
        assert.deepEqual(csr.ipAddresses, ["203.0.113.10"]);
        assert.deepEqual(csr.dnsNames, ["203-0-113-10.sslip.io"]);
        assert.equal(single(d.resources, "tls:index/selfSignedCert:SelfSignedCert").inputs.isCaCertificate, true);
    });

    it("creates no DNS record without a domain", () => {
        assert.equal(ofType(d.resources, "digitalocean:index/dnsRecord:DnsRecord").length, 0);
    });

    it("keeps the password secret", async () => {
        assert.equal(await pulumi.isSecret(d.registry.service.password), true);
        assert.equal(await pulumi.isSecret(d.registry.host.sshPrivateKey), true);
    });
});

describe("tunnel stack", () => {
    let d: Deployed;
    before(async () => {
        d = await deploy("tun", { exposure: "tunnel" });
    });

    it("opens no public HTTPS port", () => {
        const firewall = single(d.resources, "digitalocean:index/firewall:Firewall").inputs;
        assert.deepEqual(firewall.inboundRules.map((r: { portRange: string }) => r.portRange), ["22"]);
    });

    it("binds the registry to the droplet's loopback, without TLS or certificates", () => {
        const start = ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"));
        assert.ok(start);
        assert.match(start.inputs.create, /-p '127.0.0.1:5000:5000'/);
        assert.doesNotMatch(start.inputs.create, /443/);
        assert.equal(parse(decodeBundleFiles(start.inputs.stdin)["config.yml"]).http.tls, undefined);
        assert.equal(ofType(d.resources, "tls:index/selfSignedCert:SelfSignedCert").length, 0);
        assert.equal(ofType(d.resources, "tls:index/locallySignedCert:LocallySignedCert").length, 0);
    });

    it("is reached through localhost", async () => {
        assert.equal(await valueOf(d.registry.registryUrl), "http://localhost:5000");
        assert.match(await valueOf(d.registry.serving), /loopback only/);
    });
});

describe("Let's Encrypt stack with a managed DNS record", () => {
    let d: Deployed;
    before(async () => {
        d = await deploy("le", {
            domain: "registry.example.com",
            dnsZone: "example.com",
            letsencryptEmail: "ops@example.com",
            bucketName: "team-registry-layers",
            forceDestroy: "true",
            versioning: "true",
            httpsAllowedCidrs: '["198.51.100.0/24"]',
            sshAllowedCidrs: '["203.0.113.5/32"]',
        });
    });

    it("creates the A record in the zone, pointing at the reserved IP", () => {
        const record = single(d.resources, "digitalocean:index/dnsRecord:DnsRecord").inputs;
        assert.deepEqual([record.domain, record.type, record.name, record.value], ["example.com", "A", "registry", "203.0.113.10"]);
    });

    it("requests the certificate for the domain and creates no private CA", () => {
        const start = ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"));
        assert.ok(start);
        const config = parse(decodeBundleFiles(start.inputs.stdin)["config.yml"]);
        assert.deepEqual(config.http.tls.letsencrypt.hosts, ["registry.example.com"]);
        assert.equal(config.http.tls.letsencrypt.email, "ops@example.com");
        assert.equal(ofType(d.resources, "tls:index/selfSignedCert:SelfSignedCert").length, 0);
    });

    it("starts the registry only after the DNS record exists", () => {
        const service = d.options.find((o) => o.type === "private-registry:registry:RegistryService");
        assert.ok((service?.opts.dependsOn as pulumi.Resource[]).includes(d.registry.dnsRecord!));
    });

    it("applies the bucket and firewall settings given", () => {
        const bucket = single(d.resources, "aws:s3/bucket:Bucket").inputs;
        assert.equal(bucket.bucket, "team-registry-layers");
        assert.equal(bucket.forceDestroy, true);
        assert.equal(single(d.resources, "aws:s3/bucketVersioning:BucketVersioning").inputs.versioningConfiguration.status, "Enabled");
        const lifecycle = single(d.resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs;
        assert.equal(lifecycle.rules[0].noncurrentVersionExpiration.noncurrentDays, 30);
        const firewall = single(d.resources, "digitalocean:index/firewall:Firewall").inputs;
        assert.deepEqual(firewall.inboundRules.map((r: { sourceAddresses: string[] }) => r.sourceAddresses), [["203.0.113.5/32"], ["198.51.100.0/24"]]);
    });

    it("names the registry by its domain", async () => {
        assert.equal(await valueOf(d.registry.registryUrl), "https://registry.example.com");
        assert.match(await valueOf(d.registry.serving), /Let's Encrypt/);
    });
});

describe("Let's Encrypt without a domain", () => {
    it("uses the reserved IP's sslip.io name", async () => {
        const d = await deploy("sslip", { tls: "letsencrypt" });
        assert.equal(await valueOf(d.registry.registryHost), "203-0-113-10.sslip.io");
        assert.equal(ofType(d.resources, "digitalocean:index/dnsRecord:DnsRecord").length, 0);
    });
});
