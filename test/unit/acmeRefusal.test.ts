import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { renderWaitServingScript, type ServingCheck } from "../../components/render/registryRun";
import { shellcheck, StubPath } from "../support/shell";

/**
 * The health wait with an ACME front, run for real against a stand-in docker whose front logs
 * what Caddy logs (certmagic v0.25.6 async.go), and a curl whose handshake never succeeds, as
 * when the front has no certificate.
 */

const REFUSAL =
    "[registry.example.com] Obtain: [registry.example.com] creating new order: attempt 1: https://acme.example/order-plz: HTTP 400 urn:ietf:params:acme:error:rejectedIdentifier - Order included blocked identifier \\\"registry.example.com\\\"";
const WILL_RETRY = `{"level":"error","ts":1765094400.1,"logger":"tls.obtain","msg":"will retry","error":"${REFUSAL}","attempt":1,"retrying_in":60,"elapsed":0.2,"max_duration":2592000}`;
const NETWORK_ERROR = `{"level":"error","ts":1765094400.1,"logger":"tls.obtain","msg":"will retry","error":"[registry.example.com] Obtain: registering account: dial tcp 10.0.0.9:14000: connect: connection refused","attempt":1,"retrying_in":60}`;
const ISSUER_ONLY = `{"level":"error","ts":1765094400.1,"logger":"tls.obtain","msg":"could not get certificate from issuer","identifier":"registry.example.com","issuer":"acme.example","error":"HTTP 400 urn:ietf:params:acme:error:rejectedIdentifier - refused"}`;

const CHECK: ServingCheck = {
    url: "https://registry.example.com/v2/",
    connectTo: "127.0.0.1:443",
    useBundledCa: false,
    timeoutSeconds: 4,
    acmeFront: "registry-front",
};

function runWait(frontLog: string[], check: ServingCheck = CHECK) {
    const stubs = new StubPath({
        // `logs --since` prints the front's lines; the registry container is running.
        docker: `case "$1" in
  logs) case "$*" in *registry-front*) cat "$(dirname "$0")/front.log" ;; esac ;;
  inspect) echo true ;;
esac`,
        curl: "printf 000",
        sleep: "exit 0",
    });
    writeFileSync(join(stubs.dir, "front.log"), frontLog.map((line) => `${line}\n`).join(""));
    const script = renderWaitServingScript(check, { containerName: "registry", configDir: stubs.dir });
    const started = Date.now();
    const result = stubs.run(script);
    return { result, seconds: (Date.now() - started) / 1000, calls: stubs.calls() };
}

describe("the health wait with an ACME front", () => {
    it("passes shellcheck", () => {
        const script = renderWaitServingScript(CHECK, { containerName: "registry", configDir: "/etc/private-registry" });
        const { status, output } = shellcheck(script);
        assert.equal(status, 0, output);
    });

    it("fails at once with the CA's reason when the CA refused the order", () => {
        const { result, calls } = runWait([`{"level":"info","logger":"tls.obtain","msg":"acquiring lock"}`, WILL_RETRY]);
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /the ACME server refused the certificate: .*urn:ietf:params:acme:error:rejectedIdentifier - Order included blocked identifier \\"registry\.example\.com\\"/);
        assert.match(result.stderr, /--- last front log lines ---/);
        // Only the front's lines since the wait began count: an old refusal fixed since is not read.
        assert.ok(calls.some((c) => /^docker logs --since \d+ registry-front$/.test(c)), calls.join("\n"));
        // Refused on the first look, not after the timeout.
        assert.equal(calls.filter((c) => c.startsWith("curl ")).length, 1, calls.join("\n"));
    });

    it("keeps waiting through errors that are not the CA's answer, then times out as before", () => {
        const { result, calls } = runWait([NETWORK_ERROR, ISSUER_ONLY]);
        assert.equal(result.status, 1);
        assert.match(result.stderr, /the registry did not become healthy in 4s/);
        assert.doesNotMatch(result.stderr, /refused the certificate/);
        assert.ok(calls.filter((c) => c.startsWith("curl ")).length > 1, "it tried more than once");
    });

    it("does not read the front's log without an ACME front", () => {
        const { result, calls } = runWait([WILL_RETRY], { ...CHECK, acmeFront: undefined });
        assert.equal(result.status, 1);
        assert.doesNotMatch(result.stderr, /refused the certificate/);
        assert.ok(!calls.some((c) => c.startsWith("docker logs --since")), calls.join("\n"));
    });
});
