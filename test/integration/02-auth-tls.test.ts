/**
 * Check 2: authentication and TLS as the program configures them, at the front clients reach
 * (Caddy, in front of the registry). No credentials and a wrong password get 401; a push without
 * credentials is refused; plain HTTP to the TLS port fails; a client that does not trust the CA
 * fails.
 */
import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { buildOciImage, dockerRef, makeTempDir, ociRef, request, startStack } from "../harness";
import type { OciImage, Stack, TempDir } from "../harness";
import { assertFailedWith, assertSucceeded, MB } from "./support";

describe("authentication and TLS", () => {
    let stack: Stack;
    let work: TempDir;
    let image: OciImage;

    before(async () => {
        stack = await startStack({ name: "rehearsal-auth" });
        work = makeTempDir("rehearsal-auth-images");
        image = await buildOciImage(work.join("source"), { layerSizes: [1 * MB], tag: "v1" });
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    test("2a) no credentials: /v2/ and _catalog answer 401 with a Basic challenge", async () => {
        for (const path of ["/v2/", "/v2/_catalog", "/v2/anything/tags/list"]) {
            const res = await stack.registry.get(path, { auth: false });
            assert.equal(res.status, 401, `GET ${path} without credentials: HTTP ${res.status}, want 401`);
            assert.equal(res.headers["www-authenticate"], `Basic realm="${stack.registry.configInput.auth.realm}"`, `GET ${path}: WWW-Authenticate header`);
        }
        // The front refused them itself: the registry behind it never saw the request.
        assert.doesNotMatch(stack.registry.log(), /anything\/tags\/list/, "a request without credentials reached the registry");
        // Control: the right login gets in, so the 401s above are about the credentials.
        const ok = await stack.registry.get("/v2/");
        assert.equal(ok.status, 200, `GET /v2/ with the right login: HTTP ${ok.status}, want 200`);
    });

    test("2b) wrong password or unknown user: 401", async () => {
        const { username, password } = stack.registry.login;
        const attempts = [
            { username, password: `${password}x` },
            { username, password: password.slice(0, -1) },
            { username: "admin", password },
            { username, password: "" },
        ];
        for (const auth of attempts) {
            for (const path of ["/v2/", "/v2/_catalog"]) {
                const res = await stack.registry.get(path, { auth });
                assert.equal(res.status, 401, `GET ${path} as ${auth.username} with a wrong password: HTTP ${res.status}, want 401`);
            }
        }
    });

    test("2c) push without credentials (or with a wrong password) is refused and stores nothing", async () => {
        const { registry, skopeo, certs } = stack;
        const anonymous = await skopeo.copy(ociRef(image.layoutDir, "v1"), dockerRef(registry.host, "sneaky/anon", "v1"), {
            destCertDir: certs.certDir,
        });
        assertFailedWith(anonymous, /unauthorized|authentication required|401/i, "push without credentials");
        const wrong = await skopeo.copy(ociRef(image.layoutDir, "v1"), dockerRef(registry.host, "sneaky/wrong", "v1"), {
            destCertDir: certs.certDir,
            destCreds: { username: registry.login.username, password: "not-the-password" },
        });
        assertFailedWith(wrong, /unauthorized|authentication required|401/i, "push with a wrong password");

        const catalog = await registry.get("/v2/_catalog");
        assert.equal(catalog.status, 200);
        assert.deepEqual(catalog.json<{ repositories: string[] }>().repositories, [], "a refused push left a repository behind");
        // Control: the same push with the login works.
        const allowed = await skopeo.copy(ociRef(image.layoutDir, "v1"), dockerRef(registry.host, "team/ok", "v1"), {
            destCertDir: certs.certDir,
            destCreds: registry.login,
        });
        assertSucceeded(allowed, "push with the right login", { registry, secrets: [registry.login.password] });
    });

    test("2d) plain HTTP to the TLS port fails", async () => {
        const res = await request(`http://${stack.registry.host}/v2/`, {
            basicAuth: stack.registry.login,
        });
        // Caddy is a Go server too: the same answer as net/http's TLS server.
        assert.equal(res.status, 400, `plain HTTP to the TLS port: HTTP ${res.status}, want Go's TLS-server 400`);
        assert.equal(res.headers["docker-distribution-api-version"], undefined, "the registry API answered over plain HTTP");
        assert.match(res.text(), /HTTP request to an HTTPS server/, "unexpected body for plain HTTP");
    });

    test("2e) a client that does not trust the CA fails (Node and skopeo); the same clients trusting it succeed", async () => {
        const { registry, skopeo, certs } = stack;
        await assert.rejects(
            request(`${registry.url}/v2/`, { basicAuth: registry.login }),
            (error: NodeJS.ErrnoException) => {
                assert.match(String(error.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER_CERT/, `unexpected TLS error: ${error.message}`);
                return true;
            },
            "an HTTPS client without the CA connected",
        );
        const trusting = await request(`${registry.url}/v2/`, { basicAuth: registry.login, ca: certs.caCertPem });
        assert.equal(trusting.status, 200, "control: the same request trusting the CA");

        const untrusting = await skopeo.copy(ociRef(image.layoutDir, "v1"), dockerRef(registry.host, "team/untrusted", "v1"), {
            destCreds: registry.login,
        });
        assertFailedWith(untrusting, /x509|certificate signed by unknown authority|tls/i, "skopeo push without the CA");
    });
});
