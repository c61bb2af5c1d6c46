import { DEFAULTS, Settings, StorageKind } from "./settings";
import { STORAGE_HEALTH_INTERVAL_SECONDS } from "./render/registryConfig";

/**
 * Monthly cost model: this project (droplet + S3, or droplet + Spaces) next to DigitalOcean Container Registry and
 * AWS ECR. Pure: plain numbers in, a breakdown in USD out; no Pulumi, no network.
 *
 * Every price lives in {@link PRICES}, one dated table with a source URL per price. When a
 * provider changes a price, edit that table (and its `pricesAsOf`), then regenerate
 * docs/COSTS.md with `node --import tsx bench/cost-table.ts`.
 *
 * Units: "GB" throughout, as the providers' price lists use it (DigitalOcean bills GiB; the
 * difference is under 7.4% and is ignored). A month is 730 hours, the convention AWS bills by.
 */

/** One price, where it comes from, and anything a reader must know to use it. */
export interface Price {
    readonly usd: number;
    /** What one `usd` buys, e.g. "GB-month", "1000 requests", "month". */
    readonly per: string;
    readonly source: string;
    readonly note?: string;
}

export interface DropletPrice extends Price {
    readonly vcpus: number;
    readonly memoryMb: number;
    /** Outbound transfer included per month (inbound is free). */
    readonly includedTransferGb: number;
}

export interface DocrTier extends Price {
    readonly slug: "starter" | "basic" | "professional";
    /** 0 means unlimited. */
    readonly includedRepositories: number;
    readonly includedStorageGb: number;
    readonly includedTransferGb: number;
    /** When false the tier is a hard cap: more storage needs a larger tier. */
    readonly allowsStorageOverage: boolean;
}

const DO_DROPLET_PRICING = "https://www.digitalocean.com/pricing/droplets";
const DO_BANDWIDTH_BILLING = "https://docs.digitalocean.com/platform/billing/bandwidth/";
const DOCR_PRICING = "https://www.digitalocean.com/pricing/container-registry";
const DOCR_API_SUBSCRIPTION = "https://docs.digitalocean.com/reference/api/digitalocean/#tag/Container-Registry";
const S3_PRICING = "https://aws.amazon.com/s3/pricing/";
const AWS_FREE_TRANSFER = "https://aws.amazon.com/blogs/aws/aws-free-tier-data-transfer-expansion-100-gb-from-regions-and-1-tb-from-amazon-cloudfront-per-month/";
const ECR_PRICING = "https://aws.amazon.com/ecr/pricing/";
const SPACES_PRICING = "https://www.digitalocean.com/pricing/spaces-object-storage";
/** DigitalOcean's own answer on how the Spaces subscription is billed, with the overage rates. */
const SPACES_BILLING_ANSWER = "https://www.digitalocean.com/community/questions/prices-explanation-5-per-space-or-5-for-spaces";

/** The Spaces subscription: one flat price per account, whatever the number of buckets. */
export interface SpacesSubscription extends Price {
    readonly includedStorageGb: number;
    /** Outbound transfer from Spaces included per month. */
    readonly includedTransferGb: number;
}

/**
 * The price table: list prices in USD before tax, each with the page it comes from. They were
 * taken as of `pricesAsOf` and not re-read from the live pages since (the machine that produced
 * this table has no internet access). Entries whose note says "assumption" are figures the cited
 * page does not state; check them first when this table is next refreshed.
 */
export const PRICES = {
    pricesAsOf: "2026-11-28",
    currency: "USD",
    hoursPerMonth: 730,
    digitalocean: {
        droplets: {
            "s-1vcpu-1gb": { usd: 6, per: "month", vcpus: 1, memoryMb: 1024, includedTransferGb: 1000, source: DO_DROPLET_PRICING },
            "s-1vcpu-2gb": { usd: 12, per: "month", vcpus: 1, memoryMb: 2048, includedTransferGb: 2000, source: DO_DROPLET_PRICING },
            "s-2vcpu-2gb": { usd: 18, per: "month", vcpus: 2, memoryMb: 2048, includedTransferGb: 3000, source: DO_DROPLET_PRICING },
            "s-2vcpu-4gb": { usd: 24, per: "month", vcpus: 2, memoryMb: 4096, includedTransferGb: 4000, source: DO_DROPLET_PRICING },
        } satisfies Record<string, DropletPrice>,
        transferOverage: {
            usd: 0.01,
            per: "GB",
            source: DO_BANDWIDTH_BILLING,
            note: "assumption: outbound droplet transfer beyond the included allowance",
        } satisfies Price,
        /** Droplet monitoring alerts are free; each uptime check is billed (its alerts are not). */
        monitoringAlert: { usd: 0, per: "month", source: "https://docs.digitalocean.com/products/monitoring/details/limits/", note: "Monitoring is a free, opt-in service" } satisfies Price,
        uptimeCheck: { usd: 1, per: "check-month", source: "https://docs.digitalocean.com/products/uptime/details/pricing/", note: "billed hourly; its alerts cost nothing" } satisfies Price,
        /** With replicas only: the balancer at its default size of one node. */
        loadBalancerNode: {
            usd: 10,
            per: "node-month",
            source: "https://docs.digitalocean.com/products/networking/load-balancers/",
            note: "one node, the default size (read 2026-12-07: \"$10.00 per month for each node\"); bandwidth neutral: the droplets' transfer is billed as without it",
        } satisfies Price,
        spaces: {
            subscription: {
                usd: 5,
                per: "month",
                includedStorageGb: 250,
                includedTransferGb: 1024,
                source: SPACES_PRICING,
                note: `250 GiB stored and 1 TiB out across all of the account's buckets, as DigitalOcean's answer at ${SPACES_BILLING_ANSWER} puts it (read 2026-12-07); no request charges`,
            } satisfies SpacesSubscription,
            storageOverage: { usd: 0.02, per: "GB-month", source: SPACES_PRICING, note: `per GiB beyond the included 250 (${SPACES_BILLING_ANSWER})` } satisfies Price,
            transferOverage: {
                usd: 0.01,
                per: "GB",
                source: SPACES_PRICING,
                note: `per GiB out beyond the included 1 TiB (${SPACES_BILLING_ANSWER}); assumption: transfer from Spaces to the droplet counts as outbound too`,
            } satisfies Price,
        },
        containerRegistry: {
            tiers: [
                { slug: "starter", usd: 0, per: "month", includedRepositories: 1, includedStorageGb: 0.5, includedTransferGb: 0.5, allowsStorageOverage: false, source: DOCR_PRICING },
                {
                    slug: "basic",
                    usd: 5,
                    per: "month",
                    includedRepositories: 5,
                    includedStorageGb: 5,
                    includedTransferGb: 5,
                    allowsStorageOverage: true,
                    source: DOCR_PRICING,
                    note: "storage overage and 5 GB included transfer as in the subscription example of the DO API reference (" + DOCR_API_SUBSCRIPTION + ")",
                },
                { slug: "professional", usd: 20, per: "month", includedRepositories: 0, includedStorageGb: 100, includedTransferGb: 100, allowsStorageOverage: true, source: DOCR_PRICING },
            ] satisfies readonly DocrTier[],
            storageOverage: { usd: 0.02, per: "GB-month", source: DOCR_PRICING } satisfies Price,
            transferOverage: {
                usd: 0.01,
                per: "GB",
                source: DOCR_PRICING,
                note: "assumption: DigitalOcean's standard outbound overage rate",
            } satisfies Price,
        },
    },
    aws: {
        s3StandardStorage: { usd: 0.023, per: "GB-month", source: S3_PRICING, note: "S3 Standard, us-east-1, first 50 TB" } satisfies Price,
        /** PUT, COPY, POST, LIST (UploadPart, UploadPartCopy, ListParts, ListMultipartUploads count here). */
        s3PutCopyPostList: { usd: 0.005, per: "1000 requests", source: S3_PRICING } satisfies Price,
        /** GET, HEAD and all other non-free requests (DELETE is free). */
        s3GetAndOther: { usd: 0.0004, per: "1000 requests", source: S3_PRICING } satisfies Price,
        internetEgress: { usd: 0.09, per: "GB", source: S3_PRICING, note: "data transfer out to the internet, first 10 TB/month" } satisfies Price,
        freeEgress: {
            usd: 0,
            per: "GB",
            source: AWS_FREE_TRANSFER,
            note: "the first 100 GB/month out to the internet is free, aggregated across all AWS services of the account",
        } satisfies Price,
        freeEgressGbPerMonth: 100,
        ecrStorage: { usd: 0.1, per: "GB-month", source: ECR_PRICING } satisfies Price,
        ecrEgress: { usd: 0.09, per: "GB", source: ECR_PRICING, note: "same internet data-transfer rate and free 100 GB as S3" } satisfies Price,
    },
} as const;

export type DropletSize = keyof typeof PRICES.digitalocean.droplets;
export const KNOWN_DROPLET_SIZES = Object.keys(PRICES.digitalocean.droplets) as DropletSize[];

/**
 * S3 requests the registry makes, measured on the rehearsal stack (registry v3.1.1; counts from
 * the S3 server's access log, see docs/BENCHMARKS.md, "S3 requests per operation").
 */
export const REGISTRY_S3_REQUESTS = {
    /**
     * Per pushed one-layer image, excluding the layer's data parts: upload bookkeeping
     * (Create/CompleteMultipartUpload, ListParts, ListMultipartUploads), link files, the config
     * blob and the manifest. Counted for a 64 MB layer, 10 MB chunks: 50 PUT/LIST-class of
     * which 7 UploadPart and 2 UploadPartCopy scale with the layer size (below).
     */
    perPushPutClass: 41,
    perPushGetClass: 18,
    /** Per pull of a one-layer image with redirect on: the registry's manifest and link reads, the client's blob GETs. */
    perPullGetClassRedirect: 4,
    /** The same pull with redirect off: the registry also stats and reads every blob itself. */
    perPullGetClassStreamed: 10,
    /**
     * With replicas, which run without the in-memory blob descriptor cache: GET-class requests
     * more per blob a pull reads (the one-layer image's config and layer) and per blob a push
     * writes. bench/cache/descriptors.ts (bench/results/descriptor-cache.json): a pull of 6 blobs
     * made 44 more, a first push of 6 blobs 12 more.
     */
    perPulledBlobGetClassWithoutCache: 7.33,
    perPushedBlobGetClassWithoutCache: 2,
    /**
     * The commit of an uploaded blob is a server-side copy from `_uploads/` to `blobs/`; above
     * 32 MB (`multipartcopythresholdsize`) it is a multipart copy in 32 MB parts.
     */
    multipartCopyPartMb: 32,
    /** `health.storagedriver` lists the bucket (ListObjectsV2, max-keys=1) once per interval. */
    perHealthCheckPutClass: 1,
} as const;

export interface LineItem {
    item: string;
    usd: number;
    detail: string;
}

export interface CostEstimate {
    option: string;
    lines: LineItem[];
    totalUsd: number;
}

export interface ProjectUsage {
    /** Where the layers are: S3 (us-east-1 prices) or Spaces. Default `s3`. */
    storage?: StorageKind;
    dropletSize: string;
    /** GB kept in the bucket (layers are deduplicated by digest, so this is unique bytes). */
    storedGb: number;
    /** GB of blobs clients download per month. */
    pulledGbPerMonth: number;
    /** Whether blob GETs redirect to presigned S3 URLs (`storage.redirect`). */
    redirect: boolean;
    /** Images pushed per month (request charges). Default 0. */
    pushesPerMonth?: number;
    /** New (not yet stored) GB uploaded per month; drives multipart request counts. Default 0. */
    pushedGbPerMonth?: number;
    /** Image pulls per month (request charges). Default 0. */
    pullsPerMonth?: number;
    /** The S3 driver's multipart part size in MB. Default: the program's (DEFAULTS.s3ChunkSizeMb). */
    chunkSizeMb?: number;
    /** `health.storagedriver.interval` in seconds; 0 disables it. Default: what the rendered config uses. */
    healthCheckIntervalSeconds?: number;
    /** Free AWS internet egress left this month after the account's other use. Default 100. */
    awsFreeEgressGb?: number;
    /** DigitalOcean uptime checks (one with alertEmails and Let's Encrypt). Default 0. */
    uptimeChecks?: number;
    /** Droplets serving the registry; above 1 a load balancer is billed too. Default 1. */
    replicas?: number;
}

/**
 * The droplets' lines and the balancer's, the same for either storage: each replica is a droplet
 * of the chosen size, and DigitalOcean pools the droplets' included transfer across the account.
 */
function dropletLines(usage: ProjectUsage, droplet: DropletPrice): { lines: LineItem[]; replicas: number; includedTransferGb: number } {
    const replicas = usage.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1) {
        throw new Error(`replicas must be a whole number >= 1; got ${replicas}`);
    }
    const includedTransferGb = droplet.includedTransferGb * replicas;
    const lines: LineItem[] = [
        replicas === 1
            ? { item: "droplet", usd: droplet.usd, detail: `${usage.dropletSize}, ${droplet.includedTransferGb} GB transfer included` }
            : { item: "droplets", usd: droplet.usd * replicas, detail: `${replicas} x ${usage.dropletSize} at ${money(droplet.usd)}, ${includedTransferGb} GB transfer included in all` },
    ];
    if (replicas > 1) {
        const node = PRICES.digitalocean.loadBalancerNode;
        lines.push({ item: "load balancer", usd: node.usd, detail: `1 node x ${money(node.usd)}/month, TLS passed through` });
    }
    return { lines, replicas, includedTransferGb };
}

function nonNegative(name: string, value: number): number {
    if (!Number.isFinite(value) || value < 0) {
        throw new Error(`${name} must be a finite number >= 0; got ${value}`);
    }
    return value;
}

function money(n: number): string {
    return `$${n.toFixed(n !== 0 && Math.abs(n) < 0.1 ? 4 : 2)}`;
}

function total(lines: LineItem[]): number {
    return lines.reduce((sum, line) => sum + line.usd, 0);
}

/** Looks a droplet size up in the price table; an unknown size names itself and the known ones. */
export function dropletPrice(size: string): DropletPrice {
    const droplets: Record<string, DropletPrice> = PRICES.digitalocean.droplets;
    const price = Object.prototype.hasOwnProperty.call(droplets, size) ? droplets[size] : undefined;
    if (price === undefined) {
        throw new Error(`Unknown droplet size "${size}": the price table (as of ${PRICES.pricesAsOf}) knows ${KNOWN_DROPLET_SIZES.join(", ")}`);
    }
    return price;
}

/** AWS internet egress after the free allowance. */
function awsEgress(gb: number, freeGb: number, price: Price): { billableGb: number; usd: number } {
    const billableGb = Math.max(0, gb - freeGb);
    return { billableGb, usd: billableGb * price.usd };
}

/** This project: one droplet running the registry, blobs in S3 (us-east-1 prices) or Spaces. */
export function estimateMonthlyCost(usage: ProjectUsage): CostEstimate {
    if ((usage.storage ?? "s3") === "spaces") {
        return estimateSpacesProjectCost(usage);
    }
    const droplet = dropletPrice(usage.dropletSize);
    const storedGb = nonNegative("storedGb", usage.storedGb);
    const pulledGb = nonNegative("pulledGbPerMonth", usage.pulledGbPerMonth);
    const pushes = nonNegative("pushesPerMonth", usage.pushesPerMonth ?? 0);
    const pushedGb = nonNegative("pushedGbPerMonth", usage.pushedGbPerMonth ?? 0);
    const pulls = nonNegative("pullsPerMonth", usage.pullsPerMonth ?? 0);
    const chunkSizeMb = nonNegative("chunkSizeMb", usage.chunkSizeMb ?? DEFAULTS.s3ChunkSizeMb);
    if (chunkSizeMb < 5) {
        throw new Error(`chunkSizeMb must be >= 5 (the S3 multipart minimum); got ${chunkSizeMb}`);
    }
    const healthInterval = nonNegative("healthCheckIntervalSeconds", usage.healthCheckIntervalSeconds ?? STORAGE_HEALTH_INTERVAL_SECONDS);
    const freeEgressGb = nonNegative("awsFreeEgressGb", usage.awsFreeEgressGb ?? PRICES.aws.freeEgressGbPerMonth);
    const aws = PRICES.aws;
    const req = REGISTRY_S3_REQUESTS;

    const hosts = dropletLines(usage, droplet);
    const lines: LineItem[] = [...hosts.lines];
    lines.push({ item: "S3 storage", usd: storedGb * aws.s3StandardStorage.usd, detail: `${storedGb} GB x ${money(aws.s3StandardStorage.usd)}/GB-month` });
    const uptimeChecks = nonNegative("uptimeChecks", usage.uptimeChecks ?? 0);
    if (uptimeChecks > 0) {
        const check = PRICES.digitalocean.uptimeCheck;
        lines.push({ item: "uptime check", usd: uptimeChecks * check.usd, detail: `${uptimeChecks} x ${money(check.usd)}/month; droplet alerts are free` });
    }

    // Pulls leave AWS either way: to the client (redirect) or to the droplet, which is not in AWS.
    const egress = awsEgress(pulledGb, freeEgressGb, aws.internetEgress);
    lines.push({
        item: "S3 egress",
        usd: egress.usd,
        detail: `${pulledGb} GB out of AWS, ${Math.min(pulledGb, freeEgressGb)} GB free, ${egress.billableGb} GB x ${money(aws.internetEgress.usd)}`,
    });

    // Without redirect the droplet also sends every pulled byte out again.
    const dropletOutGb = usage.redirect ? 0 : pulledGb;
    const overGb = Math.max(0, dropletOutGb - hosts.includedTransferGb);
    lines.push({
        item: "droplet transfer",
        usd: overGb * PRICES.digitalocean.transferOverage.usd,
        detail: usage.redirect
            ? "redirect on: clients fetch blobs from S3, not through the droplet"
            : `${dropletOutGb} GB out of ${hosts.includedTransferGb} GB included, ${overGb} GB over`,
    });

    const dataParts = Math.ceil((pushedGb * 1024) / chunkSizeMb);
    const copyParts = Math.ceil((pushedGb * 1024) / req.multipartCopyPartMb);
    const healthChecks = healthInterval === 0 ? 0 : (hosts.replicas * PRICES.hoursPerMonth * 3600) / healthInterval;
    const putClass = pushes * req.perPushPutClass + dataParts + copyParts + healthChecks * req.perHealthCheckPutClass;
    const blobsPerImage = 2;
    const withoutCache = hosts.replicas > 1 ? pushes * blobsPerImage * req.perPushedBlobGetClassWithoutCache + pulls * blobsPerImage * req.perPulledBlobGetClassWithoutCache : 0;
    const getClass = pushes * req.perPushGetClass + pulls * (usage.redirect ? req.perPullGetClassRedirect : req.perPullGetClassStreamed) + withoutCache;
    lines.push({
        item: "S3 requests",
        usd: (putClass / 1000) * aws.s3PutCopyPostList.usd + (getClass / 1000) * aws.s3GetAndOther.usd,
        detail: `${Math.round(putClass)} PUT/LIST-class (${Math.round(healthChecks)} health-check LISTs) + ${Math.round(getClass)} GET-class`,
    });
    return { option: `this project (${usage.dropletSize}, redirect ${usage.redirect ? "on" : "off"})`, lines, totalUsd: total(lines) };
}

/**
 * This project with its layers in Spaces: the droplet and the flat Spaces subscription, with
 * storage and transfer beyond what it includes. Spaces bills no requests, so the chunk size and
 * the health check's LISTs cost nothing here.
 */
function estimateSpacesProjectCost(usage: ProjectUsage): CostEstimate {
    const droplet = dropletPrice(usage.dropletSize);
    const storedGb = nonNegative("storedGb", usage.storedGb);
    const pulledGb = nonNegative("pulledGbPerMonth", usage.pulledGbPerMonth);
    const uptimeChecks = nonNegative("uptimeChecks", usage.uptimeChecks ?? 0);
    const spaces = PRICES.digitalocean.spaces;
    const hosts = dropletLines(usage, droplet);
    const lines: LineItem[] = [...hosts.lines];
    lines.push({ item: "Spaces subscription", usd: spaces.subscription.usd, detail: `${spaces.subscription.includedStorageGb} GB storage and ${spaces.subscription.includedTransferGb} GB transfer included` });
    const storageOverGb = Math.max(0, storedGb - spaces.subscription.includedStorageGb);
    lines.push({ item: "Spaces extra storage", usd: storageOverGb * spaces.storageOverage.usd, detail: `${storageOverGb} GB x ${money(spaces.storageOverage.usd)}/GB-month` });
    if (uptimeChecks > 0) {
        const check = PRICES.digitalocean.uptimeCheck;
        lines.push({ item: "uptime check", usd: uptimeChecks * check.usd, detail: `${uptimeChecks} x ${money(check.usd)}/month; droplet alerts are free` });
    }
    // Pulled bytes leave Spaces either way: to the client (redirect) or to the droplet.
    const transferOverGb = Math.max(0, pulledGb - spaces.subscription.includedTransferGb);
    lines.push({
        item: "Spaces extra transfer",
        usd: transferOverGb * spaces.transferOverage.usd,
        detail: `${pulledGb} GB out of Spaces, ${Math.min(pulledGb, spaces.subscription.includedTransferGb)} GB included, ${transferOverGb} GB x ${money(spaces.transferOverage.usd)}`,
    });
    const dropletOutGb = usage.redirect ? 0 : pulledGb;
    const overGb = Math.max(0, dropletOutGb - hosts.includedTransferGb);
    lines.push({
        item: "droplet transfer",
        usd: overGb * PRICES.digitalocean.transferOverage.usd,
        detail: usage.redirect ? "redirect on: clients fetch blobs from Spaces, not through the droplet" : `${dropletOutGb} GB out of ${hosts.includedTransferGb} GB included, ${overGb} GB over`,
    });
    return { option: `this project (${usage.dropletSize}, Spaces, redirect ${usage.redirect ? "on" : "off"})`, lines, totalUsd: total(lines) };
}

export interface RegistryUsage {
    storedGb: number;
    pulledGbPerMonth: number;
    /** Repositories needed; decides which DOCR tiers qualify. Default 1. */
    repositories?: number;
    /** Free AWS internet egress left this month (ECR only). Default 100. */
    awsFreeEgressGb?: number;
}

export interface DocrEstimate extends CostEstimate {
    tier: DocrTier["slug"];
    /** Every tier that can hold the usage, cheapest first. */
    eligible: CostEstimate[];
}

function docrTierCost(tier: DocrTier, storedGb: number, pulledGb: number): CostEstimate {
    const docr = PRICES.digitalocean.containerRegistry;
    const storageOverGb = Math.max(0, storedGb - tier.includedStorageGb);
    const transferOverGb = Math.max(0, pulledGb - tier.includedTransferGb);
    const lines: LineItem[] = [
        { item: `DOCR ${tier.slug}`, usd: tier.usd, detail: `${tier.includedStorageGb} GB storage and ${tier.includedTransferGb} GB transfer included` },
        { item: "DOCR extra storage", usd: storageOverGb * docr.storageOverage.usd, detail: `${storageOverGb} GB x ${money(docr.storageOverage.usd)}/GB-month` },
        { item: "DOCR extra transfer", usd: transferOverGb * docr.transferOverage.usd, detail: `${transferOverGb} GB x ${money(docr.transferOverage.usd)}/GB` },
    ];
    return { option: `DOCR ${tier.slug}`, lines, totalUsd: total(lines) };
}

/** DigitalOcean Container Registry: the cheapest tier that holds the storage and repositories. */
export function estimateDocrMonthlyCost(usage: RegistryUsage): DocrEstimate {
    const storedGb = nonNegative("storedGb", usage.storedGb);
    const pulledGb = nonNegative("pulledGbPerMonth", usage.pulledGbPerMonth);
    const repositories = nonNegative("repositories", usage.repositories ?? 1);
    const tiers: readonly DocrTier[] = PRICES.digitalocean.containerRegistry.tiers;
    const fits = tiers.filter(
        (t) => (t.includedRepositories === 0 || repositories <= t.includedRepositories) && (t.allowsStorageOverage || storedGb <= t.includedStorageGb),
    );
    if (fits.length === 0) {
        throw new Error(`No DOCR tier holds ${storedGb} GB in ${repositories} repositories`);
    }
    const eligible = fits
        .map((t) => ({ tier: t, estimate: docrTierCost(t, storedGb, pulledGb) }))
        .sort((a, b) => a.estimate.totalUsd - b.estimate.totalUsd);
    const best = eligible[0];
    return { ...best.estimate, tier: best.tier.slug, eligible: eligible.map((e) => e.estimate) };
}

/** AWS ECR (private repositories): storage plus internet egress; no request charges. */
export function estimateEcrMonthlyCost(usage: RegistryUsage): CostEstimate {
    const storedGb = nonNegative("storedGb", usage.storedGb);
    const pulledGb = nonNegative("pulledGbPerMonth", usage.pulledGbPerMonth);
    const freeEgressGb = nonNegative("awsFreeEgressGb", usage.awsFreeEgressGb ?? PRICES.aws.freeEgressGbPerMonth);
    const aws = PRICES.aws;
    const egress = awsEgress(pulledGb, freeEgressGb, aws.ecrEgress);
    const lines: LineItem[] = [
        { item: "ECR storage", usd: storedGb * aws.ecrStorage.usd, detail: `${storedGb} GB x ${money(aws.ecrStorage.usd)}/GB-month` },
        {
            item: "ECR egress",
            usd: egress.usd,
            detail: `${pulledGb} GB out of AWS, ${Math.min(pulledGb, freeEgressGb)} GB free, ${egress.billableGb} GB x ${money(aws.ecrEgress.usd)}`,
        },
    ];
    return { option: "AWS ECR", lines, totalUsd: total(lines) };
}

export interface Comparison {
    project: CostEstimate;
    docr: DocrEstimate;
    ecr: CostEstimate;
}

/** The three options side by side for one usage profile. */
export function compareMonthlyCosts(usage: ProjectUsage & { repositories?: number }): Comparison {
    const shared: RegistryUsage = {
        storedGb: usage.storedGb,
        pulledGbPerMonth: usage.pulledGbPerMonth,
        repositories: usage.repositories,
        awsFreeEgressGb: usage.awsFreeEgressGb,
    };
    return { project: estimateMonthlyCost(usage), docr: estimateDocrMonthlyCost(shared), ecr: estimateEcrMonthlyCost(shared) };
}

/** The usage the cost output assumes; docs/COSTS.md has other volumes. */
export const COST_OUTPUT_USAGE = { storedGb: 10, pulledGbPerMonth: 50 } as const;

/**
 * Monthly USD for the chosen droplet at {@link COST_OUTPUT_USAGE}, or undefined for a droplet
 * size the dated price table does not know (the deploy itself does not depend on the table).
 */
export function estimatedMonthlyCostUsd(
    settings: Pick<Settings, "dropletSize" | "redirectPullsToS3" | "s3ChunkSizeMb"> & { storage?: StorageKind; replicas?: number },
    uptimeChecks = 0,
): number | undefined {
    if (!(KNOWN_DROPLET_SIZES as readonly string[]).includes(settings.dropletSize)) {
        return undefined;
    }
    const estimate = estimateMonthlyCost({
        storage: settings.storage,
        dropletSize: settings.dropletSize,
        ...COST_OUTPUT_USAGE,
        redirect: settings.redirectPullsToS3,
        chunkSizeMb: settings.s3ChunkSizeMb,
        uptimeChecks,
        replicas: settings.replicas,
    });
    return Math.round(estimate.totalUsd * 100) / 100;
}
