// @ts-check
/**
 * Removes the registry container on `pulumi destroy`, and lets the destroy finish when the host
 * is already gone.
 *
 * A remote command's own delete step fails when it cannot dial its host (pulumi-command #104),
 * which would leave a destroy stuck on a droplet that no longer exists. This runs instead, from
 * the operator's machine, as the delete step of a local command: it connects with the pinned
 * host key and the deploy key, runs the rendered stop script, and, when nothing answers at the
 * address any more, reports that there is nothing left to remove and succeeds. A host that
 * answers with another host key is never trusted: that fails.
 *
 * Plain JavaScript so that it runs with `node` alone; settings come from the environment:
 *   REGISTRY_SSH_HOST, REGISTRY_SSH_PORT (default 22), REGISTRY_SSH_USER (default root),
 *   REGISTRY_SSH_PRIVATE_KEY, REGISTRY_SSH_HOST_KEY ("ssh-ed25519 AAAA..."),
 *   REGISTRY_STOP_SCRIPT, REGISTRY_SSH_ATTEMPTS (default 3), REGISTRY_SSH_TIMEOUT_MS (default 20000).
 */
"use strict";

const { Client } = require("ssh2");

/** Network errors that mean "no host answers here", as opposed to "a host refused us". */
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET"]);

/**
 * @param {string} authorizedKeyLine e.g. "ssh-ed25519 AAAA... comment"
 * @returns {Buffer} the key blob a server presents
 */
function hostKeyBlob(authorizedKeyLine) {
    const parts = authorizedKeyLine.trim().split(/\s+/);
    if (parts.length < 2 || !/^[A-Za-z0-9+/]+={0,3}$/.test(parts[1])) {
        throw new Error("the pinned host key is not an OpenSSH public key line");
    }
    return Buffer.from(parts[1], "base64");
}

/**
 * @typedef {object} TeardownOptions
 * @property {string} host
 * @property {number} [port]
 * @property {string} [username]
 * @property {string} privateKey
 * @property {string} hostKey
 * @property {string} script
 * @property {number} [attempts]
 * @property {number} [timeoutMs]
 * @property {(line: string) => void} [log]
 */

/**
 * @param {TeardownOptions} options
 * @returns {Promise<"removed" | "unreachable">}
 */
async function teardown(options) {
    const attempts = options.attempts ?? 3;
    const log = options.log ?? ((line) => process.stdout.write(line + "\n"));
    const expectedKey = hostKeyBlob(options.hostKey);
    let lastError = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
        const result = await runOnce(options, expectedKey);
        if (result.kind === "done") {
            return "removed";
        }
        if (result.kind === "fatal") {
            throw new Error(result.message);
        }
        lastError = result.message;
        log(`${options.host}:${options.port ?? 22} did not answer (${lastError}); attempt ${attempt} of ${attempts}`);
    }
    log(`nothing answers at ${options.host} any more (${lastError}): the host is gone, and the registry with it`);
    return "unreachable";
}

/**
 * @param {TeardownOptions} options
 * @param {Buffer} expectedKey
 * @returns {Promise<{kind: "done"} | {kind: "unreachable", message: string} | {kind: "fatal", message: string}>}
 */
function runOnce(options, expectedKey) {
    return new Promise((resolve) => {
        const client = new Client();
        let hostKeyMismatch = false;
        let loggedIn = false;
        let settled = false;
        /** @param {{kind: "done"} | {kind: "unreachable", message: string} | {kind: "fatal", message: string}} result */
        const finish = (result) => {
            if (!settled) {
                settled = true;
                client.end();
                resolve(result);
            }
        };
        client.on("ready", () => {
            loggedIn = true;
            client.exec(options.script, (err, stream) => {
                if (err) {
                    finish({ kind: "fatal", message: `could not run the stop script: ${err.message}` });
                    return;
                }
                stream.on("data", (/** @type {Buffer} */ chunk) => process.stdout.write(chunk));
                stream.stderr.on("data", (/** @type {Buffer} */ chunk) => process.stderr.write(chunk));
                stream.on("close", (/** @type {number | null} */ code) => {
                    finish(code === 0 ? { kind: "done" } : { kind: "fatal", message: `the stop script exited with ${code}` });
                });
            });
        });
        client.on("error", (/** @type {Error & {code?: string, level?: string}} */ err) => {
            if (hostKeyMismatch) {
                finish({ kind: "fatal", message: `${options.host} answered with a different SSH host key than the one pinned for the droplet; refusing to continue` });
            } else if (err.level === "client-timeout" || (err.code !== undefined && UNREACHABLE_CODES.has(err.code))) {
                finish({ kind: "unreachable", message: err.code ?? "timed out" });
            } else {
                finish({ kind: "fatal", message: `SSH to ${options.host} failed: ${err.message}` });
            }
        });
        client.on("close", () =>
            finish(loggedIn ? { kind: "fatal", message: "the connection closed while the stop script ran" } : { kind: "unreachable", message: "connection closed before login" }),
        );
        client.connect({
            host: options.host,
            port: options.port ?? 22,
            username: options.username ?? "root",
            privateKey: options.privateKey,
            readyTimeout: options.timeoutMs ?? 20000,
            hostVerifier: (/** @type {Buffer} */ key) => {
                hostKeyMismatch = !key.equals(expectedKey);
                return !hostKeyMismatch;
            },
        });
    });
}

module.exports = { teardown, hostKeyBlob };

if (require.main === module) {
    const env = process.env;
    /** @param {string} name */
    const required = (name) => {
        const value = env[name];
        if (value === undefined || value === "") {
            process.stderr.write(`${name} is not set\n`);
            process.exit(2);
        }
        return value;
    };
    teardown({
        host: required("REGISTRY_SSH_HOST"),
        port: Number(env.REGISTRY_SSH_PORT ?? "22"),
        username: env.REGISTRY_SSH_USER ?? "root",
        privateKey: required("REGISTRY_SSH_PRIVATE_KEY"),
        hostKey: required("REGISTRY_SSH_HOST_KEY"),
        script: required("REGISTRY_STOP_SCRIPT"),
        attempts: Number(env.REGISTRY_SSH_ATTEMPTS ?? "3"),
        timeoutMs: Number(env.REGISTRY_SSH_TIMEOUT_MS ?? "20000"),
    }).then(
        (outcome) => process.stdout.write(outcome === "removed" ? "registry removed from the host\n" : ""),
        (err) => {
            process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
            process.exit(1);
        },
    );
}
