/**
 * The front behind a load balancer that passes TLS through, with the real front: Caddy
 * (.cache/bin/caddy) serves the Caddyfile renderFrontConfig renders with `proxyProtocol`, over
 * TLS. The balancer stands at 127.0.0.3 and prepends a PROXY v1 header, as DigitalOcean's does;
 * 127.0.0.2 is any other peer (which the firewall would keep out; the front must not believe it). All of 127.0.0.0/8 is loopback here, so each address is a source
 * a test can bind.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { renderFrontConfig } from "../../components/render/front";
import { renderFrontPasswordHash } from "../../components/render/frontPassword";
import { cidrProblem, renderProxyProtocolWrappers } from "../../components/render/proxyProtocol";
import { caddyBinary, caddyEnvironment } from "../harness/front";
import { freePort, LOOPBACK } from "../harness/ports";
import { ProcessTracker } from "../harness/processes";
import { generateTestCertificates, type TestCertificates } from "../harness/tls";
import { makeTempDir, type TempDir } from "../harness/tools";
import { waitUntil } from "../harness/wait";

const BALANCER = "127.0.0.3";
const STRANGER = "127.0.0.2";
const CLIENT = "203.0.113.7";

describe("proxyProtocol's input", () => {
    test("takes IPv4 and IPv6 CIDRs and names what is wrong with anything else", () => {
        assert.equal(cidrProblem("10.110.0.0/20"), undefined);
        assert.equal(cidrProblem("fd00::/8"), undefined);
        assert.match(cidrProblem("10.110.0.0") ?? "", /address\/prefix/);
        assert.match(cidrProblem("10.110.0.0/33") ?? "", /longer than an IPv4 address/);
        assert.match(cidrProblem("example.com/8") ?? "", /not an IP address/);
        assert.throws(() => renderProxyProtocolWrappers({ from: [] }), /at least one CIDR/);
        assert.throws(() => renderProxyProtocolWrappers({ from: ["10.0.0.0/8", "0.0.0.0"] }), /got "0\.0\.0\.0": not written address\/prefix/);
    });

    test("is refused with the tunnel's plain front", () => {
        const input = { listen: "127.0.0.1:5000", tls: { kind: "none" as const }, users: [{ name: "ci", role: "push" as const, passwordHash: renderFrontPasswordHash({ password: "p", salt: "s".repeat(16) }) }], realm: "R", upstream: "127.0.0.1:5002", upstreamAuthorization: "Basic eDp5", accessLogFile: "/a", refusedLogFile: "/r", adminSocket: "/run/a.sock" };
        assert.throws(() => renderFrontConfig({ ...input, proxyProtocol: { from: ["10.0.0.0/8"] } }), /proxyProtocol and tls none are mutually exclusive/);
    });
});

describe("the front behind a balancer's PROXY protocol", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let certs: TestCertificates;
    let port: number;
    let registry: http.Server;

    /** GET /v2/ with a wrong login over TLS from `source`, after `preamble` on the bare connection; the status, or the error that ended it. */
    function ask(source: string, preamble: string, path = "/v2/"): Promise<number | string> {
        return new Promise((resolve) => {
            const socket = net.connect({ host: LOOPBACK, port, localAddress: source }, () => {
                socket.write(preamble);
                const secure = tls.connect({ socket, ca: certs.caCertPem, servername: "localhost" }, () => {
                    secure.write(`GET ${path} HTTP/1.1\r\nHost: ${LOOPBACK}\r\nAuthorization: Basic ${Buffer.from("ci:wrong").toString("base64")}\r\nConnection: close\r\n\r\n`);
                });
                let text = "";
                secure.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
                secure.on("end", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
                secure.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
            });
            socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        });
    }

    const refusedLines = () =>
        fs
            .readFileSync(tmp.join("refused.log"), "utf8")
            .trim()
            .split("\n")
            .filter(Boolean)
            .map((line) => JSON.parse(line) as { request: { client_ip: string; remote_ip: string } });

    before(async () => {
        tmp = makeTempDir("front-proxy-protocol");
        certs = await generateTestCertificates(tracker, tmp.join("certs"));
        port = await freePort();
        // The registry's `/`: 200 while its storage answers.
        registry = http.createServer((_, response) => response.end("{}"));
        await new Promise<void>((resolve) => registry.listen(0, LOOPBACK, resolve));
        fs.writeFileSync(
            tmp.join("Caddyfile"),
            renderFrontConfig({
                listen: `${LOOPBACK}:${port}`,
                tls: { kind: "files", hostname: LOOPBACK, certificate: certs.certFile, key: certs.keyFile },
                users: [{ name: "ci", role: "push", passwordHash: renderFrontPasswordHash({ password: "right", salt: "proxy-protocol-salt" }) }],
                realm: "Registry",
                upstream: `${LOOPBACK}:${(registry.address() as net.AddressInfo).port}`,
                upstreamAuthorization: "Basic ZnJvbnQ6dGVzdA==",
                accessLogFile: tmp.join("access.log"),
                refusedLogFile: tmp.join("refused.log"),
                adminSocket: tmp.join("admin.sock"),
                proxyProtocol: { from: [`${BALANCER}/32`] },
                drainMarker: tmp.join("draining"),
            }),
        );
        tracker.start("caddy", caddyBinary(), ["run", "--config", tmp.join("Caddyfile"), "--adapter", "caddyfile"], { logFile: tmp.join("caddy.log"), env: caddyEnvironment(tmp.path) });
        await waitUntil(async () => {
            const status = await ask(LOOPBACK, "");
            return status === 401 ? { done: true, value: undefined } : { done: false, seen: String(status) };
        }, { description: "the front to answer on loopback", timeoutMs: 20_000 });
    });

    after(async () => {
        await tracker.dispose();
        await new Promise((resolve) => registry?.close(resolve));
        tmp?.remove();
    });

    test("logs the client the balancer names, not the balancer", async () => {
        const before = refusedLines().length;
        assert.equal(await ask(BALANCER, `PROXY TCP4 ${CLIENT} ${LOOPBACK} 5555 ${port}\r\n`), 401);
        const line = refusedLines()[before];
        assert.equal(line.request.client_ip, CLIENT, "the refusal fail2ban reads names the client");
        assert.equal(line.request.remote_ip, CLIENT);
    });

    test("refuses a header from outside the balancer's network, and serves such a peer as itself", async () => {
        const before = refusedLines().length;
        const forged = await ask(STRANGER, `PROXY TCP4 ${CLIENT} ${LOOPBACK} 5555 ${port}\r\n`);
        assert.notEqual(forged, 401, "a stranger's header was taken");
        assert.equal(refusedLines().length, before, "nothing of the forged header's connection reached the front's routes");
        assert.equal(await ask(STRANGER, ""), 401);
        assert.equal(refusedLines()[before].request.client_ip, STRANGER, "logged as the peer it is");
    });

    test("serves the droplet's own loopback checks, which send no header", async () => {
        const before = refusedLines().length;
        assert.equal(await ask(LOOPBACK, ""), 401);
        assert.equal(refusedLines()[before].request.client_ip, LOOPBACK);
    });

    test("answers the balancer's health check 503 while the drain marker exists, the registry's 200 otherwise, and everything else as ever", async () => {
        const header = `PROXY TCP4 ${CLIENT} ${LOOPBACK} 5555 ${port}\r\n`;
        assert.equal(await ask(BALANCER, header, "/"), 200);
        fs.writeFileSync(tmp.join("draining"), "");
        try {
            assert.equal(await ask(BALANCER, header, "/"), 503, "the check the balancer sends while draining");
            assert.equal(await ask(BALANCER, header), 401, "a client's request while draining");
        } finally {
            fs.rmSync(tmp.join("draining"));
        }
        assert.equal(await ask(BALANCER, header, "/"), 200, "back once the marker is gone");
    });
});
