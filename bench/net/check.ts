import * as fs from "node:fs";
import * as path from "node:path";
import { ProcessTracker } from "../../test/harness/processes";
import { makeTempDir, REPO_ROOT } from "../../test/harness/tools";
import type { DropletCheckResult } from "./checkDroplet";
import { formatProbe, judgeProbe, runProbe } from "./probe";
import { profileByName, PROFILES } from "./profiles";
import { NetworkRig } from "./rig";

/**
 * Builds the network rig for a profile, checks that its links behave as configured, and runs the
 * registry over it once: S3 in `s3`, registry + front in `droplet`, a push and a redirected pull
 * from `ci`. Then tears everything down (also on Ctrl-C and on errors: the tracker's cleanups).
 *
 *   node --import tsx bench/net/check.ts [--profile near|far]
 */

function parseProfile(argv: string[]): string {
    const i = argv.indexOf("--profile");
    if (i < 0) {
        return "near";
    }
    const name = argv[i + 1];
    if (name === undefined) {
        throw new Error(`--profile needs a name: ${Object.keys(PROFILES).join(", ")}`);
    }
    return name;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

async function main(): Promise<number> {
    const profile = profileByName(parseProfile(process.argv.slice(2)));
    const tracker = new ProcessTracker();
    const tmp = makeTempDir(`bench-net-${profile.name}`);
    // Registered first, so it runs last: after the processes that write there are gone.
    tracker.addCleanup("temp dir", () => tmp.remove(), () => tmp.remove());
    try {
        const started = Date.now();
        process.stdout.write(`profile ${profile.name}: ${profile.description}\n`);
        const rig = await NetworkRig.create(tracker, profile, tmp.join("rig"));
        const built = Date.now();
        const measurements = await runProbe(rig, tracker);
        process.stdout.write(`\nrig built in ${seconds(built - started)}, probed in ${seconds(Date.now() - built)}\n${formatProbe(profile, measurements)}\n`);
        const verdict = judgeProbe(profile, measurements);
        if (!verdict.ok) {
            process.stderr.write(`\nthe rig does not behave as configured; not running the registry over it:\n${verdict.problems.join("\n")}\n`);
            return 1;
        }
        const layoutFile = tmp.join("rig.json");
        fs.writeFileSync(layoutFile, JSON.stringify(rig.layout));
        const resultFile = tmp.join("result.json");
        const script = path.join(__dirname, "checkDroplet.ts");
        const [head, ...rest] = rig.prefix("droplet");
        const inner = tracker.start("droplet-check", head, [...rest, process.execPath, "--import", "tsx", script, layoutFile, tmp.join("droplet"), resultFile], {
            logFile: tmp.join("droplet-check.log"),
            cwd: REPO_ROOT,
        });
        const exit = await inner.exited;
        if (exit.code !== 0 || !fs.existsSync(resultFile)) {
            process.stderr.write(`\nthe registry check inside the droplet namespace failed (${JSON.stringify(exit)}):\n${inner.logTail(40)}\n`);
            return 1;
        }
        const r = JSON.parse(fs.readFileSync(resultFile, "utf8")) as DropletCheckResult;
        process.stdout.write(
            [
                "",
                `front as seen from ci: ${r.frontFromCi}; S3 from droplet: ${r.s3FromDroplet}; S3 from ci: ${r.s3FromCi}`,
                `push of one ${mb(r.layerBytes)} layer from ci through the front: ${seconds(r.pushMs)}`,
                `pull with redirect: ${seconds(r.pullMs)}; ${r.redirects} blob GET(s) redirected; ci received ${mb(r.pullBytesFromS3)} over ci<->s3 and ${mb(r.pullBytesFromDroplet)} over ci<->droplet`,
                `pulled image matches the pushed one: ${r.verified ? "yes" : "NO"}`,
                `total ${seconds(Date.now() - started)}`,
                "",
            ].join("\n"),
        );
        // The layer must have come from S3 over the runner's own link, not through the droplet.
        const fromS3 = r.pullBytesFromS3 >= r.layerBytes && r.pullBytesFromDroplet < r.layerBytes;
        return r.verified && r.redirects > 0 && fromS3 ? 0 : 1;
    } finally {
        await tracker.dispose();
    }
}

main().then(
    (code) => process.exit(code),
    (error: unknown) => {
        process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exit(1);
    },
);
