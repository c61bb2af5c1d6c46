import * as fs from "node:fs";
import * as path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { s3RegionalEndpoint } from "../../components/render/awsRegion";
import type { ProcessTracker, TrackedProcess } from "./processes";
import { parseAccessLog, type S3Operation } from "./s3";
import { generateTestCertificates, type TestCertificates } from "./tls";
import { cachedBinary, systemBinary } from "./tools";
import { twinCacheDir } from "./twin";
import type { TwinNetwork } from "./twinNetwork";
import { waitUntil } from "./wait";

/**
 * What the droplet reaches on the internet, inside the twin's network: S3 under AWS's own
 * regional name, and a package archive for the deploy's apt steps.
 */

export interface TwinS3 {
    /** The regional endpoint the program renders (`https://s3.REGION.amazonaws.com`). */
    endpoint: string;
    hostname: string;
    region: string;
    bucket: string;
    /** The root key: it created the bucket and owns it. The registry gets a key of its own, from createAccessKey. */
    accessKey: string;
    secretKey: string;
    /** The CA that signed the endpoint's certificate; the twin's registry image trusts it. */
    certs: TestCertificates;
    /** The /etc/hosts names the twin needs: the endpoint, and the bucket's virtual host. */
    hostNames: string[];
    /** The S3 access log (AWS's server-access-log layout): each request's requester is the access key ID it was signed with. */
    accessLog: string;
    process: TrackedProcess;
    /**
     * A new key with its own account, as `aws.iam.AccessKey` gives the IAM user one. The account's
     * role is admin: versitygw lets root and admin past bucket policies and ACLs
     * (auth/access-control.go authorizationApplies), so it reads and writes the root-owned
     * bucket as the IAM user's policy lets its keys on AWS.
     */
    createAccessKey(): Promise<{ id: string; secret: string }>;
    /** Deletes the key's account: a request signed with it is refused from the next one on. */
    deleteAccessKey(id: string): Promise<void>;
    /** Every request in the access log so far, oldest first. */
    operations(): S3Operation[];
}

/** Where the admin API listens, inside the S3 namespace only: the twin reaches S3, never its admin API. */
const ADMIN_ADDRESS = "127.0.0.1:7070";

/**
 * versitygw in the `role` namespace on 443, with TLS for the regional endpoint's name and
 * virtual-host buckets under it (the program sets no forcepathstyle, so the registry's driver
 * addresses BUCKET.s3.REGION.amazonaws.com), and one bucket.
 */
export async function startTwinS3(tracker: ProcessTracker, net: TwinNetwork, role: string, options: { dir: string; region: string; bucket: string }): Promise<TwinS3> {
    const endpoint = s3RegionalEndpoint(options.region);
    const hostname = new URL(endpoint).hostname;
    const address = net.hosts[role].address;
    fs.mkdirSync(path.join(options.dir, "data"), { recursive: true });
    const certs = await generateTestCertificates(tracker, path.join(options.dir, "tls"), { hosts: [hostname, `*.${hostname}`], days: 30 });
    const accessKey = `AKIA${randomBytes(8).toString("hex").toUpperCase()}`;
    const secretKey = randomBytes(30).toString("base64url");
    const accessLog = path.join(options.dir, "access.log");
    const iamDir = path.join(options.dir, "iam");
    fs.mkdirSync(iamDir, { recursive: true });
    const inside = net.inside(role, cachedBinary("versitygw"), [
        "--port", `${address}:443`,
        "--cert", certs.certFile,
        "--key", certs.keyFile,
        "--virtual-domain", hostname,
        "--region", options.region,
        "--access-log", accessLog,
        "--health", "/health",
        // Accounts besides root live in the internal IAM, which the admin API changes. Without its
        // cache a deleted key is refused at once, not up to 120 s later, as AWS refuses it.
        "--iam-dir", iamDir,
        "--iam-cache-disable",
        "--admin-port", ADMIN_ADDRESS,
        "--quiet",
        "posix", path.join(options.dir, "data"),
    ]);
    // Credentials in the environment, not argv.
    const proc = tracker.start("versitygw (twin S3)", inside.command, inside.args, {
        logFile: path.join(options.dir, "versitygw.log"),
        env: { ...process.env, ROOT_ACCESS_KEY_ID: accessKey, ROOT_SECRET_ACCESS_KEY: secretKey },
    });
    const secrets = [secretKey];
    /**
     * curl in the S3 namespace, signing as root with SigV4. The login and any body go in curl's
     * config on stdin, so no secret is in argv. curl 7.88 sends no x-amz-content-sha256, which
     * versitygw requires, and its admin API refuses UNSIGNED-PAYLOAD: the header carries the
     * body's hash.
     */
    const signed = (method: string, url: string, body = "") => {
        const config = [
            `user = "${accessKey}:${secretKey}"`,
            `header = "x-amz-content-sha256: ${createHash("sha256").update(body).digest("hex")}"`,
            ...(body === "" ? [] : [`data = "${body}"`]),
            "",
        ].join("\n");
        const c = net.inside(role, systemBinary("curl"), ["-sS", "-K", "-", "--cacert", certs.caCertFile, "--resolve", `${hostname}:443:${address}`, "-w", "\n%{http_code}", "-X", method, "--aws-sigv4", `aws:amz:${options.region}:s3`, url]);
        return tracker.run(c.command, c.args, { input: config, timeoutMs: 15_000, secrets });
    };
    const expect = async (what: string, status: string, res: Promise<{ stdout: string; stderr: string }>) => {
        const { stdout, stderr } = await res;
        if (stdout.split("\n").pop() !== status) {
            throw new Error(`${what} on the twin's S3 answered ${stdout}: ${stderr}`);
        }
    };
    await waitUntil(
        async () => {
            const c = net.inside(role, systemBinary("curl"), ["-sS", "--cacert", certs.caCertFile, "--resolve", `${hostname}:443:${address}`, "-o", "/dev/null", "-w", "%{http_code}", `${endpoint}/health`]);
            const res = await tracker.run(c.command, c.args, { timeoutMs: 15_000 });
            return res.stdout === "200" ? { done: true, value: undefined } : { done: false, seen: `${res.stdout} ${res.stderr.trim()}` };
        },
        { description: "the twin's S3 to answer", timeoutMs: 20_000, abortIf: () => (proc.running ? undefined : proc.logTail()) },
    );
    await expect(`creating bucket ${options.bucket}`, "200", signed("PUT", `${endpoint}/${options.bucket}`));
    const admin = `http://${ADMIN_ADDRESS}`;
    const createAccessKey = async () => {
        const key = { id: `AKIA${randomBytes(8).toString("hex").toUpperCase()}`, secret: randomBytes(30).toString("base64url") };
        secrets.push(key.secret);
        // The account as versitygw's own `admin create-user` sends it (cmd/internal/gwcli/admin.go): auth.Account in XML.
        await expect(`creating access key ${key.id}`, "201", signed("PATCH", `${admin}/create-user`, `<Account><Access>${key.id}</Access><Secret>${key.secret}</Secret><Role>admin</Role></Account>`));
        return key;
    };
    const deleteAccessKey = (id: string) => expect(`deleting access key ${id}`, "200", signed("PATCH", `${admin}/delete-user?access=${encodeURIComponent(id)}`));
    const operations = () => (fs.existsSync(accessLog) ? parseAccessLog(fs.readFileSync(accessLog, "utf8")) : []);
    return { endpoint, hostname, region: options.region, bucket: options.bucket, accessKey, secretKey, certs, hostNames: [hostname, `${options.bucket}.${hostname}`], accessLog, process: proc, createAccessKey, deleteAccessKey, operations };
}

/**
 * The deploy's packages (scripts/install-twin.sh downloaded them with their dependencies and
 * indexed them as a flat repository), served over HTTP from `role`, as Ubuntu's archive serves
 * a droplet. Returns the apt source URL.
 */
export async function serveAptRepository(tracker: ProcessTracker, net: TwinNetwork, role: string, logDir: string): Promise<string> {
    const repo = path.join(twinCacheDir(), "repo");
    if (!fs.existsSync(path.join(repo, "Packages"))) {
        throw new Error(`the twin's package repository is not built at ${repo}: run npm run setup (scripts/install-twin.sh)`);
    }
    const address = net.hosts[role].address;
    const inside = net.inside(role, systemBinary("python3"), ["-m", "http.server", "--bind", address, "--directory", repo, "80"]);
    const proc = tracker.start("apt repository (twin)", inside.command, inside.args, { logFile: path.join(logDir, "apt-repository.log") });
    const url = `http://${address}/`;
    await waitUntil(
        async () => {
            const c = net.inside(role, systemBinary("curl"), ["-sS", "-o", "/dev/null", "-w", "%{http_code}", `${url}Packages`]);
            const res = await tracker.run(c.command, c.args, { timeoutMs: 5000 });
            return res.stdout === "200" ? { done: true, value: undefined } : { done: false, seen: res.stdout };
        },
        { description: "the twin's package repository to answer", timeoutMs: 15_000, abortIf: () => (proc.running ? undefined : proc.logTail()) },
    );
    return url;
}

/**
 * A repository laid out and labelled as Docker's own apt repository is (download.docker.com:
 * `dists/CODENAME/stable`, Release with `Origin: Docker`, `Label: Docker CE`, `Suite: CODENAME`),
 * holding one package at a newer version, served over HTTP from `role`. Returns the sources.list
 * line for it. The package is empty: it is there to be selected by unattended-upgrades' dry run,
 * never installed.
 */
export async function serveDockerLikeRepository(
    tracker: ProcessTracker,
    net: TwinNetwork,
    role: string,
    options: { dir: string; codename: string; packageName: string; version: string; port: number },
): Promise<string> {
    const { dir, codename } = options;
    const build = path.join(dir, "build");
    fs.mkdirSync(path.join(build, "DEBIAN"), { recursive: true });
    fs.writeFileSync(
        path.join(build, "DEBIAN", "control"),
        [`Package: ${options.packageName}`, `Version: ${options.version}`, "Architecture: amd64", "Maintainer: rehearsal <rehearsal@invalid>", "Description: a newer version, for the update check", ""].join("\n"),
    );
    const root = path.join(dir, "repo");
    const pool = path.join(root, "pool", "stable");
    fs.mkdirSync(pool, { recursive: true });
    await tracker.runChecked(systemBinary("dpkg-deb"), ["--build", "--root-owner-group", build, path.join(pool, `${options.packageName}_${options.version}_amd64.deb`)]);
    const binary = path.join(root, "dists", codename, "stable", "binary-amd64");
    fs.mkdirSync(binary, { recursive: true });
    const packages = await tracker.runChecked(systemBinary("apt-ftparchive"), ["packages", "pool"], { cwd: root });
    fs.writeFileSync(path.join(binary, "Packages"), packages.stdout);
    const release = await tracker.runChecked(systemBinary("apt-ftparchive"), [
        "-o", "APT::FTPArchive::Release::Origin=Docker",
        "-o", "APT::FTPArchive::Release::Label=Docker CE",
        "-o", `APT::FTPArchive::Release::Suite=${codename}`,
        "-o", `APT::FTPArchive::Release::Codename=${codename}`,
        "-o", "APT::FTPArchive::Release::Architectures=amd64",
        "-o", "APT::FTPArchive::Release::Components=stable",
        "release", path.join("dists", codename),
    ], { cwd: root });
    fs.writeFileSync(path.join(root, "dists", codename, "Release"), release.stdout);
    const address = net.hosts[role].address;
    const inside = net.inside(role, systemBinary("python3"), ["-m", "http.server", "--bind", address, "--directory", root, String(options.port)]);
    const proc = tracker.start("Docker-like apt repository (twin)", inside.command, inside.args, { logFile: path.join(dir, "http.log") });
    const url = `http://${address}:${options.port}/`;
    await waitUntil(
        async () => {
            const c = net.inside(role, systemBinary("curl"), ["-sS", "-o", "/dev/null", "-w", "%{http_code}", `${url}dists/${codename}/Release`]);
            const res = await tracker.run(c.command, c.args, { timeoutMs: 5000 });
            return res.stdout === "200" ? { done: true, value: undefined } : { done: false, seen: res.stdout };
        },
        { description: "the Docker-like repository to answer", timeoutMs: 15_000, abortIf: () => (proc.running ? undefined : proc.logTail()) },
    );
    return `deb [trusted=yes] ${url} ${codename} stable`;
}

/**
 * The resolver a droplet asks: dnsmasq in `role`'s namespace answering each domain (and every
 * name under it) with its address, and refusing the rest (no upstream). The twin's resolv.conf
 * names it, so containers on Docker's bridge, which do not see the twin's /etc/hosts, resolve
 * S3's names as a droplet's do.
 */
export async function startTwinDns(tracker: ProcessTracker, net: TwinNetwork, role: string, options: { dir: string; records: Record<string, string> }): Promise<string> {
    const address = net.hosts[role].address;
    fs.mkdirSync(options.dir, { recursive: true });
    const inside = net.inside(role, systemBinary("dnsmasq"), [
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        `--listen-address=${address}`,
        "--bind-interfaces",
        "--user=root",
        `--pid-file=${path.join(options.dir, "dnsmasq.pid")}`,
        ...Object.entries(options.records).map(([domain, ip]) => `--address=/${domain}/${ip}`),
    ]);
    const proc = tracker.start("dnsmasq (twin DNS)", inside.command, inside.args, { logFile: path.join(options.dir, "dnsmasq.log") });
    const [first, ip] = Object.entries(options.records)[0];
    await waitUntil(
        async () => {
            const probe = net.inside(role, systemBinary("python3"), ["-c", DNS_PROBE, address, first]);
            const res = await tracker.run(probe.command, probe.args, { timeoutMs: 5000 });
            return res.stdout.trim() === ip ? { done: true, value: undefined } : { done: false, seen: `${res.stdout.trim()} ${res.stderr.trim()}` };
        },
        { description: "the twin's DNS to answer", timeoutMs: 15_000, abortIf: () => (proc.running ? undefined : proc.logTail()) },
    );
    return address;
}

/** One A query over UDP, printing the first address: no resolver library that reads /etc/hosts. */
const DNS_PROBE = `
import socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
q = struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.sendto(q, (server, 53)); r = s.recv(512)
print(".".join(str(b) for b in r[-4:]) if struct.unpack(">H", r[6:8])[0] > 0 else "no answer")
`;
