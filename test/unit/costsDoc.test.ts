import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { renderCostsMarkdown } from "../../bench/cost-table";

/**
 * docs/COSTS.md is generated from components/cost.ts; a price or model change that forgets to
 * regenerate it would publish numbers the code no longer computes.
 */

const root = join(__dirname, "..", "..");
const doc = join(root, "docs", "COSTS.md");

function check(dir: string) {
    return spawnSync(process.execPath, ["--import", "tsx", join(dir, "bench", "cost-table.ts"), "--check"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
}

describe("docs/COSTS.md", () => {
    it("is exactly what bench/cost-table.ts renders today", () => {
        const rendered = renderCostsMarkdown();
        const current = readFileSync(doc, "utf8");
        if (current !== rendered) {
            // Name the first differing line: the whole file is too long to read in a diff of strings.
            const a = current.split("\n");
            const b = rendered.split("\n");
            const at = a.findIndex((line, i) => line !== b[i]);
            assert.fail(`docs/COSTS.md is stale at line ${at + 1}: run node --import tsx bench/cost-table.ts\n  file:     ${a[at]}\n  rendered: ${b[at]}`);
        }
    });

    it("states the numbers the model computes, not typed ones", () => {
        const rendered = renderCostsMarkdown();
        assert.match(rendered, /^# Monthly cost/);
        assert.match(rendered, /\| 10 GB \| \$\d+\.\d\d \|/, "the table has computed rows");
    });

    it("passes the generator's own --check", () => {
        const result = check(root);
        assert.equal(result.status, 0, result.stderr);
    });

    it("--check fails on a stale copy, so the check above can fail at all", () => {
        // A copy of just what the generator reads, with one number in the doc changed.
        const dir = mkdtempSync(join(tmpdir(), "costs-doc-"));
        for (const sub of ["bench", "components"]) cpSync(join(root, sub), join(dir, sub), { recursive: true });
        cpSync(join(root, "package.json"), join(dir, "package.json"));
        symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
        mkdirSync(join(dir, "docs"));
        const current = readFileSync(doc, "utf8");
        const stale = current.replace(/\$\d+\.\d\d/, "$999.99");
        assert.notEqual(stale, current);
        writeFileSync(join(dir, "docs", "COSTS.md"), stale);
        const result = check(dir);
        assert.equal(result.status, 1);
        assert.match(result.stderr, /docs\/COSTS.md is stale/);
    });
});
