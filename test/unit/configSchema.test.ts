import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DEFAULTS } from "../../components/settings";
import { loadSettings } from "../../components/stackConfig";
import { readConfigSchema, renderConfigTable } from "../../scripts/config-table";

const root = join(__dirname, "..", "..");
const schema = readConfigSchema(root);

/** Every project key the code reads, found by loading settings through a recording source. */
function keysTheCodeReads(): string[] {
    const read = new Set<string>();
    loadSettings({ get: (k) => (read.add(k), undefined) }, new Map([["region", "us-east-1"]]));
    return [...read].sort();
}

describe("Pulumi.yaml config schema", () => {
    it("declares exactly the keys the code reads", () => {
        assert.deepEqual(Object.keys(schema).sort(), keysTheCodeReads());
    });

    it("gives every key a type, a description and a default", () => {
        for (const [key, s] of Object.entries(schema)) {
            assert.ok(["string", "boolean", "integer", "array"].includes(s.type), `${key} type`);
            assert.ok(s.description.length > 10, `${key} description`);
            assert.ok("default" in s, `${key} default`);
        }
    });

    it("has the same defaults as the code", () => {
        for (const [key, s] of Object.entries(schema)) {
            const codeDefault = (DEFAULTS as Record<string, unknown>)[key];
            if (codeDefault === undefined) {
                assert.equal(s.default, "", `${key} has no code default, so its schema default must be empty`);
            } else {
                assert.deepEqual(s.default, codeDefault, `${key}`);
            }
        }
    });

    it("its defaults, fed back as config, load cleanly", () => {
        const asConfig = new Map(Object.entries(schema).map(([k, s]) => [k, typeof s.default === "string" ? s.default : JSON.stringify(s.default)]));
        const settings = loadSettings(asConfig, new Map([["region", "us-east-1"]]));
        assert.equal(settings.exposure, "public");
        asConfig.set("exposure", "tunnel");
        assert.equal(loadSettings(asConfig, new Map([["region", "us-east-1"]])).tls, "none", "tunnel mode with every other key at its schema default");
    });

    it("matches the README's configuration table", () => {
        const readme = readFileSync(join(root, "README.md"), "utf8");
        assert.ok(readme.includes(renderConfigTable(schema)), "README's table is stale: paste the output of `npm run docs:config`");
    });
});

describe("the committed dev stack", () => {
    it("sets no plaintext secret and loads cleanly", () => {
        const text = readFileSync(join(root, "Pulumi.dev.yaml"), "utf8");
        assert.doesNotMatch(text, /token:\s*[^\s#]|password|secretkey|PRIVATE KEY/i);
        const { parse } = require("yaml") as typeof import("yaml");
        const config: Record<string, unknown> = parse(text).config;
        const project = new Map(
            Object.entries(config)
                .filter(([k]) => k.startsWith("private-registry:"))
                .map(([k, v]) => [k.slice("private-registry:".length), String(v)]),
        );
        const settings = loadSettings(project, new Map([["region", String(config["aws:region"])]]));
        assert.equal(settings.forceDestroy, true, "the example stack cleans up its bucket on destroy");
    });
});
