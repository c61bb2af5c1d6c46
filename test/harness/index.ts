/**
 * The rehearsal harness: run what the droplet runs, for real, on 127.0.0.1.
 *
 * Prerequisite: `scripts/install-rehearsal-tools.sh` (apt packages, and the pinned `registry`
 * and `versitygw` built into .cache/bin/). Everything listens on and talks to 127.0.0.1 only,
 * on ports picked free at run time. Every child process is tracked by PID and killed when the
 * tracker is disposed, when the process exits, or on SIGINT/SIGTERM.
 *
 * Quick start
 * ```ts
 * const stack = await startStack();                 // versitygw + bucket + CA + registry + front
 * try {
 *     const image = await buildOciImage(dir, { layerSizes: [30e6, 20e6], tag: "v1" });
 *     const r = stack.registry;                     // clients: through the front (Caddy)
 *     await stack.skopeo.copyChecked(ociRef(dir, "v1"), dockerRef(r.host, "team/app", "v1"),
 *         { destCreds: r.login, destCertDir: stack.certs.certDir });
 *     stack.s3.operations();                        // what S3 served (from its access log)
 * } finally {
 *     await stack.stop();                           // kills everything, removes the temp dir
 * }
 * ```
 *
 * Modules (all re-exported here except podman, podmanHost, host, sshd, iam, netns, s3accounts
 * and registryLoad, imported from their files)
 * - ports:     `freePort()`, `freePorts(n)`, `isListening(port)`, `LOOPBACK`.
 * - wait:      `waitUntil(probe, { description, timeoutMs, abortIf })`, `sleep(ms)`.
 * - processes: `describeRun(result)` for assertion messages; `ProcessTracker` — `start(name, cmd, args, { logFile, env, unsetEnv })` →
 *              `TrackedProcess` (`pid`, `exited`, `running`, `kill(sig)`, `stop()`, `killHard()`,
 *              `log()`, `logTail()`); `run()`/`runChecked()` for commands to completion
 *              (tracked, timeout, `secrets` redacted from errors); `addCleanup()` for
 *              non-process resources; `stopAll()` / `dispose()` / `killAllNow()`.
 *              Pass `{ exitOnSignal: false }` to handle Ctrl-C yourself (rehearse.ts).
 * - tools:     `cachedBinary("registry" | "versitygw" | "caddy")`, `systemBinary(name)`,
 *              `makeTempDir(prefix)` (KEEP_REHEARSAL_TMP=1 keeps it), `REPO_ROOT`, `CACHE_BIN`.
 * - http:      `request(url, { ca, basicAuth, method, headers, connectTo, maxBodyBytes })` →
 *              status, headers, body (truncated) and the sha256 `digest` of the whole body.
 * - tls:       `generateTestCertificates(tracker, dir, { hosts })` → CA + server cert (openssl);
 *              `certDir` holds `ca.crt` for skopeo `--*-cert-dir` / Docker `certs.d`.
 * - s3:        `S3Server.start(tracker, { dir, port?, accessKey?, secretKey?, accounts? })` — versitygw,
 *              posix backend, SigV4-checking; `endpoint`, `client()`, `createBucket()`,
 *              `operations({ since, userAgent })` / `operationCount()` from its access log,
 *              `listObjects(bucket)` (key -> size),
 *              `stop()`, `kill()` (kill -9), `restart()` (same port and data).
 *              `REGISTRY_S3_USER_AGENT` tells the registry's requests from others.
 * - s3proxy:   `S3RecordingProxy.start({ upstreamPort, bucketOwnerEnforced? })` — a loopback
 *              proxy in front of versitygw that forwards requests unchanged and records each
 *              one's S3 operation and `x-amz-acl` (`requests(since)`, `count`); with
 *              `bucketOwnerEnforced` it refuses other ACLs like AWS (AccessControlListNotSupported).
 * - registry:  `LocalRegistry.start(tracker, { dir, s3, certs, program?, login?, redirect?,
 *              configure?, omitHtpasswd?, waitFor? })` — the real binary on plain HTTP (as on the
 *              droplet's loopback), AWS_* removed from its env; `url`, `host`, `debugUrl`,
 *              `login`, `configInput`, `get(path, { auth })`, `health()`, `stop()`, `kill()`,
 *              `restart()`, `waitUntilReady()`, `log()`.
 *              Config: `programConfigInput()` is the program's own input (taken from
 *              `deploymentParts`, the same step `renderDeployment` uses), `rehearsalConfigInput()` swaps only the S3 endpoint +
 *              path style, listen/debug addresses and the htpasswd path. `programDeployment()` returns
 *              the program's whole rendering (config, htpasswd, Caddyfile, scripts, stdin bundle).
 *              `generateLogin()` makes a program-like login with its htpasswd line.
 * - front:     `LocalFront.start(tracker, { dir, program, upstreamPort, certs, port? })` — the
 *              pinned Caddy on the program's FrontInput, `rehearsalFrontInput()` swapping only
 *              listen, upstream, access log, admin socket and key-pair paths; `accessLog()`,
 *              `openRawConnection(front)` for slow clients, `frontLogin()`, `passwordHashOf()`.
 * - oci:       `buildOciImage(dir, { layerSizes, tag, compression })` writes a random
 *              multi-layer OCI layout; `readAndVerifyOciImage(dir, tag)` re-hashes every blob;
 *              `digestOfFile()`, `MEDIA_TYPES`.
 * - skopeo:    `new Skopeo(tracker, dir)`; `copy()` / `copyChecked()` with `destCreds`,
 *              `srcCreds`, `destCertDir`, `srcCertDir`, `--preserve-digests` by default, an
 *              empty auth file and a permissive policy of its own; `inspectRaw()`; `ociRef()`,
 *              `dockerRef()`.
 * - stack:     `startFrontedRegistry(tracker, { dir, s3, certs, users?, tls?, ... })` → the
 *              registry behind the front from one `deploymentParts`: a `FrontedRegistry` whose
 *              `host`/`url`/`get()`/`login` go through the front and whose `stop()`/`kill()`/
 *              `restart()`/`log()`/`health()`/`configInput` act on the registry process.
 *              `startStack({ name, tracker?, bucket?, users?, redirect?, configure?, ports?,
 *              s3Proxy? })` → `Stack` (S3 + CA + that pair + skopeo; `front`, `users`; `s3Proxy`
 *              set when asked for: the registry then talks S3 through it).
 * - podman:    `writeDockerShim(dir, { marks? })` (`docker` → podman with runc, ulimits, the
 *              host's network unless the container names one, `rm -f` killing at once like
 *              Docker's; `marks`: each call's time and a log file's line count),
 *              `ensureRegistryImage()` / `ensureFrontImage()` (FROM-scratch images of the static
 *              binaries under the pinned names), `removeContainer()`.
 * - host:      `rehearseOnHost(deploymentInput, swaps)` → the program's start-script input and
 *              stdin bundle with only the loopback values swapped; `withDropletValues()` and
 *              `bundleWithDropletValues()` put the droplet's back (to prove the program's script
 *              and bundle render byte for byte).
 * - podmanHost: `startPodmanHost(tracker, { dir, namePrefix, marks? })` → the droplet's host for
 *              the SSH tests: sshd with the shim first on its PATH, both pinned images loaded,
 *              this run's container names and free ports, all cleaned up by the tracker.
 * - sshd:      `SshServer.start(tracker, { dir, remotePath? })` — real sshd on 127.0.0.1, key
 *              only; `exec(scriptText, { stdin })` runs like @pulumi/command's remote.Command.
 * - iam:       `iamRequirementsFor(operations, bucket)` (S3 API → IAM action),
 *              `simulateIdentityPolicy(policy, checks, { resourcePolicy, context })`.
 * - netns:     `createNetworkLab(tracker, clientNames)` → `droplet`, `clients` (network namespaces
 *              on 10.x.y.0/24 joined by veth pairs; needs root), removed by the tracker's cleanup,
 *              stale ones by the next run.
 * - s3accounts: versitygw with its own accounts, so one bucket can be reached with two keys and
 *              one deleted (the S3 key rotation).
 * - registryLoad: a counted loop of pushes and pulls through the front, and a slow upload.
 */
export * from "./ports";
export * from "./wait";
export * from "./processes";
export * from "./tools";
export * from "./http";
export * from "./tls";
export * from "./s3";
export * from "./s3proxy";
export * from "./registry";
export * from "./front";
export * from "./oci";
export * from "./skopeo";
export * from "./stack";
