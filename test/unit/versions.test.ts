import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

import { REGISTRY_IMAGE_DIGESTS, REGISTRY_IMAGE_REPOSITORY, REGISTRY_VERSION, registryImageReference } from "../../components/versions";

describe("pinned registry version", () => {
    it("is an exact release with a known image index digest", () => {
        assert.match(REGISTRY_VERSION, /^\d+\.\d+\.\d+$/);
        for (const [version, digest] of Object.entries(REGISTRY_IMAGE_DIGESTS)) {
            assert.match(version, /^\d+\.\d+\.\d+$/, `digest key ${version}`);
            assert.match(digest, /^sha256:[0-9a-f]{64}$/, `digest of ${version}`);
        }
        assert.ok(REGISTRY_IMAGE_DIGESTS[REGISTRY_VERSION], `no image digest recorded for ${REGISTRY_VERSION}`);
    });

    it("renders tag and tag@digest references", () => {
        const digest = REGISTRY_IMAGE_DIGESTS[REGISTRY_VERSION];
        assert.equal(registryImageReference(REGISTRY_VERSION), `${REGISTRY_IMAGE_REPOSITORY}:${REGISTRY_VERSION}`);
        assert.equal(registryImageReference(REGISTRY_VERSION, digest), `${REGISTRY_IMAGE_REPOSITORY}:${REGISTRY_VERSION}@${digest}`);
    });

    it("stays a one-line literal, which install-rehearsal-tools.sh reads with sed before npm ci", () => {
        const source = fs.readFileSync(path.join(__dirname, "..", "..", "components", "versions.ts"), "utf8");
        const literal = /^export const REGISTRY_VERSION = "([^"]*)";/m.exec(source);
        assert.equal(literal?.[1], REGISTRY_VERSION);
    });
});
