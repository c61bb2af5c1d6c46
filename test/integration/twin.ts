/**
 * `npm run twin`: a droplet twin deployed as `pulumi up` deploys a droplet (test/harness/twinLab.ts),
 * left up until Ctrl-C, SIGTERM or SIGHUP. Prints how to reach it from the CI runner's and the
 * deployer's namespaces, writes the stack outputs where `npm run check` reads them, and runs
 * that check once. Needs root and `npm run setup` (the twin's root filesystem).
 *
 * Stack config for the twin (after `npm run twin --`): `--config KEY=VALUE`, repeatable, as
 * `pulumi config set` would hold it (`--config private-registry:gcSchedule=""`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { TwinLab } from "../harness/twinLab";

function parseConfig(argv: string[]): Record<string, string> {
    const config: Record<string, string> = {};
    for (let i = 0; i < argv.length; i++) {
        const value = argv[i] === "--config" ? argv[++i] : undefined;
        const eq = value?.indexOf("=") ?? -1;
        if (value === undefined || eq < 1) {
            throw new Error(`usage: npm run twin -- [--config KEY=VALUE ...]; got ${JSON.stringify(argv[i])}`);
        }
        config[value.slice(0, eq)] = value.slice(eq + 1);
    }
    return config;
}

async function main(): Promise<void> {
    const config = parseConfig(process.argv.slice(2));
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const started = Date.now();
    log("[twin] starting: network namespaces, S3, the program planned under mocks, the twin booted (about 2 minutes)");
    const lab = await TwinLab.start({ name: "twin", config, log });
    let stopping = false;
    const stop = (signal: string) => {
        if (stopping) {
            process.exit(1);
        }
        stopping = true;
        log(`[twin] ${signal}: powering the twin off and removing its namespaces`);
        lab.dispose().then(() => process.exit(0), (e: unknown) => {
            log(`[twin] cleanup failed: ${e instanceof Error ? e.message : String(e)}`);
            process.exit(1);
        });
    };
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        process.on(signal, () => stop(signal));
    }
    await lab.deploy();

    // Secrets: kept in the lab's private directory, removed with it.
    const outputsFile = lab.tmp.join("stack-outputs.json");
    fs.writeFileSync(outputsFile, JSON.stringify(lab.plan.outputs, null, 2), { mode: 0o600 });
    const keyFile = lab.tmp.join("registry_key");
    fs.writeFileSync(keyFile, String(lab.plan.outputs.sshPrivateKey), { mode: 0o600 });
    const caFile = lab.tmp.join("ca.crt");
    fs.writeFileSync(caFile, String(lab.plan.outputs.caCertificate));
    const ns = (role: string) => lab.net.hosts[role].ns;
    const host = String(lab.plan.outputs.registryHost);
    const root = path.resolve(__dirname, "..", "..");

    process.stdout.write(`
The droplet twin is deployed (${((Date.now() - started) / 1000).toFixed(0)} s): https://${host}
  stack outputs (secrets; removed on exit): ${outputsFile}
  the stack's CA:                           ${caFile}

From the CI runner's namespace (the registry's CA and S3's trusted by the live check):
  ip netns exec ${ns("client")} env NODE_EXTRA_CA_CERTS=${lab.s3.certs.caCertFile} node --import tsx ${root}/scripts/live-check.ts < ${outputsFile}

SSH from the deployer's namespace (the only one the firewall admits to port 22):
  ip netns exec ${ns("deployer")} ssh -i ${keyFile} -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no root@${host}

The twin's own shell:
  nsenter -t ${lab.twin.pid ?? "(not running)"} -a /bin/bash

`);
    const check = await lab.liveCheck("client");
    process.stdout.write(`npm run check, from the CI runner's namespace:\n${check.stdout}`);
    process.stdout.write(`\nUp until Ctrl-C.\n`);
}

main().catch((error: unknown) => {
    process.stderr.write(`[twin] ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
});
