import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { describe, it } from "node:test";
import { TEARDOWN_COMMAND } from "../../components/registryService";
import { teardownAgainstVanishedHost } from "../support/teardown";

describe("the destroy-time command", () => {
    it("names the script by an absolute path that exists", () => {
        const path = /^node '(.*)'$/.exec(TEARDOWN_COMMAND)?.[1];
        assert.ok(path !== undefined && isAbsolute(path) && existsSync(path), TEARDOWN_COMMAND);
    });

    it("runs from another project's directory, as `pulumi destroy` there would run it", async () => {
        const elsewhere = mkdtempSync(join(tmpdir(), "consumer-project-"));
        const result = await teardownAgainstVanishedHost(TEARDOWN_COMMAND, elsewhere);
        // Exit 0: the host is gone, so there is nothing to remove. A path relative to the
        // working directory would fail here with "Cannot find module".
        assert.equal(result.status, 0, result.stderr);
        assert.doesNotMatch(result.stderr, /Cannot find module/);
    });
});
