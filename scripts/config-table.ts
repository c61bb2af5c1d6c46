/**
 * Prints the README's configuration table from Pulumi.yaml, so the two cannot drift: a unit
 * test fails when the README's table differs from this output.
 *
 *   npm run docs:config
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export interface ConfigKeySchema {
    type: "string" | "boolean" | "integer" | "array";
    description: string;
    default: unknown;
    items?: { type: string };
}

export function readConfigSchema(root = join(__dirname, "..")): Record<string, ConfigKeySchema> {
    return parse(readFileSync(join(root, "Pulumi.yaml"), "utf8")).config;
}

function shownDefault(value: unknown): string {
    if (value === "" || (Array.isArray(value) && value.length === 0)) {
        return "(none)";
    }
    return `\`${Array.isArray(value) ? JSON.stringify(value) : String(value)}\``;
}

export function renderConfigTable(schema: Record<string, ConfigKeySchema>): string {
    const rows = Object.entries(schema).map(([key, s]) => {
        const type = s.type === "array" ? `list of ${s.items?.type ?? "string"}` : s.type;
        return `| \`${key}\` | ${type} | ${shownDefault(s.default)} | ${s.description.replace(/\|/g, "\\|")} |`;
    });
    return ["| key | type | default | what it does |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

if (require.main === module) {
    process.stdout.write(renderConfigTable(readConfigSchema()) + "\n");
}
