import type { X509Certificate } from "node:crypto";
import * as net from "node:net";
import * as tls from "node:tls";

/**
 * The TLS step's probe: one handshake with the registry, verified the way a client of this stack
 * verifies it: against the caCertificate output only (so a wrong CA output fails here), or
 * against Node's default trust store for Let's Encrypt. Name checking is Node's own
 * (checkServerIdentity: DNS names and IP SANs).
 */

export interface TlsProbe {
    leaf: X509Certificate;
    /** Days until the leaf expires (fractional; negative when expired). */
    daysLeft: number;
    protocol: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function daysUntil(validTo: string, now: Date = new Date()): number {
    const expires = Date.parse(validTo);
    if (Number.isNaN(expires)) {
        throw new Error(`cannot read the certificate's expiry ${JSON.stringify(validTo)}`);
    }
    return (expires - now.getTime()) / DAY_MS;
}

/** Handshakes with `url`'s host and port; rejects with Node's verification error (code and message). */
export function probeTls(url: URL, options: { ca?: string; timeoutMs: number }): Promise<TlsProbe> {
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port === "" ? 443 : Number(url.port);
    return new Promise((resolve, reject) => {
        const socket = tls.connect({
            host,
            port,
            ca: options.ca,
            // SNI takes names only; for an IP, Node checks the certificate's IP SANs against `host`.
            servername: net.isIP(host) === 0 ? host : undefined,
            rejectUnauthorized: true,
            ALPNProtocols: ["http/1.1"],
        });
        const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake with ${url.host} within ${options.timeoutMs} ms`)), options.timeoutMs);
        socket.once("secureConnect", () => {
            clearTimeout(timer);
            const leaf = socket.getPeerX509Certificate();
            const protocol = socket.getProtocol() ?? "unknown";
            socket.end();
            if (leaf === undefined) {
                reject(new Error(`${url.host} sent no certificate`));
                return;
            }
            resolve({ leaf, daysLeft: daysUntil(leaf.validTo), protocol });
        });
        socket.once("error", (error: NodeJS.ErrnoException) => {
            clearTimeout(timer);
            socket.destroy();
            reject(error);
        });
    });
}

/** The CN (or the whole name) of an X.509 subject or issuer string. */
export function commonName(name: string): string {
    return /^CN=(.*)$/m.exec(name)?.[1] ?? name.replace(/\n/g, ", ");
}
