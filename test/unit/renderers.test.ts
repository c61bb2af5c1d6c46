import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import * as bcrypt from "bcryptjs";
import { argon2idVerifies } from "../support/argon2";
import { parse } from "yaml";
import { renderCloudInit } from "../../components/render/cloudInit";
import { decodeBundleFiles } from "../support/bundle";
import { shellcheck } from "../support/shell";
import { renderDeployment, DeploymentInput } from "../../components/render/deployment";
import { BCRYPT_SALT_ALPHABET, renderHtpasswd } from "../../components/render/htpasswd";
import { renderRegistryConfig, RegistryConfigInput } from "../../components/render/registryConfig";
import { renderStartScript, renderStdinBundle, renderStopScript, renderWaitForHostScript, StartScriptInput } from "../../components/render/scripts";

const SALT = "abcdefghijklmnopqrstuv";

const baseConfig: RegistryConfigInput = {
    storage: { kind: "s3", region: "eu-west-1", bucket: "team-registry", accessKey: "AKIAEXAMPLE", secretKey: "s3cr3t/Key+", chunkSizeBytes: 10 * 1024 * 1024 },
    redirect: true,
    http: { addr: ":5000", secret: "http-secret", tls: { kind: "letsencrypt", hosts: ["registry.example.com"], email: "ops@example.com", cacheFile: "/var/lib/registry-acme/autocert.cache" }, debugAddr: ":5001" },
    auth: { realm: "private-registry", htpasswdPath: "/etc/distribution/htpasswd" },
};

describe("config.yml", () => {
    it("parses back to the S3 driver settings, with the only object ACL an owner-enforced bucket accepts", () => {
        const config = parse(renderRegistryConfig(baseConfig));
        assert.equal(config.version, 0.1);
        assert.deepEqual(config.storage.s3, {
            region: "eu-west-1",
            bucket: "team-registry",
            accesskey: "AKIAEXAMPLE",
            secretkey: "s3cr3t/Key+",
            encrypt: true,
            secure: true,
            chunksize: 10485760,
            objectacl: "bucket-owner-full-control",
        });
        assert.equal(config.storage.redirect.disable, false);
        assert.deepEqual(config.storage.maintenance.uploadpurging, { enabled: true, age: "12h", interval: "1h", dryrun: false });
        assert.equal(config.auth.htpasswd.path, "/etc/distribution/htpasswd");
        assert.equal(config.health.storagedriver.enabled, true);
    });

    it("serves Let's Encrypt for the configured host only, TLS 1.2 at least", () => {
        const config = parse(renderRegistryConfig(baseConfig));
        assert.deepEqual(config.http.tls.letsencrypt.hosts, ["registry.example.com"]);
        assert.equal(config.http.tls.letsencrypt.email, "ops@example.com");
        assert.equal(config.http.tls.minimumtls, "tls1.2");
        assert.equal(config.http.tls.certificate, undefined);
        assert.deepEqual(config.http.headers["Strict-Transport-Security"], ["max-age=31536000"]);
    });

    it("takes the rehearsal's swaps: endpoint, path style, file certificate", () => {
        const config = parse(
            renderRegistryConfig({
                ...baseConfig,
                storage: { ...baseConfig.storage, kind: "s3", regionEndpoint: "http://127.0.0.1:9000", forcePathStyle: true } as RegistryConfigInput["storage"],
                http: { ...baseConfig.http, tls: { kind: "files", certificate: "/c.pem", key: "/k.pem" } },
                redirect: false,
            }),
        );
        assert.equal(config.storage.s3.regionendpoint, "http://127.0.0.1:9000");
        assert.equal(config.storage.s3.forcepathstyle, true);
        assert.deepEqual({ c: config.http.tls.certificate, k: config.http.tls.key }, { c: "/c.pem", k: "/k.pem" });
        assert.equal(config.storage.redirect.disable, true);
    });

    it("has no TLS section and no HSTS for the tunnel's loopback HTTP", () => {
        const config = parse(renderRegistryConfig({ ...baseConfig, http: { ...baseConfig.http, tls: { kind: "none" } } }));
        assert.equal(config.http.tls, undefined);
        assert.equal(config.http.headers["Strict-Transport-Security"], undefined);
    });

    it("keeps hostile strings as inert YAML scalars", () => {
        const nasty = "a: b\n- c\"'`$(x)";
        const config = parse(renderRegistryConfig({ ...baseConfig, http: { ...baseConfig.http, secret: nasty } }));
        assert.equal(config.http.secret, nasty);
    });
});

describe("htpasswd", () => {
    it("holds one bcrypt line that verifies the password and nothing else", () => {
        const line = renderHtpasswd({ username: "ci", password: "correct horse", salt: SALT });
        assert.match(line, /^ci:\$2y\$05\$[./A-Za-z0-9]{53}\n$/);
        const hash = line.trim().split(":")[1];
        assert.equal(bcrypt.compareSync("correct horse", hash), true);
        assert.equal(bcrypt.compareSync("wrong horse", hash), false);
    });

    it("is deterministic for a given salt, so unchanged logins do not restart the registry", () => {
        const a = renderHtpasswd({ username: "ci", password: "pw", salt: SALT });
        assert.equal(renderHtpasswd({ username: "ci", password: "pw", salt: SALT }), a);
        assert.notEqual(renderHtpasswd({ username: "ci", password: "pw", salt: "bbcdefghijklmnopqrstuv" }), a);
    });

    it("rejects names that would split or add entries, and bad salts", () => {
        assert.throws(() => renderHtpasswd({ username: "ci:x", password: "pw", salt: SALT }), /username/);
        assert.throws(() => renderHtpasswd({ username: "ci\nroot", password: "pw", salt: SALT }), /username/);
        assert.throws(() => renderHtpasswd({ username: "ci", password: "", salt: SALT }), /password/);
        assert.throws(() => renderHtpasswd({ username: "ci", password: "pw", salt: "short" }), /salt/);
        assert.throws(() => renderHtpasswd({ username: "ci", password: "pw", salt: "!".repeat(22) }), /salt/);
        assert.equal(BCRYPT_SALT_ALPHABET.length, 64);
    });
});

const startInput: StartScriptInput = {
    containerName: "registry",
    image: "docker.io/library/registry:3.1.1",
    configDir: "/etc/private-registry",
    dataDir: "/var/lib/private-registry",
    health: { url: "https://203.0.113.7/v2/", connectTo: "127.0.0.1:443", useBundledCa: true, timeoutSeconds: 120 },
    front: { containerName: "registry-front", image: "docker.io/library/caddy:2.11.9-alpine", logDir: "/var/log/private-registry", configMount: "/etc/caddy", keyPairFromBundle: true },
};
const stopInput = { containerName: "registry", frontContainerName: "registry-front", configDir: "/etc/private-registry", unitDir: "/etc/systemd/system" };

describe("host scripts", () => {
    const scripts: Record<string, string> = {
        "wait-for-host": renderWaitForHostScript(600),
        "start (private CA)": renderStartScript(startInput),
        "start (tunnel)": renderStartScript({ ...startInput, health: { url: "http://127.0.0.1:5000/v2/", useBundledCa: false, timeoutSeconds: 60 }, front: { ...startInput.front, keyPairFromBundle: false } }),
        stop: renderStopScript(stopInput),
    };
    for (const [name, script] of Object.entries(scripts)) {
        it(`${name} passes shellcheck`, () => {
            const { status, output } = shellcheck(script);
            assert.equal(status, 0, output);
        });
    }

    it("shellcheck is really checking (a known-bad script fails)", () => {
        assert.notEqual(shellcheck("#!/bin/sh\necho $undefined_var\ncd $1\n").status, 0);
    });

    it("hostile values arrive as single inert words", () => {
        const hostile = `x'; touch /tmp/pwned; echo '$(id)\`id\`\nnewline ../ ünï`;
        const script = renderStartScript({ ...startInput, containerName: hostile, image: hostile, configDir: hostile });
        // shellcheck's only remark is that nothing expands inside the quotes, which is the point.
        const remarks = shellcheck(script).output.match(/SC[0-9]+/g) ?? [];
        assert.deepEqual([...new Set(remarks)], ["SC2016"]);
        // Run the script's own variable assignments and read the values back from the shell.
        const assignments = script.slice(0, script.indexOf("umask"));
        const readBack = execFileSync("sh", ["-c", `${assignments}\nprintf '%s|%s|%s' "$name" "$image" "$config_dir"`], { encoding: "utf8" });
        assert.equal(readBack, `${hostile}|${hostile}|${hostile}`);
    });

    it("the start script carries no secret: they travel on stdin", () => {
        const deployment = renderDeployment(deploymentInput);
        for (const secret of [deploymentInput.secretAccessKey, ...deploymentInput.users.map((u) => u.password), deploymentInput.httpSecret, "PRIVATE KEY"]) {
            assert.ok(!deployment.startScript.includes(secret), `start script contains ${secret}`);
            assert.ok(!deployment.stopScript.includes(secret), `stop script contains ${secret}`);
        }
        assert.ok(deployment.stdin.includes(Buffer.from(deployment.configYaml).toString("base64")));
    });

    it("refuses to start without a bcrypt htpasswd entry", () => {
        const script = renderStartScript(startInput);
        assert.match(script, /grep -Eq '\^\[\^:\]\+:\[\$\]2\[aby\]\[\$\]' "\$staging\/htpasswd"/);
        assert.match(script, /refusing to start a registry without authentication/);
    });

    it("proves the storage works, not just that the registry answers", () => {
        const script = renderStartScript(startInput);
        assert.match(script, /-K "\$curlrc" "\$\{health_url\}_catalog\?n=1"/);
        assert.match(script, /storage listing: HTTP \$storage, want 200/);
        assert.match(script, /docker logs --tail 40 "\$name"/);
    });

    it("the stop script tolerates an already-removed container", () => {
        assert.match(renderStopScript(stopInput), /docker rm -f -v "\$name" >\/dev\/null 2>&1 \|\| true/);
    });
});

const deploymentInput: DeploymentInput = {
    image: "docker.io/library/registry:3.1.1",
    bucket: "team-registry",
    region: "us-east-1",
    accessKeyId: "AKIAEXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    chunkSizeMb: 10,
    redirect: true,
    users: [
        { name: "ci", role: "push", password: "Zq8rT2pLw9XnV4bK7mC1sD6fG3hJ5kQa", salt: SALT },
        { name: "deploy", role: "pull", password: "Pm4nB7vC2xZ9lK3jH6gF1dS8aQ5wE0rT", salt: SALT },
    ],
    httpSecret: "h77p5ecr37h77p5ecr37h77p5ecr37h77p5ecr37",
    upstreamLogin: { password: "Fr0nt5ecr37Fr0nt5ecr37Fr0nt5ecr3", salt: SALT },
    tls: { kind: "private-ca", hostname: "203.0.113.7", certificate: "CERT", privateKey: "-----BEGIN PRIVATE KEY-----x", caCertificate: "CA" },
    healthTimeoutSeconds: 300,
};

describe("stdin bundle", () => {
    it("decodes back to every file and the health-check login", () => {
        const files = { "config.yml": "c: 1\n", htpasswd: "ci:$2y$08$x\n", "front/Caddyfile": ":443 {\n}\n", "ca.crt": "CA" };
        const stdin = renderStdinBundle({ files, healthCheckUser: { username: "ci", password: 'p"w\\' } });
        const lines = stdin.trimEnd().split("\n");
        assert.equal(lines.at(-1), "end");
        const decoded = decodeBundleFiles(stdin);
        assert.deepEqual(decoded, files);
        const login = Buffer.from(lines.find((l) => l.startsWith("login "))!.split(" ")[1], "base64").toString();
        assert.equal(login, 'user = "ci:p\\"w\\\\"\n');
    });

    it("refuses a bundle without config.yml, htpasswd or the Caddyfile", () => {
        const login = { username: "ci", password: "p" };
        assert.throws(() => renderStdinBundle({ files: { "config.yml": "x", "front/Caddyfile": "y" }, healthCheckUser: login }), /config.yml, htpasswd and front\/Caddyfile/);
        assert.throws(() => renderStdinBundle({ files: { "config.yml": "x", htpasswd: "z" }, healthCheckUser: login }), /front\/Caddyfile/);
    });
});

describe("deployment plan", () => {
    it("hands the private CA's key pair to the front and checks health against the bundled CA", () => {
        const d = renderDeployment(deploymentInput);
        assert.equal(parse(d.configYaml).http.tls, undefined, "the registry behind the front speaks plain HTTP on loopback");
        assert.match(d.caddyfile, /^\ttls \/etc\/caddy\/tls\.crt \/etc\/caddy\/tls\.key$/m);
        assert.match(d.startScript, /--cacert "\$config_dir\/ca.crt"/);
        assert.match(d.startScript, /health_url='https:\/\/203.0.113.7\/v2\/'/);
        assert.ok(d.stdin.includes(`file front/tls.key ${Buffer.from("-----BEGIN PRIVATE KEY-----x").toString("base64")}`));
    });

    it("reads a balancer's PROXY header only when asked, allowing its network and loopback alone", () => {
        const direct = renderDeployment(deploymentInput);
        assert.doesNotMatch(direct.caddyfile, /proxy_protocol/, "a droplet clients reach directly takes no header from anyone");
        const balanced = renderDeployment({ ...deploymentInput, proxyProtocol: { from: ["10.116.0.0/20"] } });
        assert.match(balanced.caddyfile, /^\t\t\t\tallow 10\.116\.0\.0\/20 127\.0\.0\.1\/32 ::1\/128$/m);
        assert.equal(balanced.startScript, direct.startScript, "the front's Caddyfile is all that changes");
    });

    it("binds the tunnel's front to loopback only, without TLS", () => {
        const d = renderDeployment({ ...deploymentInput, tls: { kind: "none" } });
        assert.match(d.caddyfile, /^http:\/\/:5000 \{\n\tbind 127\.0\.0\.1$/m);
        assert.doesNotMatch(d.caddyfile, /:443/);
        assert.equal(parse(d.configYaml).http.tls, undefined);
    });

    it("lets the front obtain the public name's certificate, unless DNS is still pending", () => {
        const d = renderDeployment({ ...deploymentInput, tls: { kind: "letsencrypt", hostname: "registry.example.com", email: "ops@example.com" } });
        assert.match(d.caddyfile, /^https:\/\/registry\.example\.com:443 \{$/m);
        assert.match(d.caddyfile, /^\temail ops@example\.com$/m);
        assert.doesNotMatch(d.caddyfile, /tls internal/);
        assert.match(d.startScript, /--connect-to '::127.0.0.1:443'/);
        assert.doesNotMatch(d.startScript, /--cacert/);
        const pending = renderDeployment({ ...deploymentInput, tls: { kind: "letsencrypt", hostname: "registry.example.com", awaitingDnsFor: "203.0.113.7" } });
        assert.match(pending.caddyfile, /^\ttls internal$/m, "no ACME validation while the name points elsewhere");
    });

    it("proxies each request on a new loopback connection, which a draining registry refuses and the front retries", () => {
        const d = renderDeployment(deploymentInput);
        const proxies = d.caddyfile.split("reverse_proxy ").slice(1);
        // The push user's counted upload starts go to the front's own inner site (uploadStarts.ts), which passes them on.
        const registryProxies = proxies.filter((block) => !block.startsWith("@upload_start_counted_for_"));
        assert.equal(proxies.length - registryProxies.length, 1, "one push user, one count of upload starts");
        assert.equal(registryProxies.length, 6, "the uptime check's /, the inner site's upload starts, uploads, manifest PUTs, other manifest requests and the rest of the logged-in API");
        for (const block of registryProxies) {
            // The manifests' and the uploads' proxies name the registry as an IPv4-mapped address, each written its own way (front.ts manifestUpstream, uploadUpstream).
            assert.match(block, /^(?:@manifest(?:_put)? \[::ffff:127\.0\.0\.1\]|(?:@upload )?\[::ffff:7f00:1\]|127\.0\.0\.1):5002 \{[^]*?\n\t+transport http \{\n\t+keepalive off\n/);
            assert.match(block, /\n\t+lb_try_duration (?:60|15)s\n/);
            assert.match(block, /\n\t+lb_retry_match \{\n\t+method GET HEAD\n\t+\}\n/, "HEAD is retried after a reset too");
        }
    });

    it("checks each user's password in the front alone, and the pull user gets its refusal", () => {
        const d = renderDeployment(deploymentInput);
        for (const user of deploymentInput.users) {
            const hash = new RegExp(`^\\t+${user.name} (\\S+)$`, "m").exec(d.caddyfile)?.[1];
            assert.ok(hash !== undefined && argon2idVerifies(user.password, hash), `${user.name}'s hash in the Caddyfile`);
            assert.ok(!argon2idVerifies(`${user.password}x`, hash), `${user.name}'s hash takes another password`);
            assert.ok(!d.htpasswd.includes(`${user.name}:`), `${user.name} is not in the registry's htpasswd`);
        }
        assert.match(d.caddyfile, /expression `\{http\.auth\.user\.id\} == "deploy"`\n\t+not method GET HEAD/);
        assert.doesNotMatch(d.caddyfile, /@(?:write_by|outside_repositories_of)_0 /, "the push user has no refusal");
    });

    it("gives the registry the front's login alone, which the front sends on every request it passes on", () => {
        const d = renderDeployment(deploymentInput);
        const [name, hash, ...rest] = d.htpasswd.trim().split(/[:\n]/);
        assert.deepEqual(rest, [], "one line");
        assert.equal(name, "front");
        assert.ok(bcrypt.compareSync(deploymentInput.upstreamLogin.password, hash));
        const proxies = d.caddyfile.split("reverse_proxy ").slice(1);
        assert.equal(proxies.length, 7, "the registry's six and the push user's count of upload starts");
        const expected = `Basic ${Buffer.from(`front:${deploymentInput.upstreamLogin.password}`).toString("base64")}`;
        for (const block of proxies) {
            assert.equal(/\n\t+header_up Authorization "([^"]+)"\n/.exec(block.slice(0, block.indexOf("\n\t}\n")))?.[1], expected);
        }
    });

    it("changes only the Caddyfile when the users' passwords change, so the registry and the front never disagree", () => {
        const before = renderDeployment(deploymentInput);
        const rotated = renderDeployment({ ...deploymentInput, users: deploymentInput.users.map((u) => ({ ...u, password: `${u.password.slice(1)}X` })) });
        assert.equal(rotated.htpasswd, before.htpasswd);
        assert.equal(rotated.configYaml, before.configYaml);
        assert.notEqual(rotated.caddyfile, before.caddyfile);
    });

    it("changes its content hash when anything the container reads changes, and only then", () => {
        const a = renderDeployment(deploymentInput).contentHash;
        assert.equal(renderDeployment(deploymentInput).contentHash, a);
        assert.notEqual(renderDeployment({ ...deploymentInput, chunkSizeMb: 32 }).contentHash, a);
        assert.notEqual(renderDeployment({ ...deploymentInput, image: "docker.io/library/registry:3.1.0" }).contentHash, a);
        const otherPassword = deploymentInput.users.map((u, i) => (i === 1 ? { ...u, password: "other" } : u));
        assert.notEqual(renderDeployment({ ...deploymentInput, users: otherPassword }).contentHash, a, "a pull user's new password");
        assert.ok(!a.includes(deploymentInput.users[0].password));
    });
});

describe("cloud-init", () => {
    it("installs the pinned host key only, and no operator keys (those change without replacing the droplet)", () => {
        const text = renderCloudInit({
            hostKey: { privateOpenssh: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n", publicOpenssh: "ssh-ed25519 AAAAhost\n" },
        });
        assert.ok(text.startsWith("#cloud-config\n"));
        const config = parse(text);
        assert.equal(config.ssh_deletekeys, true);
        assert.deepEqual(config.ssh_genkeytypes, []);
        assert.equal(config.ssh_keys.ed25519_public, "ssh-ed25519 AAAAhost");
        assert.match(config.ssh_keys.ed25519_private, /BEGIN OPENSSH PRIVATE KEY/);
        assert.equal(config.ssh_authorized_keys, undefined);
    });
});

describe("container environment", () => {
    it("runs the registry with tracing off and a soft memory limit", () => {
        const script = renderStartScript(startInput);
        assert.match(script, /-e 'OTEL_TRACES_EXPORTER=none' -e 'GOMEMLIMIT=150MiB'/);
    });
});
