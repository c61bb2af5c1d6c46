import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { installMocks, isSecretValue, ofType, optionsRecorder, RecordedOptions, RecordedResource, settle, single, valueOf } from "../support/mocks";
import type { PrivateRegistryArgs } from "../../components/privateRegistryArgs";
import { loadStackArgs } from "../../components/stackConfig";
import { decodeBundleFiles } from "../support/bundle";
import type { PrivateRegistry as PrivateRegistryType } from "../../components/privateRegistry";
import type { ResolveIpv4 } from "../../components/dnsCheck";
import { REGBOT_IMAGE, REGISTRY_IMAGE_DIGESTS, registryImageReference, REGISTRY_VERSION } from "../../components/versions";
import { FRONT_ACME_CA_FILE } from "../../components/render/deployment";
import { TEST_ACME_CA } from "./acmeCa";

const recorded: RecordedResource[] = installMocks();
let PrivateRegistry: typeof PrivateRegistryType;

function argsFor(values: Record<string, string>, awsRegion = "eu-central-1"): PrivateRegistryArgs {
    return loadStackArgs(new Map(Object.entries(values)), new Map([["region", awsRegion]]));
}

/** A resolver that never reaches real DNS: unknown names fail like NXDOMAIN. */
function fakeDns(records: Record<string, string[]>): ResolveIpv4 {
    return async (hostname) => {
        const found = records[hostname];
        if (found === undefined) {
            throw Object.assign(new Error(`queryA ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
        }
        return found;
    };
}

interface Deployed {
    registry: PrivateRegistryType;
    resources: RecordedResource[];
    options: RecordedOptions[];
}

/** Builds one stack's worth of resources under its own name prefix and returns just those. */
async function deploy(prefix: string, values: Record<string, string>, env: { awsRegion?: string; dns?: ResolveIpv4 } = {}): Promise<Deployed> {
    const options: RecordedOptions[] = [];
    const before = recorded.length;
    const registry = new PrivateRegistry(prefix, argsFor(values, env.awsRegion), { transformations: [optionsRecorder(options)] }, env.dns ?? fakeDns({}));
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
        assert.equal(lifecycle.rules[0].abortIncompleteMultipartUpload.daysAfterInitiation, 1);
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
        assert.equal(await pulumi.isSecret(d.registry.storageUser!.secretAccessKey), true);
        assert.equal(await pulumi.isSecret(d.registry.storageUser!.accessKey.secret), false, "the mock leaves it plain, proving the wrapper matters");
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
                // No IPv6 on 443 by default: fail2ban's per-address bans cannot hold an IPv6 /64.
                ["tcp", "443", ["0.0.0.0/0"]],
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
        assert.ok(start.inputs.create.includes(`image='${registryImageReference(REGISTRY_VERSION, REGISTRY_IMAGE_DIGESTS[REGISTRY_VERSION])}'`), "pinned by tag and digest");
        assert.equal(start.inputs.delete, undefined, "removal is the teardown's job");
        assert.equal(start.inputs.environment, undefined, "sshd refuses Setenv and it would leak secrets");
        const files = decodeBundleFiles(start.inputs.stdin);
        const config = parse(files["config.yml"]);
        assert.equal(config.storage.s3.accesskey, "pub-storage-access-key-id");
        assert.equal(config.storage.s3.secretkey, "MOCKSECRETwJalrXUtnFEMIK7MDENGbPxRfiCY");
        assert.equal(config.storage.s3.bucket, "pub-storage-bucket-4f2a9c1");
        assert.equal(config.storage.s3.region, "eu-central-1");
        assert.equal(config.storage.s3.regionendpoint, "https://s3.eu-central-1.amazonaws.com", "set, so regions newer than the driver's SDK work");
        assert.equal(config.storage.s3.objectacl, "bucket-owner-full-control", "the only ACL an owner-enforced bucket accepts");
        assert.equal(config.http.tls, undefined, "plain HTTP on loopback, behind the front");
        assert.match(files.htpasswd, /^front:\$2y\$05\$[^\n]+\n$/, "the front's login alone");
        const upstreamAuthorization = /^\t+header_up Authorization "Basic ([A-Za-z0-9+/=]+)"$/m.exec(files["front/Caddyfile"])?.[1];
        assert.match(Buffer.from(upstreamAuthorization ?? "", "base64").toString(), /^front:MockPassw0rd/, "the front sends its own generated login");
        assert.ok(!start.inputs.create.includes(upstreamAuthorization!), "command text carries the front's login");
        assert.match(files["front/tls.key"], /mock-pub-tls-server-key/);
        assert.match(files["front/Caddyfile"], /^\ttls \/etc\/caddy\/tls\.crt \/etc\/caddy\/tls\.key$/m);
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
        assert.match(teardown.inputs.delete, /^node '\/[^']*\/teardown\.cjs'$/, "the script by its absolute path, not relative to the working directory");
        const env = teardown.inputs.environment;
        assert.equal(env.REGISTRY_SSH_HOST, "203.0.113.10");
        assert.match(env.REGISTRY_SSH_HOST_KEY, /^ssh-ed25519 /);
        assert.match(env.REGISTRY_STOP_SCRIPT, /docker rm -f -v "\$name"/);
        assert.ok(isSecretValue(teardown.rawInputs.environment) || isSecretValue(teardown.rawInputs.environment.REGISTRY_SSH_PRIVATE_KEY), "the deploy key stays secret");
        const options = d.options.find((o) => o.name.endsWith("service-teardown"));
        assert.ok((options?.opts.dependsOn as pulumi.Resource[]).includes(d.registry.service.startCommand), "torn down before the start command");
    });

    it("starts the container only after the host, firewall and key are ready", () => {
        const service = d.options.find((o) => o.type === "private-registry:registry:RegistryService");
        assert.ok(service);
        const deps = service.opts.dependsOn as pulumi.Resource[];
        assert.ok(deps.includes(d.registry.host.ready), "depends on the readiness command");
        assert.ok(deps.includes(d.registry.host.firewall), "depends on the firewall");
        assert.ok(deps.includes(d.registry.storageUser!.accessKey), "depends on the access key");
        assert.ok(deps.includes(d.registry.bucket!), "depends on the bucket's protections");
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

    it("binds the front to the droplet's loopback, without TLS or certificates", () => {
        const start = ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"));
        assert.ok(start);
        const files = decodeBundleFiles(start.inputs.stdin);
        assert.match(files["front/Caddyfile"], /^http:\/\/:5000 \{\n\tbind 127\.0\.0\.1$/m);
        assert.doesNotMatch(files["front/Caddyfile"], /443/);
        assert.equal(parse(files["config.yml"]).http.tls, undefined);
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
            sshAllowedCidrs: '["203.0.113.5/32"]',
            uploadStartsPerUser: "50",
        });
    });

    it("holds each push user's upload starts to the budget given, in the front it ships", () => {
        const start = ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"));
        assert.ok(start);
        const caddyfile = decodeBundleFiles(start.inputs.stdin)["front/Caddyfile"];
        assert.deepEqual(caddyfile.match(/max_fails \d+/g), ["max_fails 50"], "the one push user's count");
        assert.match(caddyfile, /started 50 uploads within 14 hours/);
    });

    it("creates the A record in the zone, pointing at the reserved IP", () => {
        const record = single(d.resources, "digitalocean:index/dnsRecord:DnsRecord").inputs;
        assert.deepEqual([record.domain, record.type, record.name, record.value], ["example.com", "A", "registry", "203.0.113.10"]);
    });

    it("requests the certificate for the domain and creates no private CA", () => {
        const start = ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"));
        assert.ok(start);
        const caddyfile = decodeBundleFiles(start.inputs.stdin)["front/Caddyfile"];
        assert.match(caddyfile, /^https:\/\/registry\.example\.com:443 \{$/m);
        assert.match(caddyfile, /^\temail ops@example\.com$/m);
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
        assert.deepEqual(firewall.inboundRules.map((r: { sourceAddresses: string[] }) => r.sourceAddresses), [["203.0.113.5/32"], ["0.0.0.0/0"]]);
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

describe("Let's Encrypt with a domain whose DNS is managed by hand", () => {
    const values = { domain: "registry.example.com", letsencryptEmail: "ops@example.com" };
    const startOf = (d: Deployed) => ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"))!;

    it("before the A record exists: starts without asking for a certificate and says which record to create", async () => {
        const d = await deploy("dnswait", values, { dns: fakeDns({}) });
        const script = startOf(d).inputs.create as string;
        assert.match(script, /waiting for DNS: create an A record registry.example.com -> 203.0.113.10/);
        assert.match(script, /debug_url='http:\/\/127.0.0.1:5001\/debug\/health'/);
        // The TLS check that would make the registry ask Let's Encrypt is never reached.
        assert.doesNotMatch(script, /curl[^\n]*"\$health_url"/, "no TLS request for the name: it would ask Let's Encrypt");
        assert.match(await valueOf(d.registry.serving), /^waiting for DNS: create an A record registry.example.com -> 203.0.113.10, then run `pulumi up` again/);
        assert.equal(ofType(d.resources, "digitalocean:index/dnsRecord:DnsRecord").length, 0);
    });

    it("a record pointing elsewhere counts as not yet", async () => {
        const d = await deploy("dnselse", values, { dns: fakeDns({ "registry.example.com": ["192.0.2.99"] }) });
        assert.match(startOf(d).inputs.create, /waiting for DNS/);
    });

    it("once the name points at the reserved IP: the full check, and a changed start command so the next up runs it", async () => {
        const waiting = await deploy("dnsnext", values, { dns: fakeDns({}) });
        const ready = await deploy("dnsnext", values, { dns: fakeDns({ "registry.example.com": ["203.0.113.10"] }) });
        const script = startOf(ready).inputs.create as string;
        assert.doesNotMatch(script, /waiting for DNS/);
        assert.match(script, /health_url='https:\/\/registry.example.com\/v2\/'/);
        assert.notEqual(startOf(ready).inputs.triggers[0], startOf(waiting).inputs.triggers[0]);
        assert.match(await valueOf(ready.registry.serving), /^public HTTPS at https:\/\/registry.example.com with a Let's Encrypt certificate/);
    });
});

describe("the bucket on destroy", () => {
    const protections = [
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketPolicy:BucketPolicy",
    ];
    const retained = (d: Deployed, type: string) => (d.options.find((o) => o.type === type)?.opts as pulumi.CustomResourceOptions).retainOnDelete;

    it("with forceDestroy off, keeps every protection with a bucket that still holds images", async () => {
        const d = await deploy("keep", {});
        for (const type of protections) {
            assert.equal(retained(d, type), true, `${type} is retained`);
        }
        assert.notEqual(retained(d, "aws:s3/bucket:Bucket"), true, "the bucket itself is deleted when empty");
    });

    it("with forceDestroy on, deletes them with the bucket", async () => {
        const d = await deploy("force", { forceDestroy: "true" });
        for (const type of protections) {
            assert.equal(retained(d, type), false, `${type} is deleted`);
        }
    });
});

describe("AWS partitions", () => {
    it("names the China partition in both policies and points the driver at the .cn endpoint", async () => {
        const d = await deploy("china", {}, { awsRegion: "cn-north-1" });
        const userPolicy = JSON.parse(single(d.resources, "aws:iam/userPolicy:UserPolicy").inputs.policy);
        assert.deepEqual(userPolicy.Statement[0].Resource, ["arn:aws-cn:s3:::china-storage-bucket-4f2a9c1"]);
        const bucketPolicy = JSON.parse(single(d.resources, "aws:s3/bucketPolicy:BucketPolicy").inputs.policy);
        assert.match(bucketPolicy.Statement[0].Resource[0], /^arn:aws-cn:s3:::/);
        const start = ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"))!;
        assert.equal(parse(decodeBundleFiles(start.inputs.stdin)["config.yml"]).storage.s3.regionendpoint, "https://s3.cn-north-1.amazonaws.com.cn");
    });

    it("names the GovCloud partition", async () => {
        const d = await deploy("gov", {}, { awsRegion: "us-gov-west-1" });
        const userPolicy = JSON.parse(single(d.resources, "aws:iam/userPolicy:UserPolicy").inputs.policy);
        assert.match(userPolicy.Statement[1].Resource[0], /^arn:aws-us-gov:s3:::gov-storage-bucket-4f2a9c1\/\*$/);
    });
});

describe("what replaces the droplet", () => {
    // The droplet inputs DigitalOcean cannot change in place (ForceNew in
    // terraform-provider-digitalocean `digitalocean/droplet/resource_droplet.go`).
    const FORCE_NEW = ["image", "region", "sshKeys", "userData", "monitoring", "vpcUuid", "dropletAgent"];
    async function replacingInputs(prefix: string, values: Record<string, string>): Promise<string> {
        const d = await deploy(prefix, values);
        const droplet = single(d.resources, "digitalocean:index/droplet:Droplet").inputs;
        // Mock values carry the resource name (the mock host key encodes it); a real stack keeps
        // one name across updates.
        const mockHostKey = Buffer.from(`${prefix}-host-host-key`).toString("base64").replace(/=/g, "");
        return JSON.stringify(FORCE_NEW.map((k) => droplet[k])).replaceAll(mockHostKey, "HOSTKEY").replaceAll(prefix, "STACK");
    }

    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyForTestsOnly0123456789 alice";
    const unchanged: Record<string, Record<string, string>> = {
        "adding an operator key": { extraSshPublicKeys: JSON.stringify([key]) },
        "narrowing SSH": { sshAllowedCidrs: '["203.0.113.5/32"]' },
        "narrowing HTTPS": { httpsAllowedCidrs: '["198.51.100.0/24"]' },
        "a new registry version": { registryVersion: "3.1.0" },
        "another login name": { registryUsername: "deploy" },
        "a domain and Let's Encrypt": { domain: "registry.example.com" },
        "a domain and an ACME server of one's own": { domain: "registry.example.com", acmeServer: "https://ca.internal:9000/acme/acme/directory" },
        "a bigger droplet (a resize)": { dropletSize: "s-2vcpu-2gb" },
    };
    let baseline: string;
    before(async () => {
        baseline = await replacingInputs("rbase", {});
    });

    for (const [change, values] of Object.entries(unchanged)) {
        it(`keeps the droplet on ${change}`, async () => {
            assert.equal(await replacingInputs(`r${Object.keys(unchanged).indexOf(change)}`, values), baseline);
        });
    }

    it("replaces it on a new image or region, which the README says", async () => {
        assert.notEqual(await replacingInputs("rimage", { dropletImage: "docker-24-04" }), baseline);
        assert.notEqual(await replacingInputs("rregion", { dropletRegion: "fra1" }), baseline);
    });

    it("installs operator keys over SSH, after first boot, on every new droplet", async () => {
        const d = await deploy("keys", { extraSshPublicKeys: JSON.stringify([key]) });
        const command = ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("operator-keys"));
        assert.ok(command);
        assert.ok(command.inputs.create.includes(`'${key}'`));
        assert.deepEqual(command.inputs.triggers, [await valueOf(d.registry.host.droplet.id)]);
        const options = d.options.find((o) => o.name.endsWith("operator-keys"));
        assert.ok((options?.opts.dependsOn as pulumi.Resource[]).includes(d.registry.host.ready));
        assert.ok(!single(d.resources, "digitalocean:index/droplet:Droplet").inputs.userData.includes("AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKey"));
    });
});

describe("operations: garbage collection, retention and alerts", () => {
    const startOf = (d: Deployed) => ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"))!;

    it("installs the maintenance job with a weekly timer in UTC, and no retention rule by default", async () => {
        const d = await deploy("ops", {});
        const script = startOf(d).inputs.create as string;
        assert.match(script, /OnCalendar=Sun \*-\*-\* 03:00:00 UTC/);
        assert.match(script, /systemctl enable --now private-registry-maintenance.timer/);
        // The boot-time recovery from a window cut short: installed and enabled, never started by the deploy.
        assert.match(script, /^cat > "\$unit_dir\/private-registry-maintenance-recovery.service.new" <</m);
        assert.match(script, /^systemctl enable private-registry-maintenance-recovery.service >\/dev\/null$/m);
        assert.doesNotMatch(script, /enable --now private-registry-maintenance-recovery/);
        assert.match(script, /retention: no tag rules set; every tag is kept/);
        assert.ok(!("retention.yml" in decodeBundleFiles(startOf(d).inputs.stdin)));
        assert.equal(ofType(d.resources, "digitalocean:index/monitorAlert:MonitorAlert").length, 0, "no alert without alertEmails");
        assert.equal(ofType(d.resources, "digitalocean:index/uptimeCheck:UptimeCheck").length, 0);
    });

    it("an empty gcSchedule turns the timer off but keeps the job for a manual run", async () => {
        const d = await deploy("nogc", { gcSchedule: "" });
        const script = startOf(d).inputs.create as string;
        assert.doesNotMatch(script, /OnCalendar=/);
        assert.match(script, /systemctl disable --now private-registry-maintenance.timer/);
        assert.match(script, /\$lib_dir\/maintenance/);
    });

    it("runs the retention rules from the pinned regbot image before collecting, the password in a file", async () => {
        const d = await deploy("keep", { keepNewestTags: "5", protectedTags: '["latest", "v%d+%.%d+%.%d+"]' });
        const files = decodeBundleFiles(startOf(d).inputs.stdin);
        assert.match(files["retention.yml"], /local keepNewest = 5/);
        assert.equal(files["retention-password"], await valueOf(d.registry.service.password));
        assert.ok(!files["retention.yml"].includes("MockPassw0rd"), "the config names the password file, not the password");
        const script = startOf(d).inputs.create as string;
        assert.match(script, /docker 'run' '--add-host' '203-0-113-10.sslip.io:127.0.0.1' '--rm' '--network' 'host'/);
        assert.ok(!script.includes("MockPassw0rd"), "no secret in the command text");
        assert.ok(script.includes(`pull_once '${REGBOT_IMAGE}'`), "the deploy pulls the retention image, so a failed pull fails the deploy and not the night's job");
        assert.doesNotMatch(startOf(await deploy("keepless", {})).inputs.create, /regbot/, "and only with rules");
    });

    it("with alertEmails: CPU, memory and disk alerts on the droplet, and no uptime check it could not judge (private CA)", async () => {
        const d = await deploy("alerts", { alertEmails: '["ops@example.com"]' });
        const alerts = ofType(d.resources, "digitalocean:index/monitorAlert:MonitorAlert");
        assert.deepEqual(alerts.map((a) => a.inputs.type).sort(), ["v1/insights/droplet/cpu", "v1/insights/droplet/disk_utilization_percent", "v1/insights/droplet/memory_utilization_percent"]);
        for (const alert of alerts) {
            assert.deepEqual(alert.inputs.entities, [await valueOf(d.registry.host.droplet.id)]);
            assert.deepEqual(alert.inputs.alerts.emails, ["ops@example.com"]);
        }
        assert.equal(ofType(d.resources, "digitalocean:index/uptimeCheck:UptimeCheck").length, 0);
        const options = d.options.find((o) => o.type === "private-registry:monitoring:RegistryAlerts");
        assert.ok((options?.opts.dependsOn as pulumi.Resource[]).includes(d.registry.service), "watching starts once the registry serves");
    });

    it("with Let's Encrypt: an uptime check on the registry's root, with down and certificate-expiry alerts", async () => {
        const d = await deploy("upt", { alertEmails: '["ops@example.com"]', domain: "registry.example.com", dnsZone: "example.com" });
        const check = single(d.resources, "digitalocean:index/uptimeCheck:UptimeCheck").inputs;
        assert.equal(check.target, "https://registry.example.com/");
        assert.deepEqual(ofType(d.resources, "digitalocean:index/uptimeAlert:UptimeAlert").map((a) => a.inputs.type).sort(), ["down", "ssl_expiry"]);
    });

    it("in tunnel mode: droplet alerts only", async () => {
        const d = await deploy("tunal", { alertEmails: '["ops@example.com"]', exposure: "tunnel" });
        assert.equal(ofType(d.resources, "digitalocean:index/monitorAlert:MonitorAlert").length, 3);
        assert.equal(ofType(d.resources, "digitalocean:index/uptimeCheck:UptimeCheck").length, 0);
        assert.equal(ofType(d.resources, "digitalocean:index/uptimeAlert:UptimeAlert").length, 0);
    });
});

describe("an ACME server of one's own (acmeServer, acmeServerCa)", () => {
    const STEP_CA = "https://ca.internal:9000/acme/acme/directory";
    const values = { domain: "registry.example.com", dnsZone: "example.com", letsencryptEmail: "ops@example.com", acmeServer: STEP_CA, alertEmails: '["ops@example.com"]' };
    const startOf = (d: Deployed) => ofType(d.resources, "command:remote:Command").find((c) => c.name.endsWith("service-container"))!;
    /** Whether scripts.ts itself lists the file, before this block adds it for its own tests. */

    it("asks that directory alone: HTTP-01 off, no ZeroSSL, the system's roots, and an uptime check", async () => {
        const d = await deploy("acme", values);
        const files = decodeBundleFiles(startOf(d).inputs.stdin);
        const caddyfile = files["front/Caddyfile"];
        assert.ok(caddyfile.includes(`\t\tissuer acme ${STEP_CA} {\n\t\t\tdisable_http_challenge\n\t\t}\n`), caddyfile);
        assert.doesNotMatch(caddyfile, /zerossl|trusted_roots/);
        assert.equal(files[FRONT_ACME_CA_FILE], undefined);
        assert.doesNotMatch(startOf(d).inputs.create, /--cacert/, "the health check trusts the system's roots");
        assert.match(await valueOf(d.registry.serving), new RegExp(`a certificate from the ACME server ${STEP_CA}`));
        assert.equal(ofType(d.resources, "digitalocean:index/uptimeCheck:UptimeCheck").length, 1);
    });

    describe("with the ACME server's own CA", () => {
        it("ships acmeServerCa in the start command's stdin, never its text; the front and the checks trust it; no uptime check", async () => {
            const d = await deploy("acmeca", { ...values, acmeServerCa: TEST_ACME_CA });
            const start = startOf(d);
            const files = decodeBundleFiles(start.inputs.stdin);
            assert.equal(files[FRONT_ACME_CA_FILE], TEST_ACME_CA);
            assert.equal(files["ca.crt"], TEST_ACME_CA, "the health check's CA");
            assert.match(files["front/Caddyfile"], /^\t\tissuer acme https:\/\/ca\.internal:9000\/acme\/acme\/directory \{\n\t\t\ttrusted_roots \/etc\/caddy\/acme-ca\.crt\n\t\t\tdisable_http_challenge\n/m);
            const body = TEST_ACME_CA.split("\n")[1];
            const script = start.inputs.create as string;
            assert.ok(!script.includes(body) && !script.includes(Buffer.from(TEST_ACME_CA).toString("base64").slice(0, 40)), "the CA is in the command text");
            assert.ok(isSecretValue(start.rawInputs.stdin));
            assert.match(script, /--cacert "\$config_dir\/ca\.crt"/, "the health check verifies against it");
            assert.equal(ofType(d.resources, "digitalocean:index/uptimeCheck:UptimeCheck").length, 0, "DigitalOcean's probes cannot trust a private CA");
            assert.match(await valueOf(d.registry.serving), /clients must trust the CA in acmeServerCa/);
        });

        it("and the start command puts the file in place", async () => {
            const d = await deploy("acmecareq", { ...values, acmeServerCa: TEST_ACME_CA });
            assert.match(startOf(d).inputs.create, /^for required in [^\n]*\bfront\/acme-ca\.crt\b/m);
        });
    });
});
