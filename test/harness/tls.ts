import * as fs from "node:fs";
import * as path from "node:path";
import type { ProcessTracker } from "./processes";
import { LOOPBACK } from "./ports";
import { systemBinary } from "./tools";

/** A throwaway CA and a server certificate it signed, as PEM files on disk. */
export interface TestCertificates {
    /** The CA certificate (PEM file). Trust it to reach the registry. */
    caCertFile: string;
    caCertPem: string;
    /** Server certificate and key for the registry (PEM files). */
    certFile: string;
    keyFile: string;
    /**
     * A directory holding only `ca.crt`: the layout skopeo's `--dest-cert-dir`/`--src-cert-dir`
     * and Docker's `/etc/docker/certs.d/HOST:PORT/` expect.
     */
    certDir: string;
}

/**
 * Generates a CA and a server certificate for `hosts` (IP addresses and/or DNS names; default
 * 127.0.0.1 and localhost) with openssl, valid for `days` days. Keys are P-256.
 */
export async function generateTestCertificates(
    tracker: ProcessTracker,
    dir: string,
    options: { hosts?: string[]; days?: number } = {},
): Promise<TestCertificates> {
    const openssl = systemBinary("openssl");
    const hosts = options.hosts ?? [LOOPBACK, "localhost"];
    const days = String(options.days ?? 2);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const p = (name: string) => path.join(dir, name);
    const san = hosts.map((h) => (/^[0-9.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

    await tracker.runChecked(openssl, [
        "req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", days,
        "-subj", "/CN=registry rehearsal throwaway CA",
        "-addext", "basicConstraints=critical,CA:true",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    await tracker.runChecked(openssl, ["req", ...ec, "-keyout", p("tls.key"), "-out", p("tls.csr"), "-subj", `/CN=${hosts[0]}`]);
    fs.writeFileSync(
        p("server-ext.cnf"),
        [
            "basicConstraints=critical,CA:false",
            "keyUsage=critical,digitalSignature",
            "extendedKeyUsage=serverAuth",
            `subjectAltName=${san}`,
            "",
        ].join("\n"),
    );
    await tracker.runChecked(openssl, [
        "x509", "-req", "-in", p("tls.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial",
        "-out", p("tls.crt"), "-days", days, "-extfile", p("server-ext.cnf"),
    ]);
    await tracker.runChecked(openssl, ["verify", "-CAfile", p("ca.crt"), p("tls.crt")]);

    const certDir = p("certs.d");
    fs.mkdirSync(certDir, { recursive: true });
    fs.copyFileSync(p("ca.crt"), path.join(certDir, "ca.crt"));
    return {
        caCertFile: p("ca.crt"),
        caCertPem: fs.readFileSync(p("ca.crt"), "utf8"),
        certFile: p("tls.crt"),
        keyFile: p("tls.key"),
        certDir,
    };
}
