/**
 * How often the S3 stand-in fails an upload start under the rotation test's load, with and
 * without the upload that `RegistryLoad` holds open (test/harness/registryLoad.ts). versitygw's
 * posix backend deletes a directory when its last object goes; an upload starting in the same
 * repository at that moment gets "ExistingObjectIsDirectory". Run it again after bumping
 * versitygw to see whether the held upload is still needed.
 *
 *   node --import tsx test/integration/upload-race.ts [--minutes 5] [--workers 2] [--no-held-upload]
 *
 * Few workers race most: with many, some upload is nearly always open.
 */
import { parseArgs } from "node:util";
import { RegistryLoad } from "../harness/registryLoad";
import { startStack } from "../harness/stack";
import { sleep } from "../harness/wait";

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: {
            minutes: { type: "string", default: "5" },
            workers: { type: "string", default: "2" },
            "no-held-upload": { type: "boolean", default: false },
        },
    });
    const minutes = Number(values.minutes);
    const workers = Number(values.workers);
    if (!(minutes > 0) || !Number.isInteger(workers) || workers < 1) {
        throw new Error(`--minutes must be above 0 and --workers a whole number from 1; got --minutes ${values.minutes} --workers ${values.workers}`);
    }
    const holdUpload = !values["no-held-upload"];
    const stack = await startStack({ name: "upload-race" });
    try {
        process.stdout.write(`${workers} workers for ${minutes} min, ${holdUpload ? "holding" : "not holding"} an upload open...\n`);
        const load = await RegistryLoad.start({ baseUrl: `https://${stack.registry.host}`, ca: stack.certs.caCertPem, login: stack.registry.login, repository: "team/load", workers, layerBytes: 4096, holdUpload });
        await sleep(minutes * 60_000);
        await load.stop();
        const failures = load.failures();
        const races = failures.filter((f) => (f.error ?? "").includes("ExistingObjectIsDirectory"));
        process.stdout.write(`${load.requests.length} requests, ${failures.length} failed, ${races.length} of them ExistingObjectIsDirectory\n`);
        for (const f of failures.slice(0, 5)) {
            process.stdout.write(`  ${f.step} (worker ${f.worker}): ${(f.error ?? "").slice(0, 160)}\n`);
        }
    } finally {
        await stack.stop();
    }
}

main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
});
