import type { StepContext, StepOutcome } from "./checks";
import { describeResponse } from "./registryClient";
import { commonName, probeTls } from "./tls";

/** The steps that need no image: is the registry there, does it check the login, can it see its storage. */

export async function tlsStep({ target, options }: StepContext): Promise<StepOutcome> {
    if (target.tunnel) {
        return { ok: true, detail: `skipped: ${target.registryUrl.origin} is plain HTTP through the SSH tunnel, which encrypts it instead` };
    }
    const trust = target.caCertificate !== undefined ? "the caCertificate output" : "the default trust store";
    let probe;
    try {
        probe = await probeTls(target.registryUrl, { ca: target.caCertificate, timeoutMs: options.timeoutMs });
    } catch (error) {
        const e = error as NodeJS.ErrnoException;
        return { ok: false, detail: `${target.registryHost}: ${e.code !== undefined && !e.message.includes(e.code) ? `${e.code}: ` : ""}${e.message} (verifying against ${trust})` };
    }
    const days = Math.floor(probe.daysLeft);
    const inDays = `${days} day${days === 1 ? "" : "s"}`;
    const until = new Date(probe.leaf.validTo).toISOString().slice(0, 10);
    const issuer = commonName(probe.leaf.issuer);
    if (probe.daysLeft < options.minDays) {
        return {
            ok: false,
            detail: `the certificate for ${target.registryHost} (issuer "${issuer}") verifies against ${trust} but expires in ${inDays} (${until}), under --min-days ${options.minDays}`,
        };
    }
    return { ok: true, detail: `${target.registryHost} certificate from "${issuer}" verifies against ${trust} (${probe.protocol}); expires in ${inDays} (${until})` };
}

export async function authStep({ target, client }: StepContext): Promise<StepOutcome> {
    const anonymous = await client.call("/v2/", { auth: false });
    if (anonymous.status !== 401) {
        return { ok: false, detail: `/v2/ without credentials answered ${describeResponse(anonymous)}; want 401 (anyone could use this registry)${storageHint(anonymous.status)}` };
    }
    // A 200 from something that is not a registry (a captive proxy, a default web page) is no proof.
    if (anonymous.headers["docker-distribution-api-version"] !== "registry/2.0") {
        return { ok: false, detail: `/v2/ answered 401 but without the Docker-Distribution-API-Version header: ${target.registryUrl.origin} does not look like a registry` };
    }
    const authenticated = await client.call("/v2/");
    if (authenticated.status !== 200) {
        const why = authenticated.status === 401 ? " (the registry refuses registryUsername/registryPassword: is the stack's password the one the droplet runs?)" : storageHint(authenticated.status);
        return { ok: false, detail: `/v2/ with the login answered ${describeResponse(authenticated)}; want 200${why}` };
    }
    return { ok: true, detail: `/v2/ answers 401 without credentials and 200 as "${target.username}"` };
}

export async function storageStep({ client }: StepContext): Promise<StepOutcome> {
    // Listing the catalog reads the bucket; /v2/ alone does not touch storage.
    const catalog = await client.call("/v2/_catalog?n=1");
    if (catalog.status !== 200) {
        return {
            ok: false,
            detail: `the registry cannot list its S3 storage (check the bucket, its region and the storage user's key): /v2/_catalog?n=1 answered ${describeResponse(catalog)}`,
        };
    }
    let listed = "";
    try {
        const repositories = (JSON.parse(catalog.body.toString("utf8")) as { repositories?: unknown }).repositories;
        listed = Array.isArray(repositories) ? (repositories.length > 0 ? ", listing repositories" : ", no repositories yet") : "";
    } catch {
        return { ok: false, detail: `/v2/_catalog?n=1 answered 200 but not with JSON: ${describeResponse(catalog)}` };
    }
    return { ok: true, detail: `/v2/_catalog?n=1 answers 200: the registry reads its S3 storage${listed}` };
}

/** The registry's storage health check turns every API answer into 503 once S3 fails repeatedly. */
function storageHint(status: number): string {
    return status === 503 ? " (503: the registry reports its S3 storage unhealthy)" : "";
}
