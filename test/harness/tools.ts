import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** Repository root (this file is test/harness/tools.ts). */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** Where scripts/install-rehearsal-tools.sh puts the binaries it builds. */
export const CACHE_BIN = path.join(REPO_ROOT, ".cache", "bin");

const INSTALL_HINT = "run scripts/install-rehearsal-tools.sh first";

/** Path of a binary built by the install script; throws a clear error if missing. */
export function cachedBinary(name: "registry" | "versitygw" | "caddy" | "oras" | "regctl"): string {
    const file = path.join(CACHE_BIN, name);
    if (!fs.existsSync(file)) {
        throw new Error(`${file} is missing: ${INSTALL_HINT}`);
    }
    return file;
}

/** Absolute path of a program on PATH (or in the sbin directories); throws a clear error if missing. */
export function systemBinary(name: string): string {
    const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin"];
    for (const dir of dirs) {
        if (dir === "") {
            continue;
        }
        const candidate = path.join(dir, name);
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            return candidate;
        } catch {
            // keep looking
        }
    }
    throw new Error(`${name} is not installed: ${INSTALL_HINT}`);
}

/**
 * A fresh private directory under the OS temp dir. `remove()` deletes it; call it from `after`.
 * Set KEEP_REHEARSAL_TMP=1 to keep directories for debugging (their paths are printed).
 */
export interface TempDir {
    path: string;
    /** A path inside the directory. */
    join(...parts: string[]): string;
    remove(): void;
}

export function makeTempDir(prefix: string): TempDir {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix.replace(/[^A-Za-z0-9_-]/g, "-")}-`));
    return {
        path: dir,
        join: (...parts: string[]) => path.join(dir, ...parts),
        remove: () => {
            if (process.env.KEEP_REHEARSAL_TMP === "1") {
                process.stderr.write(`[harness] keeping ${dir}\n`);
                return;
            }
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
