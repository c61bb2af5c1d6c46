import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";

describe("loading the program the way `pulumi up` does", () => {
    it("compiles with Pulumi's ts-node registration and declares every resource and export", () => {
        const result = spawnSync(process.execPath, [join(__dirname, "..", "support", "loadLikePulumi.cjs")], { encoding: "utf8", timeout: 120_000 });
        assert.equal(result.status, 0, result.stderr);
        const lastLine = result.stdout.trim().split("\n").at(-1) ?? "";
        const summary = JSON.parse(lastLine) as { exports: string[]; resources: number };
        assert.ok(summary.exports.includes("registryPassword") && summary.exports.includes("dockerConfigJson"), lastLine);
        assert.ok(summary.resources >= 30, `only ${summary.resources} resources declared`);
    });
});
