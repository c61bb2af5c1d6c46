import { execFileSync } from "node:child_process";

/** A module's version from a Go binary's build info (`go version -m`); "unknown" without Go. */
export function goModuleVersion(binary: string, module: string): string {
    for (const go of ["go", "/usr/local/go/bin/go"]) {
        try {
            const out = execFileSync(go, ["version", "-m", binary], { encoding: "utf8" });
            const line = out.split("\n").find((l) => l.trim().startsWith(`mod\t${module}\t`));
            if (line) {
                return line.trim().split(/\s+/)[2] ?? "unknown";
            }
        } catch {
            // the next go, or unknown
        }
    }
    return "unknown";
}
