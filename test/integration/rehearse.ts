/**
 * `npm run rehearse`: starts the same stack the integration tests use (versitygw with a fresh
 * bucket, a throwaway CA, the real pinned registry serving the program's config.yml on
 * 127.0.0.1, and the pinned Caddy in front of it serving the program's Caddyfile) and leaves it
 * up until Ctrl-C, SIGTERM or SIGHUP (to this process, or to npm alone), then stops everything
 * cleanly.
 *
 * Prints the address clients use (the front's), the throwaway login (on purpose: it dies with
 * the process), a skopeo command and a `docker login` command with the CA hint.
 *
 * Options (after `npm run rehearse --`):
 *   --port N           the front's port, the one clients use (default: a free one); the debug
 *                      port is N+1 unless --debug-port
 *   --registry-port N  the registry's own plain-HTTP port behind the front (default: a free one)
 *   --debug-port N     the registry's debug server port (health, metrics)
 *   --s3-port N        S3 server port (default: a free one)
 *   --no-redirect   stream pulls through the registry instead of redirecting to presigned S3 URLs
 *   --sample        push a small sample image (rehearsal/sample:latest) once it is up
 */
import { buildOciImage, dockerRef, ociRef, ProcessTracker, startStack } from "../harness";
import type { Stack } from "../harness";
import { watchStarter } from "../harness/proc";

interface Args {
    port?: number;
    registryPort?: number;
    debugPort?: number;
    s3Port?: number;
    redirect?: boolean;
    sample: boolean;
}

function parseArgs(argv: string[]): Args {
    const out: Args = { sample: false };
    const number = (flag: string, value: string | undefined): number => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1 || n > 65535) {
            throw new Error(`${flag} needs a port number, got ${JSON.stringify(value)}`);
        }
        return n;
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === "--port") {
            out.port = number(arg, argv[++i]);
        } else if (arg === "--registry-port") {
            out.registryPort = number(arg, argv[++i]);
        } else if (arg === "--debug-port") {
            out.debugPort = number(arg, argv[++i]);
        } else if (arg === "--s3-port") {
            out.s3Port = number(arg, argv[++i]);
        } else if (arg === "--no-redirect") {
            out.redirect = false;
        } else if (arg === "--sample") {
            out.sample = true;
        } else {
            throw new Error(`unknown option ${arg} (see the comment at the top of test/integration/rehearse.ts)`);
        }
    }
    if (out.port !== undefined && out.debugPort === undefined) {
        out.debugPort = out.port + 1;
    }
    return out;
}

function banner(stack: Stack, sample: string | undefined): string {
    const { registry, certs, s3, s3Target } = stack;
    const { username, password } = registry.login;
    const host = registry.host;
    return [
        "",
        "Registry rehearsal is up (everything on 127.0.0.1; throwaway credentials, gone on exit).",
        "",
        `  registry     ${registry.url}   (clients use this: the front, Caddy on the program's Caddyfile)`,
        `  behind it    ${registry.backend.url}   (CNCF Distribution, the program's config.yml; redirect pulls to S3: ${registry.configInput.redirect})`,
        `  login        ${username} / ${password}`,
        `  CA           ${certs.caCertFile}`,
        `  cert dir     ${certs.certDir}   (holds ca.crt, for skopeo --cert-dir / Docker certs.d)`,
        `  health       ${registry.debugUrl}/debug/health   metrics: ${registry.debugUrl}/metrics`,
        `  S3           ${s3.endpoint}  bucket ${s3Target.bucket}  (versitygw, data in ${s3.dataDir})`,
        `  logs         ${registry.logFile}`,
        `               ${stack.front.accessLogFile}   (the front's access log: accepted logins; its own output: ${stack.front.logFile})`,
        `               ${stack.front.refusedLogFile}   (the front's refusal log: no login, refused logins, /)`,
        `               ${s3.logFile}`,
        "",
        "  skopeo (no Docker needed; any source skopeo reads: oci:DIR:TAG, docker-archive:FILE, docker://...):",
        `    skopeo copy --preserve-digests --dest-creds '${username}:${password}' --dest-cert-dir ${certs.certDir} \\`,
        `      oci:PATH/TO/LAYOUT:TAG docker://${host}/team/app:TAG`,
        `    skopeo inspect --creds '${username}:${password}' --cert-dir ${certs.certDir} docker://${host}/${sample ?? "team/app:TAG"}`,
        "",
        "  Docker (trust the CA for this host:port first; Docker reads /etc/docker/certs.d/HOST:PORT/ca.crt):",
        `    sudo mkdir -p /etc/docker/certs.d/${host} && sudo cp ${certs.caCertFile} /etc/docker/certs.d/${host}/ca.crt`,
        `    printf '%s' '${password}' | docker login ${host} --username ${username} --password-stdin`,
        `    docker tag alpine ${host}/library/alpine && docker push ${host}/library/alpine`,
        "",
        "Ctrl-C (or SIGTERM/SIGHUP to npm) stops everything.",
        "",
    ].join("\n");
}

/** Writes to the console, which may be gone (a closed terminal after SIGHUP): never throws. */
function say(stream: NodeJS.WriteStream, text: string): void {
    try {
        stream.write(text);
    } catch {
        // nobody is reading any more
    }
}

async function main(): Promise<void> {
    const args = parseArgs(process.argv.slice(2));
    // A write to a closed pipe or terminal must not crash the stop that follows.
    process.stdout.on("error", () => undefined);
    process.stderr.on("error", () => undefined);
    // This script stops gracefully itself; the tracker's exit handler and the children's
    // parent-death signal (setpriv, see processes.ts) are the safety nets.
    const tracker = new ProcessTracker({ exitOnSignal: false });
    // Set later than the handlers that read them: a signal can come while the stack starts.
    const state: { stack?: Stack; stopping?: string } = {};
    const forceStop = (why: string) => {
        say(process.stdout, `\n${why}: killing everything now\n`);
        tracker.killAllNow();
        state.stack?.tmp.remove();
        process.exit(130);
    };
    const stop = async (reason: string, code: number) => {
        if (state.stopping === undefined) {
            state.stopping = reason;
            say(process.stdout, `\n${reason}: stopping the front, the registry, then the S3 server...\n`);
            // Bounded, so a draining registry cannot outlast a process manager's patience.
            setTimeout(() => forceStop("still not stopped after 15 s"), 15_000).unref();
        }
        const stack = state.stack;
        if (stack === undefined) {
            return; // still starting: main() stops it as soon as startStack returns
        }
        await stack.front.stop();
        await stack.registry.stop();
        await stack.s3.stop();
        await stack.stop();
        await tracker.dispose();
        say(process.stdout, "stopped; temp files removed\n");
        process.exit(code);
    };
    // A terminal's Ctrl-C (SIGINT), a process manager (SIGTERM), a closed terminal (SIGHUP);
    // a second signal means "now".
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        process.on(signal, () => (state.stopping === undefined ? void stop(signal, 0) : forceStop(`${signal} again`)));
    }
    // npm passes SIGHUP to nobody, and a `sh -c` wrapper (where the script does not exec) dies on
    // SIGTERM without passing it on: the only sign left then is that npm or the shell is gone.
    watchStarter((who) => {
        if (state.stopping === undefined) {
            void stop(`${who}, which started this, exited`, 0);
        }
    });

    say(process.stdout, "starting versitygw, the throwaway CA, the registry and its front...\n");
    const stack = await startStack({
        name: "registry-rehearse",
        tracker,
        redirect: args.redirect,
        ports: { front: args.port, registry: args.registryPort, debug: args.debugPort, s3: args.s3Port },
    });
    state.stack = stack;
    if (state.stopping !== undefined) {
        return stop(state.stopping, 0);
    }

    if (args.sample) {
        const layout = stack.tmp.join("sample-image");
        const image = await buildOciImage(layout, { layerSizes: [2_000_000, 500_000], tag: "latest", compression: "gzip" });
        const push = await stack.skopeo.copy(ociRef(layout, "latest"), dockerRef(stack.registry.host, "rehearsal/sample", "latest"), {
            destCreds: stack.registry.login,
            destCertDir: stack.certs.certDir,
        });
        if (push.code !== 0) {
            throw new Error(`pushing the sample image failed:\n${push.stderr}`);
        }
        process.stdout.write(`pushed rehearsal/sample:latest (${image.manifest.digest})\n`);
    }
    process.stdout.write(banner(stack, args.sample ? "rehearsal/sample:latest" : undefined));

    // If a server dies on its own, say so and stop the rest.
    for (const proc of [stack.front.process, stack.registry.process, stack.s3.process]) {
        void proc?.exited.then((status) => {
            if (state.stopping === undefined) {
                process.stderr.write(`\n${proc.name} exited unexpectedly (${JSON.stringify(status)}); its log ends:\n${proc.logTail(20)}\n`);
                void stop(`${proc.name} died`, 1);
            }
        });
    }
}

main().catch((error: unknown) => {
    process.stderr.write(`rehearse failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
});
