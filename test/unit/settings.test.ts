import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deploymentNotices } from "../../components/notices";
import { DEFAULTS, diskGbInSizeSlug, DOCKER_IMAGE_MIN_DISK_GB, dnsRecordName, Settings, SettingsError } from "../../components/settings";
import { isCidr, validateBucketName } from "../../components/settingsRules";
import { loadSettings } from "../../components/stackConfig";
import { REGISTRY_IMAGE_DIGESTS } from "../../components/versions";
import { TEST_ACME_CA } from "./acmeCa";

const AWS = new Map([["region", "us-east-1"]]);

function load(values: Record<string, string>, aws: Map<string, string> = AWS, env: Record<string, string> = {}): Settings {
    return loadSettings(new Map(Object.entries(values)), aws, env);
}

/** Asserts loading fails, and that one problem names the key and quotes what was given. */
function rejects(values: Record<string, string>, key: string, given?: string): SettingsError {
    let caught: unknown;
    try {
        load(values);
    } catch (e) {
        caught = e;
    }
    assert.ok(caught instanceof SettingsError, `expected a SettingsError for ${JSON.stringify(values)}`);
    const problem = caught.problems.find((p) => p.includes(key));
    assert.ok(problem !== undefined, `no problem names ${key}: ${caught.problems.join(" | ")}`);
    if (given !== undefined) {
        assert.ok(problem.includes(given), `problem ${JSON.stringify(problem)} does not show the given value ${given}`);
    }
    assert.match(problem, /must|requires|mutually exclusive/);
    return caught;
}

describe("settings defaults", () => {
    it("an empty config gives the documented defaults", () => {
        const s = load({});
        assert.equal(s.exposure, "public");
        assert.equal(s.tls, "private-ca", "no domain: the private CA, not a shared Let's Encrypt budget");
        assert.equal(s.forceDestroy, false);
        assert.equal(s.versioning, false);
        assert.equal(s.dropletImage, DEFAULTS.dropletImage);
        assert.equal(s.dropletSize, "s-1vcpu-1gb");
        assert.equal(s.registryVersion, "3.1.2");
        assert.equal(s.registryImageDigest, REGISTRY_IMAGE_DIGESTS["3.1.2"], "pinned by digest where the digest is known");
        assert.equal(s.registryUsername, "ci");
        assert.deepEqual(s.sshAllowedCidrs, ["0.0.0.0/0", "::/0"]);
        assert.equal(s.bucketName, undefined);
        assert.equal(s.awsRegion, "us-east-1");
    });

    it("empty strings count as unset, as Pulumi.yaml's empty defaults deliver them", () => {
        const s = load({ domain: "", bucketName: "", letsencryptEmail: "", dnsZone: "", registryImageDigest: "" });
        assert.equal(s.domain, undefined);
        assert.equal(s.bucketName, undefined);
    });

    it("a domain switches auto TLS to Let's Encrypt", () => {
        assert.equal(load({ domain: "registry.example.com" }).tls, "letsencrypt");
    });

    it("tls=letsencrypt without a domain is allowed (the sslip.io name)", () => {
        assert.equal(load({ tls: "letsencrypt" }).tls, "letsencrypt");
    });

    it("tunnel mode resolves to plain loopback", () => {
        assert.equal(load({ exposure: "tunnel" }).tls, "none");
    });

    it("parses booleans, integers and JSON lists", () => {
        const s = load({
            forceDestroy: "true",
            versioning: "true",
            abortIncompleteUploadDays: "7",
            s3ChunkSizeMb: "15",
            sshAllowedCidrs: '["203.0.113.0/24","2001:db8::/32"]',
            extraSshPublicKeys: '["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOZ0b2tlbnRva2VudG9rZW50b2tlbnRva2VudG9rZW4 alice@laptop"]',
        });
        assert.equal(s.forceDestroy, true);
        assert.equal(s.versioning, true);
        assert.equal(s.abortIncompleteUploadDays, 7);
        assert.equal(s.s3ChunkSizeMb, 15);
        assert.deepEqual(s.sshAllowedCidrs, ["203.0.113.0/24", "2001:db8::/32"]);
        assert.equal(s.extraSshPublicKeys.length, 1);
    });

    it("takes the region from AWS_REGION when aws:region is unset", () => {
        assert.equal(load({}, new Map(), { AWS_REGION: "eu-west-1" }).awsRegion, "eu-west-1");
    });
});

describe("settings validation", () => {
    it("requires an AWS region", () => {
        assert.throws(() => load({}, new Map(), {}), (e: unknown) => e instanceof SettingsError && e.problems.some((p) => p.startsWith("aws:region")));
    });

    it("rejects a malformed AWS region", () => {
        assert.throws(() => load({}, new Map([["region", "us_east_1"]])), /aws:region must be an AWS region name.*"us_east_1"/);
    });

    for (const [value, why] of [
        ["My_Bucket", "uppercase and underscore"],
        ["ab", "too short"],
        ["a".repeat(64), "too long"],
        ["-bucket", "leading hyphen"],
        ["bucket..name", "adjacent periods"],
        ["bucket.-name", "period next to hyphen"],
        ["192.168.1.1", "IP address shape"],
        ["xn--bucket", "reserved prefix"],
        ["bucket-s3alias", "reserved suffix"],
        ["bucket/*", "a wildcard that would widen the policy"],
    ] as const) {
        it(`rejects bucket name ${JSON.stringify(value)} (${why})`, () => {
            rejects({ bucketName: value }, "private-registry:bucketName", JSON.stringify(value));
        });
    }

    it("accepts a valid bucket name", () => {
        assert.equal(validateBucketName("team-registry.layers-01"), undefined);
        assert.equal(load({ bucketName: "team-registry-01" }).bucketName, "team-registry-01");
    });

    for (const cidr of ["10.0.0.0/33", "10.0.0.0", "300.1.1.1/8", "::/129", "fe80::1%eth0/64", "0.0.0.0/0; rm -rf /", ""]) {
        it(`rejects CIDR ${JSON.stringify(cidr)}`, () => {
            assert.equal(isCidr(cidr), false);
            rejects({ sshAllowedCidrs: JSON.stringify([cidr]) }, "private-registry:sshAllowedCidrs");
        });
    }

    it("accepts IPv4 and IPv6 CIDRs", () => {
        for (const cidr of ["0.0.0.0/0", "203.0.113.7/32", "::/0", "2001:db8::/48"]) {
            assert.ok(isCidr(cidr), cidr);
        }
    });

    it("rejects an empty CIDR list (it would lock everyone out)", () => {
        rejects({ sshAllowedCidrs: "[]" }, "private-registry:sshAllowedCidrs", "empty list");
    });

    it("rejects a list that is not JSON, or not of strings", () => {
        rejects({ httpsAllowedCidrs: "0.0.0.0/0" }, "private-registry:httpsAllowedCidrs", '"0.0.0.0/0"');
        rejects({ httpsAllowedCidrs: "[1,2]" }, "private-registry:httpsAllowedCidrs", "[1,2]");
    });

    it("rejects non-boolean and out-of-range values", () => {
        rejects({ forceDestroy: "yes" }, "private-registry:forceDestroy", '"yes"');
        rejects({ abortIncompleteUploadDays: "0" }, "private-registry:abortIncompleteUploadDays", '"0"');
        rejects({ s3ChunkSizeMb: "4" }, "private-registry:s3ChunkSizeMb", '"4"');
        rejects({ s3ChunkSizeMb: "10.5" }, "private-registry:s3ChunkSizeMb", '"10.5"');
        // Two parts of 16 MiB per upload would let fewer than one docker push's five uploads in at once.
        assert.match(rejects({ s3ChunkSizeMb: "16" }, "private-registry:s3ChunkSizeMb", '"16"').message, /from 5 to 15/);
        rejects({ healthCheckTimeoutSeconds: "5" }, "private-registry:healthCheckTimeoutSeconds", '"5"');
        assert.match(rejects({ uploadStartsPerUser: "0" }, "private-registry:uploadStartsPerUser", '"0"').message, /from 10 to 1000000/);
    });

    it("rejects unknown modes, listing what is allowed", () => {
        const e = rejects({ exposure: "private" }, "private-registry:exposure", '"private"');
        assert.match(e.problems[0], /"public", "tunnel"/);
        rejects({ tls: "self-signed" }, "private-registry:tls", '"self-signed"');
    });

    it("rejects droplet slugs that are not slugs", () => {
        rejects({ dropletRegion: "NYC3" }, "private-registry:dropletRegion", '"NYC3"');
        rejects({ dropletSize: "s 1vcpu" }, "private-registry:dropletSize");
        rejects({ dropletImage: "ubuntu:22.04" }, "private-registry:dropletImage");
    });

    it("rejects usernames that could break htpasswd", () => {
        rejects({ registryUsername: "ci:admin" }, "private-registry:registryUsername", '"ci:admin"');
        rejects({ registryUsername: "" + "-ci" }, "private-registry:registryUsername");
    });

    it("rejects registry versions that are not exact 3.x releases", () => {
        rejects({ registryVersion: "latest" }, "private-registry:registryVersion", '"latest"');
        rejects({ registryVersion: "v3.1.1" }, "private-registry:registryVersion");
        rejects({ registryVersion: "2.8.3" }, "private-registry:registryVersion", '"2.8.3"');
        rejects({ registryImageDigest: "sha256:abc" }, "private-registry:registryImageDigest");
    });

    it("rejects malformed domains and e-mail addresses", () => {
        rejects({ domain: "Registry.Example.com" }, "private-registry:domain");
        rejects({ domain: "registry" }, "private-registry:domain");
        rejects({ domain: "https://registry.example.com" }, "private-registry:domain");
        rejects({ domain: "registry.example.com", letsencryptEmail: "ops" }, "private-registry:letsencryptEmail", '"ops"');
    });

    it("rejects malformed SSH public keys", () => {
        rejects({ extraSshPublicKeys: '["ssh-dss AAAAB3NzaC1kc3MAAACBAP"]' }, "private-registry:extraSshPublicKeys");
        rejects({ extraSshPublicKeys: '["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOZ0b2tlbnRva2Vu\\ncommand=\\"x\\""]' }, "private-registry:extraSshPublicKeys");
    });
});

describe("conflicting settings", () => {
    it("exposure=tunnel and tls are mutually exclusive", () => {
        const e = rejects({ exposure: "tunnel", tls: "letsencrypt" }, "private-registry:tls");
        assert.match(e.problems[0], /mutually exclusive/);
    });

    it("exposure=tunnel and domain are mutually exclusive", () => {
        rejects({ exposure: "tunnel", domain: "registry.example.com" }, "private-registry:domain");
    });

    it("exposure=tunnel and httpsAllowedCidrs are mutually exclusive", () => {
        rejects({ exposure: "tunnel", httpsAllowedCidrs: '["203.0.113.0/24"]' }, "private-registry:httpsAllowedCidrs");
    });

    it("tls=private-ca and letsencryptEmail are mutually exclusive", () => {
        rejects({ tls: "private-ca", letsencryptEmail: "ops@example.com" }, "private-registry:letsencryptEmail");
    });

    it("dnsZone requires domain, and domain must sit in the zone", () => {
        rejects({ dnsZone: "example.com" }, "private-registry:dnsZone");
        rejects({ dnsZone: "example.com", domain: "registry.example.org" }, "private-registry:domain", '"registry.example.org"');
        assert.equal(load({ dnsZone: "example.com", domain: "registry.example.com" }).dnsZone, "example.com");
    });

    it("reports every problem at once", () => {
        let caught: unknown;
        try {
            load({ exposure: "nope", bucketName: "UPPER", forceDestroy: "1" });
        } catch (e) {
            caught = e;
        }
        assert.ok(caught instanceof SettingsError);
        assert.equal(caught.problems.length, 3, caught.message);
        assert.match(caught.message, /nothing was created/);
    });

    it("names the A record inside its zone", () => {
        assert.equal(dnsRecordName("example.com", "example.com"), "@");
        assert.equal(dnsRecordName("registry.team.example.com", "example.com"), "registry.team");
    });
});

describe("hostile values", () => {
    // Every free-text setting; each hostile value must be rejected by validation.
    const stringKeys = ["bucketName", "domain", "dnsZone", "letsencryptEmail", "dropletRegion", "dropletSize", "dropletImage", "registryUsername", "registryVersion", "registryImageDigest"];
    const hostile = ["a'b", 'a"b', "$(reboot)", "`id`", "a\nb", "../etc", "ré", "a b", "a;b", "\u202eabc"];
    for (const key of stringKeys) {
        for (const value of hostile) {
            it(`rejects ${key}=${JSON.stringify(value)}`, () => {
                const extra: Record<string, string> = key === "dnsZone" ? { domain: "registry.example.com" } : key === "letsencryptEmail" ? { domain: "registry.example.com" } : {};
                rejects({ ...extra, [key]: value }, `private-registry:${key}`);
            });
        }
    }
    for (const key of ["sshAllowedCidrs", "httpsAllowedCidrs", "extraSshPublicKeys"]) {
        for (const value of hostile) {
            it(`rejects ${key} containing ${JSON.stringify(value)}`, () => {
                rejects({ [key]: JSON.stringify([value]) }, `private-registry:${key}`);
            });
        }
    }

    it("shows non-ASCII input escaped, so the error itself is unambiguous", () => {
        const e = rejects({ registryUsername: "\u202eadmin" }, "private-registry:registryUsername");
        assert.ok(e.problems[0].includes("\\u202e"), e.problems[0]);
    });
});

describe("deployment notices", () => {
    it("warns about the shared sslip.io Let's Encrypt budget", () => {
        const notices = deploymentNotices(load({ tls: "letsencrypt" }));
        assert.ok(notices.some((n) => n.level === "warn" && /sslip\.io.*rate limit/.test(n.text)));
    });

    it("says that ZeroSSL backs Let's Encrypt up only with letsencryptEmail", () => {
        const fallback = (n: { text: string }) => /ZeroSSL/.test(n.text);
        assert.ok(deploymentNotices(load({ tls: "letsencrypt" })).some(fallback));
        assert.ok(!deploymentNotices(load({ tls: "letsencrypt", letsencryptEmail: "ops@example.com" })).some(fallback));
        assert.ok(!deploymentNotices(load({})).some(fallback), "the private CA asks no ACME issuer");
    });

    it("says when 443 admits IPv6 that its clients are banned per /64, and not by default", () => {
        const ipv6 = (n: { level: string; text: string }) => n.level === "info" && /IPv6 \(::\/0\).*banned per \/64, so every client in a guesser's \/64 is refused with it for 15 minutes/.test(n.text);
        assert.ok(deploymentNotices(load({ httpsAllowedCidrs: '["0.0.0.0/0","::/0"]' })).some(ipv6));
        assert.ok(deploymentNotices(load({ httpsAllowedCidrs: '["0.0.0.0/0","2001:db8::/48"]' })).some((n) => /IPv6 \(2001:db8::\/48\)/.test(n.text)));
        assert.deepEqual(load({}).httpsAllowedCidrs, ["0.0.0.0/0"]);
        assert.ok(!deploymentNotices(load({})).some((n) => /IPv6/.test(n.text)));
    });

    it("says how the registry is served and that destroy keeps a non-empty bucket", () => {
        const notices = deploymentNotices(load({}));
        assert.ok(notices.every((n) => n.level === "info"));
        assert.ok(notices.some((n) => /private CA/.test(n.text)));
        assert.ok(notices.some((n) => /forceDestroy is off/.test(n.text)));
        assert.ok(!deploymentNotices(load({ forceDestroy: "true", exposure: "tunnel" })).some((n) => /forceDestroy/.test(n.text)));
    });
});

describe("what a real cloud refuses, refused first", () => {
    const awsRegion = (region: string) => new Map([["region", region]]);

    it("Let's Encrypt with a narrowed HTTPS list: refused, saying why and what to do instead", () => {
        const e = rejects({ domain: "registry.example.com", httpsAllowedCidrs: '["198.51.100.0/24"]' }, "private-registry:httpsAllowedCidrs", "198.51.100.0/24");
        const problem = e.problems.find((p) => p.includes("httpsAllowedCidrs"))!;
        assert.match(problem, /must include "0.0.0.0\/0"/);
        assert.match(problem, /Let's Encrypt validates over port 443 from unpublished, changing addresses/);
        assert.match(problem, /tls"?="private-ca"/);
        rejects({ tls: "letsencrypt", httpsAllowedCidrs: '["::/0"]' }, "private-registry:httpsAllowedCidrs");
    });

    it("a narrowed HTTPS list stays allowed with the private CA, and an open one with Let's Encrypt", () => {
        assert.deepEqual(load({ httpsAllowedCidrs: '["198.51.100.0/24"]' }).httpsAllowedCidrs, ["198.51.100.0/24"]);
        assert.equal(load({ domain: "registry.example.com", tls: "private-ca", httpsAllowedCidrs: '["198.51.100.0/24"]' }).tls, "private-ca");
        assert.equal(load({ domain: "registry.example.com", httpsAllowedCidrs: '["0.0.0.0/0"]' }).tls, "letsencrypt");
    });

    it("reads the disk a size slug names, and refuses one under the Docker image's minimum", () => {
        assert.equal(DOCKER_IMAGE_MIN_DISK_GB, 25);
        assert.equal(diskGbInSizeSlug("s-1vcpu-512mb-10gb"), 10);
        assert.equal(diskGbInSizeSlug("s-2vcpu-4gb-120gb-intel"), 120);
        assert.equal(diskGbInSizeSlug("s-1vcpu-1gb"), undefined, "no disk in the slug: 25 GB and up");
        assert.equal(diskGbInSizeSlug("s-1vcpu-1gb-amd"), undefined);
        const e = rejects({ dropletSize: "s-1vcpu-512mb-10gb" }, "private-registry:dropletSize", '"s-1vcpu-512mb-10gb"');
        assert.match(e.problems[0], /at least 25 GB.*whose disk is 10 GB/);
        assert.equal(load({ dropletSize: "s-1vcpu-1gb-25gb-intel" }).dropletSize, "s-1vcpu-1gb-25gb-intel");
        assert.equal(load({ dropletSize: "s-2vcpu-2gb" }).dropletSize, "s-2vcpu-2gb");
    });

    it("derives the ARN partition from the region, and refuses the isolated partitions", () => {
        assert.equal(load({}).awsPartition, "aws");
        assert.equal(load({}, awsRegion("cn-northwest-1")).awsPartition, "aws-cn");
        assert.equal(load({}, awsRegion("us-gov-east-1")).awsPartition, "aws-us-gov");
        assert.equal(load({}, awsRegion("mx-central-1")).awsPartition, "aws", "a region newer than the driver's SDK is fine");
        for (const isolated of ["us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1"]) {
            assert.throws(() => load({}, awsRegion(isolated)), (e: unknown) => e instanceof SettingsError && /aws:region must be in the aws, aws-cn or aws-us-gov partition/.test(e.problems[0]) && e.problems[0].includes(isolated));
        }
    });
});

describe("the DNS notice", () => {
    it("tells a user who manages DNS by hand what the first up will ask of them, and nobody else", () => {
        const text = (values: Record<string, string>) => deploymentNotices(load(values)).map((n) => n.text).join("\n");
        assert.match(text({ domain: "registry.example.com" }), /registry.example.com must resolve to the droplet's reserved IP.*run pulumi up again once it resolves/);
        assert.doesNotMatch(text({ domain: "registry.example.com", dnsZone: "example.com" }), /must resolve/);
        assert.doesNotMatch(text({ domain: "registry.example.com", tls: "private-ca" }), /must resolve/);
    });
});

describe("operations settings", () => {
    it("gcSchedule: a weekly default in UTC, empty turns it off, and bad values are refused with examples", () => {
        assert.equal(load({}).gcSchedule, "Sun *-*-* 03:00:00");
        assert.equal(load({ gcSchedule: "" }).gcSchedule, undefined);
        assert.equal(load({ gcSchedule: "*-*-* 02:30" }).gcSchedule, "*-*-* 02:30");
        assert.equal(load({ gcSchedule: "Mon,Thu *-*-* 04:00" }).gcSchedule, "Mon,Thu *-*-* 04:00");
        for (const bad of ["every sunday", "Sun 03:00; rm -rf /", "*-*-* 25:00", "Sun *-*-* 03:00:00 Europe/Paris"]) {
            const e = rejects({ gcSchedule: bad }, "private-registry:gcSchedule", JSON.stringify(bad));
            assert.match(e.problems[0], /systemd calendar time in UTC such as "Sun \*-\*-\* 03:00:00"/);
        }
    });

    it("retention: numbers from 0 (off), Lua patterns with a hint for regex habits", () => {
        const s = load({ keepNewestTags: "10", keepTagsYoungerThanDays: "90", protectedTags: '["latest", "v%d+%.%d+%.%d+"]' });
        assert.deepEqual([s.keepNewestTags, s.keepTagsYoungerThanDays, s.protectedTags], [10, 90, ["latest", "v%d+%.%d+%.%d+"]]);
        assert.deepEqual([load({}).keepNewestTags, load({}).keepTagsYoungerThanDays, load({}).protectedTags], [0, 0, []], "default: keep every tag");
        rejects({ keepNewestTags: "-1" }, "private-registry:keepNewestTags", '"-1"');
        const e = rejects({ protectedTags: '["v\\\\d+"]' }, "private-registry:protectedTags", '"v\\\\d+"');
        assert.match(e.problems[0], /Lua patterns escape with %/);
        assert.match(rejects({ protectedTags: '["(latest|stable)"]' }, "private-registry:protectedTags").problems[0], /give each alternative as its own pattern/);
    });

    it("alertEmails: addresses, each once", () => {
        assert.deepEqual(load({ alertEmails: '["ops@example.com", "dev@example.com"]' }).alertEmails, ["ops@example.com", "dev@example.com"]);
        rejects({ alertEmails: '["ops"]' }, "private-registry:alertEmails", '"ops"');
        rejects({ alertEmails: '["ops@example.com", "ops@example.com"]' }, "private-registry:alertEmails", '"ops@example.com"');
    });
});

describe("users and roles", () => {
    const users = (list: unknown) => ({ users: JSON.stringify(list) });

    it("without users: a push user named registryUsername and a pull user deploy", () => {
        assert.deepEqual(load({}).users, [
            { name: "ci", role: "push" },
            { name: "deploy", role: "pull" },
        ]);
        assert.deepEqual(load({ registryUsername: "builder" }).users.map((u) => u.name), ["builder", "deploy"]);
        assert.deepEqual(load({ registryUsername: "deploy" }).users.map((u) => u.name), ["deploy", "deploy-pull"], "never two users of one name");
        assert.deepEqual(load({ users: "[]" }).users.map((u) => u.name), ["ci", "deploy"], "Pulumi.yaml's default, [], is no list");
    });

    it("takes a list as `pulumi config set --path` stores it, and names the first push user for CI", () => {
        const s = load(users([{ name: "k8s", role: "pull" }, { name: "builder", role: "push" }, { name: "team", role: "push", repositories: ["team-a/**"] }]));
        assert.deepEqual(s.users[2], { name: "team", role: "push", repositories: ["team-a/**"] });
        assert.equal(s.registryUsername, "builder");
    });

    it("refuses a bad role, name, field or pattern, naming the item", () => {
        rejects(users([{ name: "ci", role: "admin" }]), "users[0].role", '"admin"');
        rejects(users([{ name: "ci", role: "push" }, { name: "c:i", role: "pull" }]), "users[1].name", "c:i");
        rejects(users([{ name: "ci", role: "push", password: "x" }]), "users[0]", "password");
        rejects(users([{ name: "ci", role: "push", repositories: [] }]), "users[0].repositories");
        rejects(users([{ name: "ci", role: "push", repositories: ["Team/*"] }]), "users[0].repositories", "Team/*");
        rejects(users([{ name: "ci", role: "push", repositories: ["team//x"] }]), "users[0].repositories", "team//x");
        rejects(users(["ci"]), "users[0]", '"ci"');
        rejects({ users: "ci:push" }, "users", "ci:push");
    });

    it("refuses a list without a push user, and a name given twice", () => {
        const e = rejects(users([{ name: "k8s", role: "pull" }]), "users", undefined);
        assert.match(e.problems.join("\n"), /at least one user with role "push"/);
        rejects(users([{ name: "ci", role: "push" }, { name: "ci", role: "pull" }]), "users", '"ci"');
    });

    it("users and registryUsername are mutually exclusive", () => {
        rejects({ ...users([{ name: "ci", role: "push" }]), registryUsername: "builder" }, "registryUsername");
        assert.doesNotThrow(() => load({ ...users([{ name: "builder", role: "push" }]), registryUsername: DEFAULTS.registryUsername }), "Pulumi.yaml's default arrives as if set");
    });

    it("credentialRotation is a whole number from 0", () => {
        assert.equal(load({}).credentialRotation, 0);
        assert.equal(load({ credentialRotation: "2" }).credentialRotation, 2);
        rejects({ credentialRotation: "-1" }, "credentialRotation", "-1");
        rejects({ credentialRotation: "next" }, "credentialRotation", "next");
    });
});

describe("acmeServer and acmeServerCa", () => {
    const LE = { domain: "registry.example.com" };
    const STEP_CA = "https://ca.internal:9000/acme/acme/directory";

    /** The one problem naming `key`, from values that must be refused. */
    function problemOf(values: Record<string, string>, key: string): string {
        try {
            load(values);
        } catch (e) {
            assert.ok(e instanceof SettingsError, String(e));
            const found = e.problems.filter((p) => p.startsWith(`private-registry:${key} `));
            assert.equal(found.length, 1, `problems naming ${key}: ${e.problems.join(" | ")}`);
            return found[0];
        }
        assert.fail(`expected ${JSON.stringify(values)} to be refused`);
    }

    it("unset by default: Let's Encrypt, as Caddy's default", () => {
        const s = load(LE);
        assert.equal(s.acmeServer, undefined);
        assert.equal(s.acmeServerCa, undefined);
    });

    it("takes an https directory URL with tls=letsencrypt, or auto with a domain", () => {
        assert.equal(load({ ...LE, acmeServer: STEP_CA }).acmeServer, STEP_CA);
        assert.equal(load({ tls: "letsencrypt", acmeServer: "https://localhost:14000/dir" }).acmeServer, "https://localhost:14000/dir");
        assert.equal(load({ ...LE, acmeServer: "https://acme.zerossl.com/v2/DV90", letsencryptEmail: "ops@example.com" }).acmeServer, "https://acme.zerossl.com/v2/DV90");
    });

    it("refuses what is not an https URL, naming the setting, what is allowed and what was given", () => {
        assert.equal(
            problemOf({ ...LE, acmeServer: "http://ca.internal/acme/directory" }, "acmeServer"),
            'private-registry:acmeServer must be the https URL of an ACME directory, such as https://acme.zerossl.com/v2/DV90 or https://ca.internal:9000/acme/acme/directory; got "http://ca.internal/acme/directory", which is http, not https',
        );
        assert.match(problemOf({ ...LE, acmeServer: "acme.example.com/directory" }, "acmeServer"), /got "acme\.example\.com\/directory", which is not a URL$/);
        assert.match(problemOf({ ...LE, acmeServer: "https://user:pw@ca.internal/dir" }, "acmeServer"), /which carries a user name or password$/);
        // Caddyfile tokens and Caddy placeholders: nothing that could change the front's config.
        for (const hostile of ["https://ca.internal/{env.HOME}", 'https://ca.internal/"x', "https://ca.internal/a b", "https://ca.internal/`id`", "https://ca.internal/x#frag", "https://ca.internal/\n}"]) {
            assert.match(problemOf({ ...LE, acmeServer: hostile }, "acmeServer"), /must be the https URL of an ACME directory/, hostile);
        }
    });

    it("applies only with an ACME certificate: the private CA and the tunnel refuse it", () => {
        assert.equal(
            problemOf({ tls: "private-ca", acmeServer: STEP_CA }, "acmeServer"),
            'private-registry:acmeServer applies only with private-registry:tls="letsencrypt" (or "auto" with a private-registry:domain); got private-registry:tls="private-ca"',
        );
        assert.match(problemOf({ acmeServer: STEP_CA }, "acmeServer"), /got private-registry:tls="auto" without private-registry:domain, which is the private CA$/);
        assert.match(problemOf({ exposure: "tunnel", acmeServer: STEP_CA }, "acmeServer"), /got private-registry:exposure="tunnel", which uses no certificate$/);
        assert.match(problemOf({ tls: "private-ca", acmeServer: STEP_CA, acmeServerCa: TEST_ACME_CA }, "acmeServerCa"), /applies only with private-registry:tls="letsencrypt"/);
    });

    it("ZeroSSL's directory needs the account e-mail, from which the front gets its External Account Binding", () => {
        assert.equal(
            problemOf({ ...LE, acmeServer: "https://acme.zerossl.com/v2/DV90" }, "letsencryptEmail"),
            "private-registry:letsencryptEmail must be set when private-registry:acmeServer is ZeroSSL's directory: the front obtains ZeroSSL's External Account Binding with that address; got none",
        );
    });

    it("acmeServerCa: only with acmeServer", () => {
        assert.match(problemOf({ ...LE, acmeServerCa: TEST_ACME_CA }, "acmeServerCa"), /^private-registry:acmeServerCa requires private-registry:acmeServer: .*; got private-registry:acmeServerCa alone$/);
    });

    it("acmeServerCa: PEM certificates only, each one node:crypto reads as X.509; a pasted key is named, never shown", () => {
        const with_ = (acmeServerCa: string) => problemOf({ ...LE, acmeServer: STEP_CA, acmeServerCa }, "acmeServerCa");
        const allowed = "private-registry:acmeServerCa must be one or more PEM certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), such as a step-ca's root; got ";
        assert.equal(with_("MIIBmjCCAT+gAwIBAgIU"), `${allowed}text with no PEM block, starting "MIIBmjCCAT+gAwIBAgIU"`);
        assert.equal(with_("-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n").startsWith(`${allowed}a CERTIFICATE block that is not an X.509 certificate (`), true);
        const key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n";
        const keyProblem = with_(`${TEST_ACME_CA}${key}`);
        assert.equal(keyProblem, `${allowed}a PEM block of type "PRIVATE KEY", a private key, which must never be given here`);
        assert.ok(!keyProblem.includes("c2VjcmV0"), "the key's content is not echoed");
        assert.match(with_(`${TEST_ACME_CA}trailing words`), /got text outside its PEM blocks, starting "trailing words"$/);
    });

    it("acmeServerCa: a real certificate, or two, is taken", () => {
        const values = { ...LE, acmeServer: STEP_CA, acmeServerCa: `${TEST_ACME_CA}\n${TEST_ACME_CA}` };
        assert.equal(load(values).acmeServerCa, values.acmeServerCa);
    });

    it("notices: no ZeroSSL fallback is promised, and the one server is named", () => {
        const notices = deploymentNotices(load({ ...LE, acmeServer: STEP_CA, letsencryptEmail: "ops@example.com" }));
        assert.ok(notices.some((n) => n.text.includes(`The front asks ${STEP_CA} alone`)));
        assert.ok(!deploymentNotices(load({ ...LE, acmeServer: STEP_CA })).some((n) => /falls back to ZeroSSL/.test(n.text)));
        assert.ok(notices.some((n) => n.text.includes(`a certificate from the ACME server ${STEP_CA}`)));
    });
});

describe("replicas", () => {
    const several = { replicas: "3", tls: "private-ca" };

    it("defaults to one droplet, and takes 2 to 10 with the private CA", () => {
        assert.equal(load({}).replicas, 1);
        assert.equal(load(several).replicas, 3);
        assert.equal(load({ ...several, replicas: "10" }).replicas, 10);
    });

    it("refuses a count outside 1-10, naming the range", () => {
        assert.match(rejects({ ...several, replicas: "0" }, "private-registry:replicas", '"0"').message, /from 1 to 10/);
        rejects({ ...several, replicas: "11" }, "private-registry:replicas", '"11"');
    });

    it("refuses the tunnel, which one droplet's SSH serves", () => {
        const error = rejects({ replicas: "2", exposure: "tunnel", gcSchedule: "" }, "private-registry:exposure");
        assert.match(error.message, /replicas above 1 and private-registry:exposure="tunnel" are mutually exclusive/);
    });

    it("refuses Let's Encrypt, whose validation the balancer sends to any replica, whether chosen or implied by a domain", () => {
        for (const tls of [{ tls: "letsencrypt", domain: "registry.example.com" }, { domain: "registry.example.com" }] as Record<string, string>[]) {
            const error = rejects({ replicas: "2", gcSchedule: "", ...tls }, "private-registry:tls");
            assert.match(error.message, /requires private-registry:tls="private-ca".*got private-registry:replicas=2/);
        }
    });

    it("keeps the weekly collection, which the first replica runs for all", () => {
        assert.equal(load(several).gcSchedule, DEFAULTS.gcSchedule);
        assert.equal(load({ ...several, gcSchedule: "*-*-* 02:30" }).gcSchedule, "*-*-* 02:30");
        assert.equal(load({ ...several, gcSchedule: "" }).gcSchedule, undefined);
    });

    it("lets one replica keep every combination it had", () => {
        assert.equal(load({ replicas: "1", exposure: "tunnel" }).replicas, 1);
        assert.equal(load({ replicas: "1", domain: "registry.example.com" }).gcSchedule, DEFAULTS.gcSchedule);
    });
});
