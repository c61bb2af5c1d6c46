import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { parseCli } from "../../scripts/liveCheck/cli";
import { OPTIONAL_OUTPUTS, REQUIRED_OUTPUTS } from "../../scripts/liveCheck/outputs";
import { exportedOutputs } from "../support/programExports";

type Step = { name: string; uses?: string; run?: string; env?: Record<string, string> };
const root = join(__dirname, "..", "..");
const workflowText = readFileSync(join(root, "examples", "github-actions-push.yml"), "utf8");
const workflow = parse(workflowText);
const steps: Step[] = workflow.jobs.push.steps;
const indexSource = readFileSync(join(root, "index.ts"), "utf8");

/** The commented-out deploy workflow at the end (for the repository holding the Pulumi project), uncommented. */
const deployStart = workflowText.indexOf("\n# name: deploy-registry\n");
const deployText = workflowText.slice(deployStart + 1).split("\n").map((line) => line.replace(/^# ?/, "")).join("\n");
const deployWorkflow = deployStart < 0 ? undefined : parse(deployText);
const deploySteps: Step[] = deployWorkflow?.jobs?.deploy?.steps ?? [];
const runSteps = [...steps, ...deploySteps].filter((s) => s.run !== undefined);

describe("the GitHub Actions example", () => {
    it("names only stack outputs that the program exports", () => {
        const documented = [...workflowText.matchAll(/pulumi stack output (\w+)/g)].map((m) => m[1]);
        assert.ok(documented.length >= 4);
        for (const output of documented) {
            assert.ok(exportedOutputs(indexSource).includes(output), `index.ts does not export ${output}`);
        }
    });

    it("passes secrets through env, never into script text", () => {
        for (const step of runSteps) {
            assert.doesNotMatch(step.run!, /\$\{\{/, `step "${step.name}" interpolates an expression into its script`);
        }
        const login = steps.find((s) => s.name === "Log in");
        assert.match(login!.run!, /--password-stdin/);
        assert.equal(login!.env!.REGISTRY_PASSWORD, "${{ secrets.REGISTRY_PASSWORD }}");
    });

    it("its scripts pass shellcheck", () => {
        const dir = mkdtempSync(join(tmpdir(), "workflow-"));
        for (const [i, step] of runSteps.entries()) {
            const file = join(dir, `step-${i}.sh`);
            writeFileSync(file, `#!/bin/bash\n${step.run}`);
            const result = spawnSync("shellcheck", [file], { encoding: "utf8" });
            assert.ok(result.error === undefined, "shellcheck must be installed");
            assert.equal(result.status, 0, `${step.name}: ${result.stdout}`);
        }
    });

    it("its commented deploy workflow runs the live check right after `pulumi up`", () => {
        assert.ok(deployWorkflow !== undefined, "the example lost its commented deploy workflow");
        const names = deploySteps.map((s) => s.name ?? s.uses);
        const deploy = deploySteps.findIndex((s) => s.name === "Deploy");
        assert.match(deploySteps[deploy]?.run ?? "", /^pulumi up --yes --stack "\$\{STACK\}"$/, names.join(", "));
        const check = deploySteps[deploy + 1];
        assert.equal(check?.name, "Live check", `the step after Deploy: ${names.join(", ")}`);
        assert.match(check.run!, /^node --import tsx scripts\/live-check\.ts /);
        assert.ok(existsSync(join(root, "scripts", "live-check.ts")));
        // Its flags are ones the script takes (a typo would fail the job after every deploy).
        const args = check.run!.replace(/^node --import tsx scripts\/live-check\.ts /, "").replace(/"\$\{STACK\}"/g, "dev").split(/\s+/);
        assert.equal(parseCli(args).stack, "dev");
        assert.equal(deployWorkflow.jobs.deploy.env.STACK, "dev");
    });

    it("the live check reads only outputs the program exports", () => {
        for (const output of [...REQUIRED_OUTPUTS, ...OPTIONAL_OUTPUTS]) {
            assert.ok(exportedOutputs(indexSource).includes(output), `index.ts does not export ${output}, which the live check reads`);
        }
    });
});
