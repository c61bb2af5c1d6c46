import * as fs from "node:fs";
import * as path from "node:path";
import type { ProcessTracker, RunResult } from "./processes";
import { systemBinary } from "./tools";

/**
 * skopeo, the Docker-less client: copies between OCI layouts (`oci:DIR:TAG`) and the registry
 * (`docker://HOST:PORT/REPO:TAG`). Pass `--preserve-digests` semantics by default so what
 * arrives is byte-identical to what was sent.
 */

export interface Credentials {
    username: string;
    password: string;
}

export interface CopyOptions {
    /** Basic-auth login for the destination (`--dest-creds`). */
    destCreds?: Credentials;
    /** Basic-auth login for the source (`--src-creds`). */
    srcCreds?: Credentials;
    /** Directory with `ca.crt` to trust for the destination (`--dest-cert-dir`). */
    destCertDir?: string;
    srcCertDir?: string;
    /** Default true. */
    preserveDigests?: boolean;
    timeoutMs?: number;
    /** More `skopeo copy` flags, placed before the references. */
    extraArgs?: string[];
}

/** A permissive signature policy in `dir`, so the machine's /etc/containers/policy.json does not matter. */
export function writeSkopeoPolicy(dir: string): string {
    const file = path.join(dir, "skopeo-policy.json");
    fs.writeFileSync(file, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
    return file;
}

export class Skopeo {
    readonly binary = systemBinary("skopeo");

    /** `workDir` holds skopeo's policy file and its auth file (kept empty: creds are per call). */
    constructor(
        private readonly tracker: ProcessTracker,
        private readonly workDir: string,
    ) {
        fs.mkdirSync(workDir, { recursive: true });
        writeSkopeoPolicy(workDir);
        fs.writeFileSync(path.join(workDir, "auth.json"), "{}");
    }

    private globalArgs(): string[] {
        return ["--policy", path.join(this.workDir, "skopeo-policy.json")];
    }

    private copyArgs(src: string, dest: string, o: CopyOptions): { args: string[]; secrets: string[] } {
        const args = [...this.globalArgs(), "copy", "--retry-times", "0"];
        const secrets: string[] = [];
        // An empty auth file, so no login on this machine leaks into a test that expects none.
        args.push("--src-authfile", path.join(this.workDir, "auth.json"), "--dest-authfile", path.join(this.workDir, "auth.json"));
        if (o.preserveDigests ?? true) {
            args.push("--preserve-digests");
        }
        if (o.destCreds) {
            args.push("--dest-creds", `${o.destCreds.username}:${o.destCreds.password}`);
            secrets.push(o.destCreds.password);
        }
        if (o.srcCreds) {
            args.push("--src-creds", `${o.srcCreds.username}:${o.srcCreds.password}`);
            secrets.push(o.srcCreds.password);
        }
        if (o.destCertDir) {
            args.push("--dest-cert-dir", o.destCertDir);
        }
        if (o.srcCertDir) {
            args.push("--src-cert-dir", o.srcCertDir);
        }
        args.push(...(o.extraArgs ?? []), src, dest);
        // skopeo creates an oci: layout directory but not its parents.
        const ociDest = /^oci:([^:]+)/.exec(dest);
        if (ociDest !== null) {
            fs.mkdirSync(path.dirname(ociDest[1]), { recursive: true });
        }
        return { args, secrets };
    }

    /** Runs `skopeo copy`; resolves with the result whatever the exit code (check `code`). */
    copy(src: string, dest: string, options: CopyOptions = {}): Promise<RunResult> {
        const { args, secrets } = this.copyArgs(src, dest, options);
        return this.tracker.run(this.binary, args, { timeoutMs: options.timeoutMs ?? 300_000, secrets });
    }

    /** Runs `skopeo copy` and throws (password redacted) unless it succeeds. */
    copyChecked(src: string, dest: string, options: CopyOptions = {}): Promise<RunResult> {
        const { args, secrets } = this.copyArgs(src, dest, options);
        return this.tracker.runChecked(this.binary, args, { timeoutMs: options.timeoutMs ?? 300_000, secrets });
    }

    /** `skopeo inspect --raw`: the manifest bytes as the registry serves them. */
    async inspectRaw(ref: string, options: { creds?: Credentials; certDir?: string } = {}): Promise<string> {
        const args = [...this.globalArgs(), "inspect", "--raw", "--retry-times", "0", "--authfile", path.join(this.workDir, "auth.json")];
        const secrets: string[] = [];
        if (options.creds) {
            args.push("--creds", `${options.creds.username}:${options.creds.password}`);
            secrets.push(options.creds.password);
        }
        if (options.certDir) {
            args.push("--cert-dir", options.certDir);
        }
        args.push(ref);
        return (await this.tracker.runChecked(this.binary, args, { timeoutMs: 60_000, secrets })).stdout;
    }
}

/** `oci:DIR:TAG` */
export const ociRef = (layoutDir: string, tag: string): string => `oci:${layoutDir}:${tag}`;
/** `docker://HOST/REPO:TAG` */
export const dockerRef = (host: string, repository: string, tag: string): string => `docker://${host}/${repository}:${tag}`;
