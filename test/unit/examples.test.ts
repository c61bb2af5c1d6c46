import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";

const root = join(__dirname, "..", "..");
const workflowText = readFileSync(join(root, "examples", "github-actions-push.yml"), "utf8");
const workflow = parse(workflowText);
const steps: { name: string; run?: string; env?: Record<string, string> }[] = workflow.jobs.push.steps;
const indexSource = readFileSync(join(root, "index.ts"), "utf8");

describe("the GitHub Actions example", () => {
    it("names only stack outputs that the program exports", () => {
        const documented = [...workflowText.matchAll(/pulumi stack output (\w+)/g)].map((m) => m[1]);
        assert.ok(documented.length >= 4);
        for (const output of documented) {
            assert.match(indexSource, new RegExp(`export const ${output}\\b`), `index.ts does not export ${output}`);
        }
    });

    it("passes secrets through env, never into script text", () => {
        for (const step of steps.filter((s) => s.run !== undefined)) {
            assert.doesNotMatch(step.run!, /\$\{\{/, `step "${step.name}" interpolates an expression into its script`);
        }
        const login = steps.find((s) => s.name === "Log in");
        assert.match(login!.run!, /--password-stdin/);
        assert.equal(login!.env!.REGISTRY_PASSWORD, "${{ secrets.REGISTRY_PASSWORD }}");
    });

    it("its scripts pass shellcheck", () => {
        const dir = mkdtempSync(join(tmpdir(), "workflow-"));
        for (const [i, step] of steps.filter((s) => s.run !== undefined).entries()) {
            const file = join(dir, `step-${i}.sh`);
            writeFileSync(file, `#!/bin/bash\n${step.run}`);
            const result = spawnSync("shellcheck", [file], { encoding: "utf8" });
            assert.ok(result.error === undefined, "shellcheck must be installed");
            assert.equal(result.status, 0, `${step.name}: ${result.stdout}`);
        }
    });
});
