import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import * as ts from "typescript";
import { resolveArgs } from "../../components/privateRegistryArgs";
import { readConfigSchema } from "../../scripts/config-table";

const root = join(__dirname, "..", "..");

type Observable = { promise(): Promise<unknown>; isKnown: Promise<boolean>; isSecret: Promise<boolean>; allResources?: Promise<unknown> };

/**
 * What an Output settles to, rejection included. A rejected Output also rejects the promises
 * Pulumi keeps beside its value (known-ness, secrecy, resources), which Pulumi's runner would report once in
 * a deploy; here they are observed too, so only the value's rejection is asserted on.
 */
function settled<T>(input: pulumi.Input<T>, ...related: pulumi.Output<unknown>[]): Promise<T> {
    const subject = pulumi.output(input);
    for (const output of [subject, ...related] as unknown as Observable[]) {
        for (const promise of [output.promise(), output.isKnown, output.isSecret, output.allResources]) {
            if (promise instanceof Promise) {
                promise.catch(() => undefined);
            }
        }
    }
    return (subject as unknown as { promise(): Promise<T> }).promise();
}

/** Each field of PrivateRegistryArgs with its type text and JSDoc, read from the source. */
function argsFields(): Map<string, { type: string; doc: string }> {
    const file = join(root, "components", "privateRegistryArgs.ts");
    const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const fields = new Map<string, { type: string; doc: string }>();
    source.forEachChild((node) => {
        if (ts.isInterfaceDeclaration(node) && node.name.text === "PrivateRegistryArgs") {
            for (const member of node.members) {
                if (ts.isPropertySignature(member) && member.type !== undefined) {
                    const doc = ts.getJSDocCommentsAndTags(member).map((d) => d.getText(source)).join(" ");
                    fields.set(member.name.getText(source), { type: member.type.getText(source), doc });
                }
            }
        }
    });
    return fields;
}

describe("PrivateRegistryArgs", () => {
    it("has a documented field for every setting in Pulumi.yaml, with the same default", () => {
        const fields = argsFields();
        for (const [key, schema] of Object.entries(readConfigSchema(root))) {
            const field = fields.get(key);
            assert.ok(field !== undefined, `no PrivateRegistryArgs.${key}`);
            const shownDefault = Array.isArray(schema.default) ? JSON.stringify(schema.default).replace(/","/g, '", "') : JSON.stringify(schema.default);
            if (schema.default === "" || key === "registryVersion" || key === "registryImageDigest" || key === "bucketName") {
                assert.match(field.doc, /Default[: ]/, `${key} documents its default`);
            } else {
                assert.ok(field.doc.includes(`Default \`${typeof schema.default === "string" ? `"${schema.default}"` : shownDefault}\``), `${key}: JSDoc ${field.doc} lacks the default ${shownDefault}`);
            }
        }
        assert.ok(fields.has("awsRegion"));
    });

    it("takes an Output for every setting that does not decide which resources exist", () => {
        // acmeServerCa decides whether an uptime check can judge the certificate, so whether one exists.
        const plain = ["storage", "exposure", "tls", "domain", "dnsZone", "forceDestroy", "alertEmails", "users", "credentialRotation", "acmeServerCa", "replicas"];
        for (const [key, { type }] of argsFields()) {
            assert.equal(type.startsWith("pulumi.Input<"), !plain.includes(key), `${key}: ${type}`);
        }
    });
});

describe("validation of the component's arguments", () => {
    it("refuses a bad plain value at once, naming the argument, before anything is declared", () => {
        assert.throws(
            () => resolveArgs("registry", { awsRegion: "us-east-1", dropletSize: "s-1vcpu-512mb-10gb" }),
            (e: Error) =>
                pulumi.RunError.isInstance(e) &&
                e.message.startsWith('PrivateRegistry "registry": invalid arguments (nothing was created):\n  - dropletSize must have a disk of at least 25 GB'),
        );
    });

    it("checks an Output once it resolves, with the same rule and message", async () => {
        const resolved = resolveArgs("registry", { awsRegion: "us-east-1", dropletSize: pulumi.output("s-1vcpu-512mb-10gb") });
        assert.equal(resolved.known.dropletSize, "s-1vcpu-1gb", "the default stands in until the value is known");
        await assert.rejects(settled(resolved.value("dropletSize"), resolved.all), (e: Error) => pulumi.RunError.isInstance(e) && /dropletSize must have a disk of at least 25 GB/.test(e.message));
        const good = resolveArgs("registry", { awsRegion: "us-east-1", dropletSize: pulumi.output("s-2vcpu-2gb") });
        assert.equal(await settled(good.value("dropletSize")), "s-2vcpu-2gb");
    });

    it("resolves a collection schedule given as an Output with replicas, and judges its form once known", async () => {
        const several = { awsRegion: "us-east-1", tls: "private-ca" as const, replicas: 2 };
        const off = resolveArgs("registry", { ...several, gcSchedule: pulumi.output("") });
        assert.equal(await settled(off.value("gcSchedule")), undefined);
        const on = resolveArgs("registry", { ...several, gcSchedule: pulumi.output("Sun *-*-* 03:00:00") });
        assert.equal(await settled(on.value("gcSchedule"), on.all), "Sun *-*-* 03:00:00");
        const bad = resolveArgs("registry", { ...several, gcSchedule: pulumi.output("Sundays") });
        await assert.rejects(settled(bad.value("gcSchedule"), bad.all), /gcSchedule must be a systemd calendar time/);
    });

    it("checks combinations across plain and Output values: Let's Encrypt behind a narrowed list", async () => {
        const resolved = resolveArgs("registry", { awsRegion: "us-east-1", domain: "registry.example.com", httpsAllowedCidrs: pulumi.output(["198.51.100.0/24"]) });
        await assert.rejects(settled(resolved.value("httpsAllowedCidrs"), resolved.all), /httpsAllowedCidrs must include "0.0.0.0\/0"/);
    });

    it("derives the partition from a region known only later", async () => {
        const resolved = resolveArgs("registry", { awsRegion: pulumi.output("cn-north-1") });
        assert.equal(await settled(resolved.value("awsPartition")), "aws-cn");
    });

    it("refuses an Output where the value decides which resources exist", () => {
        assert.throws(
            () => resolveArgs("registry", { awsRegion: "us-east-1", forceDestroy: pulumi.output(true) as unknown as boolean }),
            /forceDestroy must be a plain value, not an Output: it decides which resources are declared/,
        );
    });
});
