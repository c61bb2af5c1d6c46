import * as fs from "node:fs";
import * as path from "node:path";
import type { ProcessTracker, TrackedProcess } from "./processes";
import { generateTestCertificates } from "./tls";
import { CACHE_BIN, systemBinary } from "./tools";
import type { TwinNetwork } from "./twinNetwork";
import { waitUntil } from "./wait";

/**
 * Let's Encrypt's test CA for the droplet twin: Pebble (github.com/letsencrypt/pebble/v2
 * v2.10.3) with pebble-challtestsrv as the DNS of the lab, both in one namespace. Pebble
 * validates challenges against the names challtestsrv answers, on the real ports: TLS-ALPN-01 on
 * 443 and HTTP-01 on 80, so a closed port 80 fails an HTTP-01 attempt as it would at Let's
 * Encrypt. challtestsrv answers no A record for a name until one is added, like a domain whose
 * record is not made yet.
 */

export interface TwinAcmeOptions {
    /** Lifetime of the certificates Pebble issues (its default profile's validityPeriod). */
    validitySeconds: number;
    /** Names Pebble refuses to issue for (its domainBlocklist: rejectedIdentifier). */
    refusedNames?: string[];
}

export interface TwinAcme {
    /** The ACME directory URL, by address: the twin reaches it without DNS. */
    directory: string;
    /** The lab's DNS server: challtestsrv. */
    nameserver: string;
    /** PEM: the directory's TLS root, then Pebble's issuing root (the acmeServerCa a user of Pebble sets). */
    caPem: string;
    /** Pebble's issuing root alone (PEM), for clients. */
    issuingRootPem: string;
    addA(name: string, address: string): Promise<void>;
    /** Pebble's log so far. */
    log(): string;
    process: TrackedProcess;
}

const DIRECTORY_PORT = 14000;
const MANAGEMENT_PORT = 15000;
const CHALLTESTSRV_MANAGEMENT_PORT = 8055;

export async function startTwinAcme(tracker: ProcessTracker, net: TwinNetwork, role: string, options: TwinAcmeOptions & { dir: string }): Promise<TwinAcme> {
    const address = net.hosts[role].address;
    fs.mkdirSync(options.dir, { recursive: true });
    const certs = await generateTestCertificates(tracker, path.join(options.dir, "tls"), { hosts: [address], days: 2 });

    const dns = net.inside(role, path.join(CACHE_BIN, "pebble-challtestsrv"), [
        "-dnsserver", `${address}:53`,
        "-management", `${address}:${CHALLTESTSRV_MANAGEMENT_PORT}`,
        // Its own challenge servers stay off: the twin's front answers the challenges.
        "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
        "-defaultIPv4", "", "-defaultIPv6", "",
    ]);
    const dnsProcess = tracker.start("pebble-challtestsrv (twin DNS)", dns.command, dns.args, { logFile: path.join(options.dir, "challtestsrv.log") });

    const config = path.join(options.dir, "pebble-config.json");
    fs.writeFileSync(config, JSON.stringify({
        pebble: {
            listenAddress: `${address}:${DIRECTORY_PORT}`,
            managementListenAddress: `${address}:${MANAGEMENT_PORT}`,
            certificate: certs.certFile,
            privateKey: certs.keyFile,
            httpPort: 80,
            tlsPort: 443,
            ocspResponderURL: "",
            externalAccountBindingRequired: false,
            domainBlocklist: options.refusedNames ?? [],
            retryAfter: { authz: 1, order: 1 },
            keyAlgorithm: "ecdsa",
            profiles: { default: { description: "short-lived, for renewal", validityPeriod: options.validitySeconds } },
        },
    }, null, 2));
    const pebble = net.inside(role, path.join(CACHE_BIN, "pebble"), ["-config", config, "-dnsserver", `${address}:53`]);
    const logFile = path.join(options.dir, "pebble.log");
    const proc = tracker.start("pebble (twin ACME CA)", pebble.command, pebble.args, {
        logFile,
        // No random sleeps before validations; no nonce rejected on purpose; each order validated
        // anew (pebble/v2 README, "Testing at full speed", "Invalid anti-replay nonce errors",
        // "Authorization reuse").
        env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" },
    });

    const curl = async (args: string[]) => {
        const c = net.inside(role, systemBinary("curl"), ["-sS", "--fail", "--cacert", certs.caCertFile, ...args]);
        return tracker.run(c.command, c.args, { timeoutMs: 10_000 });
    };
    const abortIf = () => (proc.running ? dnsProcess.running ? undefined : dnsProcess.logTail() : proc.logTail());
    const directory = `https://${address}:${DIRECTORY_PORT}/dir`;
    await waitUntil(
        async () => {
            const res = await curl([directory]);
            return res.code === 0 ? { done: true, value: undefined } : { done: false, seen: res.stderr.trim() };
        },
        { description: "Pebble's directory to answer", timeoutMs: 20_000, abortIf },
    );
    const root = await curl([`https://${address}:${MANAGEMENT_PORT}/roots/0`]);
    if (root.code !== 0 || !root.stdout.includes("BEGIN CERTIFICATE")) {
        throw new Error(`Pebble's issuing root: ${root.stderr}`);
    }
    const management = `http://${address}:${CHALLTESTSRV_MANAGEMENT_PORT}`;
    return {
        directory,
        nameserver: address,
        caPem: `${certs.caCertPem.trim()}\n${root.stdout.trim()}\n`,
        issuingRootPem: `${root.stdout.trim()}\n`,
        addA: async (name, ip) => {
            const res = await tracker.run(...insideArgs(net, role, ["-sS", "--fail", "-X", "POST", "-d", JSON.stringify({ host: name, addresses: [ip] }), `${management}/add-a`]));
            if (res.code !== 0) {
                throw new Error(`challtestsrv add-a ${name}: ${res.stderr}`);
            }
        },
        log: () => fs.readFileSync(logFile, "utf8"),
        process: proc,
    };
}

function insideArgs(net: TwinNetwork, role: string, curlArgs: string[]): [string, string[], { timeoutMs: number }] {
    const c = net.inside(role, systemBinary("curl"), curlArgs);
    return [c.command, c.args, { timeoutMs: 10_000 }];
}

/** What Pebble's log shows of validations and issuance (its va.go and ca.go messages). */
export function pebbleActivity(log: string): { requests: number; httpValidations: number; issued: number } {
    const count = (pattern: RegExp) => log.split("\n").filter((line) => pattern.test(line)).length;
    return {
        requests: count(/-> calling handler\(\)/),
        httpValidations: count(/Attempting to validate w\/ HTTP/),
        issued: count(/Issued certificate serial/),
    };
}
