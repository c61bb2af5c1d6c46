/**
 * Where the registry's three parties sit, as link figures the network rig (rig.ts) reproduces:
 * a CI runner that pushes and pulls (`ci`), the droplet with the registry and its front
 * (`droplet`), and the bucket (`s3`: AWS S3, or DigitalOcean Spaces under a profile whose
 * `storage` says so). Pure data and validation.
 *
 * Every figure carries its source. Where no measurement of the exact pair was found, the source
 * says so and the figure leans pessimistic (more delay, less bandwidth), so a bench over the rig
 * does not promise more than the real path gives.
 *
 * Bandwidth is one TCP connection's share, not a NIC's: the registry's S3 driver uploads one part
 * at a time per blob and skopeo fetches a layer over one connection.
 */
import { SPACES_REGIONS } from "../../components/render/spaces";

export const ROLES = ["ci", "droplet", "s3"] as const;
export type Role = (typeof ROLES)[number];

/** The three links, each named `from-to` with `from` the side that opens connections. */
export const LINKS = ["ci-droplet", "droplet-s3", "ci-s3"] as const;
export type LinkName = (typeof LINKS)[number];

export interface Figure {
    value: number;
    /** Where the value comes from, or why it was chosen when nothing better was found. */
    source: string;
}

export interface LinkProfile {
    /** What the link stands for (regions, providers). */
    what: string;
    /** Round-trip time, milliseconds. */
    rttMs: Figure;
    /** Bandwidth of one connection in each direction, Mbit/s (10^6 bit/s). */
    mbit: Figure;
}

/** Where the layers go, as the program's `storage` setting names it. */
export const STORAGE_KINDS = ["s3", "spaces"] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];

export interface ProfileStorage {
    kind: StorageKind;
    /**
     * The bucket's region. Under `spaces` the registry runs the program's Spaces storage section
     * for it, and the rig's S3 server signs in it, as Spaces does (SigV4 scope with the slug).
     */
    region: string;
}

export interface NetworkProfile {
    name: string;
    description: string;
    storage: ProfileStorage;
    /**
     * The profile with the same runner and droplet and the other storage, so the report can set
     * the two side by side; its ci-droplet link must be this one's.
     */
    counterpart?: string;
    links: Record<LinkName, LinkProfile>;
}

/** The ends of a link: who connects, who serves. */
export function linkEnds(link: LinkName): { from: Role; to: Role } {
    const [from, to] = link.split("-") as [Role, Role];
    return { from, to };
}

const AWS_INTER_REGION =
    "AWS inter-region average ping, 'Latency Between AWS Global Regions' as tabled in " +
    "https://acomputerscientistlearnsaws.blogspot.com/2017/04/aws-regions.html";
const DO_LIMIT = "DigitalOcean Droplet limits: regular (non-Premium) Droplets top out at 2 Gbps (https://docs.digitalocean.com/products/droplets/details/limits/)";
const S3_PER_CONNECTION =
    "AWS S3 performance guidance of one request per 85-90 MB/s (~700 Mbit/s) of wanted throughput " +
    "(AWS whitepaper 'Optimizing Amazon S3 Performance'; not found in the searchable corpus, so unverified here)";
const RUNNER_NIC =
    "GitHub-hosted Linux runners are Azure Standard_DS2_v2 VMs (quoted from GitHub's docs in zeitgeistpm/zeitgeist#185 " +
    "and kosyfrances/kubeclust#3); no published per-connection figure for runner egress was found";

/** The runner to DigitalOcean nyc3: the droplet of `near` and `near-spaces`, and the Spaces endpoint of `near-spaces`. */
const RUNNER_TO_NYC3: LinkProfile = {
    what: "GitHub-hosted runner (Azure eastus) to DigitalOcean nyc3",
    rttMs: {
        value: 10,
        source:
            "no measurement of Azure eastus <-> DO nyc3 found; northern Virginia to New York is ~400 km of fibre " +
            "(~4 ms round trip at 2/3 c), real paths take about twice that; 10 ms chosen (pessimistic)",
    },
    mbit: { value: 500, source: `${RUNNER_NIC}; ${DO_LIMIT}; one internet flow gets far less than either NIC: 500 Mbit/s chosen` },
};

/**
 * What the rig cannot reproduce of Spaces: the time the service itself takes per request, which
 * a public measurement found far above S3's. The rig's S3 server answers in well under a
 * millisecond whichever storage a profile names, so a Spaces profile compares the network paths
 * alone and its pushes are an upper bound.
 */
export const SPACES_SERVICE_TIME =
    "WakaTime's measurement from droplets to Spaces in their own region (10-50 KB objects, 2021): writes ~2 s on average against ~200 ms to S3, " +
    "reads ~300 ms against ~200 ms (https://www.javacodegeeks.com/2021/02/latency-of-digitalocean-spaces-vs-aws-s3.html)";

export const PROFILES: Record<string, NetworkProfile> = {
    near: {
        name: "near",
        description: "runner in Azure East US (Virginia) -> droplet in DigitalOcean nyc3 -> bucket in AWS us-east-1 (Virginia)",
        storage: { kind: "s3", region: "us-east-1" },
        links: {
            "ci-droplet": RUNNER_TO_NYC3,
            "droplet-s3": {
                what: "DigitalOcean nyc3 to AWS S3 us-east-1",
                rttMs: {
                    value: 10,
                    source: "no measurement of DO nyc3 <-> AWS us-east-1 found; same geography as the runner-droplet link (New York <-> northern Virginia): 10 ms chosen",
                },
                mbit: { value: 500, source: `${S3_PER_CONNECTION}; ${DO_LIMIT}; crossing the internet between providers: 500 Mbit/s chosen, under both` },
            },
            "ci-s3": {
                what: "GitHub-hosted runner (Azure eastus) to AWS S3 us-east-1, the redirected pull",
                rttMs: {
                    value: 3,
                    source:
                        "no cross-cloud measurement found; both are in northern Virginia, where AWS's own zones are 0.25-3.4 ms apart " +
                        "(https://www.xkyle.com/Measuring-AWS-Region-and-AZ-Latency/): 3 ms chosen",
                },
                mbit: { value: 700, source: `${S3_PER_CONNECTION}; ${RUNNER_NIC}` },
            },
        },
    },
    far: {
        name: "far",
        description: "runner in Azure East US (Virginia) -> droplet in DigitalOcean fra1 -> bucket in AWS eu-central-1 (Frankfurt)",
        storage: { kind: "s3", region: "eu-central-1" },
        links: {
            "ci-droplet": {
                what: "GitHub-hosted runner (Azure eastus) to DigitalOcean fra1, across the Atlantic",
                rttMs: { value: 90, source: `${AWS_INTER_REGION}: us-east-1 <-> eu-central-1 88.7 ms; the same two cities, rounded up` },
                mbit: {
                    value: 200,
                    source:
                        `${RUNNER_NIC}; one TCP flow over 90 ms needs a ~2.5 MB window for 200 Mbit/s, about what Linux autotuning ` +
                        "grows to; no measured transatlantic single-flow figure found: 200 Mbit/s chosen",
                },
            },
            "droplet-s3": {
                what: "DigitalOcean fra1 to AWS S3 eu-central-1 (both Frankfurt)",
                rttMs: { value: 3, source: "no measurement of DO fra1 <-> AWS eu-central-1 found; same metro area, as AWS zones within a region (0.25-3.4 ms, xkyle.com): 3 ms chosen" },
                mbit: { value: 500, source: `${S3_PER_CONNECTION}; ${DO_LIMIT}; between providers: 500 Mbit/s chosen` },
            },
            "ci-s3": {
                what: "GitHub-hosted runner (Azure eastus) to AWS S3 eu-central-1, the redirected pull across the Atlantic",
                rttMs: { value: 90, source: `${AWS_INTER_REGION}: us-east-1 <-> eu-central-1 88.7 ms, rounded up` },
                mbit: { value: 200, source: "as the runner-droplet link: one transatlantic flow, 200 Mbit/s chosen" },
            },
        },
    },
    "near-spaces": {
        name: "near-spaces",
        description: "runner in Azure East US (Virginia) -> droplet in DigitalOcean nyc3 -> bucket in DigitalOcean Spaces nyc3 (the droplet's datacenter)",
        storage: { kind: "spaces", region: "nyc3" },
        counterpart: "near",
        links: {
            "ci-droplet": RUNNER_TO_NYC3,
            "droplet-s3": {
                what: "DigitalOcean nyc3 to Spaces nyc3, within one datacenter",
                rttMs: {
                    value: 2,
                    source:
                        "an estimate: no published round trip from a droplet to Spaces in its own datacenter was found (DigitalOcean's Spaces limits " +
                        "page gives request rates only); within one site round trips are well under a millisecond, and AWS's zones of one region, " +
                        "separate buildings, are 0.25-3.4 ms apart (https://www.xkyle.com/Measuring-AWS-Region-and-AZ-Latency/); the droplet reaches " +
                        "the Spaces endpoint over its public interface: 2 ms chosen (pessimistic). Not modelled, as for S3: the service's own time per " +
                        `request (${SPACES_SERVICE_TIME})`,
                },
                mbit: {
                    value: 500,
                    source:
                        `${DO_LIMIT}; no per-connection figure for Spaces found (its limits page, https://docs.digitalocean.com/products/spaces/details/limits/, ` +
                        "gives 1,500 requests per second per IP and per-bucket operation rates, no bandwidth): 500 Mbit/s chosen, as for the droplet to S3, " +
                        "so that the two profiles differ in round trips alone",
                },
            },
            "ci-s3": {
                ...RUNNER_TO_NYC3,
                what: "GitHub-hosted runner (Azure eastus) to Spaces nyc3, the redirected pull",
            },
        },
    },
};

/** Every problem with a profile: missing links, figures that are not positive finite numbers, or without a source. */
export function validateProfile(profile: NetworkProfile): string[] {
    const problems: string[] = [];
    if (!/^[a-z][a-z0-9-]*$/.test(profile.name)) {
        problems.push(`profile name ${JSON.stringify(profile.name)} must be lower-case letters, digits and dashes`);
    }
    problems.push(...storageProblems(profile));
    for (const link of LINKS) {
        const spec = profile.links[link] as LinkProfile | undefined;
        if (spec === undefined) {
            problems.push(`${profile.name}: link ${link} is missing`);
            continue;
        }
        // Upper bounds catch unit mistakes (seconds for ms, bit/s for Mbit/s).
        for (const [what, figure, max] of [["rttMs", spec.rttMs, 1000], ["mbit", spec.mbit, 10_000]] as const) {
            if (figure === undefined || typeof figure.value !== "number" || !Number.isFinite(figure.value) || figure.value <= 0 || figure.value > max) {
                problems.push(`${profile.name}: ${link}.${what} must be a number in (0, ${max}]; got ${JSON.stringify(figure?.value)}`);
            }
            if (figure === undefined || typeof figure.source !== "string" || figure.source.trim().length < 10) {
                problems.push(`${profile.name}: ${link}.${what} needs a source (where the figure comes from, or why it was chosen)`);
            }
        }
    }
    return problems;
}

/** Problems with a profile's storage: an unknown kind, or a region its kind does not have. */
function storageProblems(profile: NetworkProfile): string[] {
    const storage = profile.storage as ProfileStorage | undefined;
    if (storage === undefined || !(STORAGE_KINDS as readonly string[]).includes(storage.kind)) {
        return [`${profile.name}: storage.kind must be one of ${STORAGE_KINDS.join(", ")}; got ${JSON.stringify(storage?.kind)}`];
    }
    // Spaces signs with the region's slug and serves only where DigitalOcean offers it (components/render/spaces.ts).
    if (storage.kind === "spaces" && !(SPACES_REGIONS as readonly string[]).includes(storage.region)) {
        return [`${profile.name}: Spaces has no region ${JSON.stringify(storage.region)}; it has ${SPACES_REGIONS.join(", ")}`];
    }
    if (storage.kind === "s3" && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(storage.region)) {
        return [`${profile.name}: ${JSON.stringify(storage.region)} is not an AWS region name`];
    }
    return [];
}

/**
 * Problems with a profile's counterpart among `all`: it must exist, keep its layers in the other
 * storage, and share the runner-to-droplet link, or setting the two side by side would compare
 * more than the storage.
 */
export function counterpartProblems(profile: NetworkProfile, all: Readonly<Record<string, NetworkProfile>>): string[] {
    if (profile.counterpart === undefined) {
        return [];
    }
    const other = all[profile.counterpart] as NetworkProfile | undefined;
    if (other === undefined || other.name === profile.name) {
        return [`${profile.name}: counterpart ${JSON.stringify(profile.counterpart)} is not another known profile`];
    }
    const problems: string[] = [];
    if (other.storage.kind === profile.storage.kind) {
        problems.push(`${profile.name}: counterpart ${other.name} uses the same storage (${other.storage.kind})`);
    }
    if (JSON.stringify(other.links["ci-droplet"]) !== JSON.stringify(profile.links["ci-droplet"])) {
        problems.push(`${profile.name}: counterpart ${other.name} has another ci-droplet link`);
    }
    return problems;
}

/** The named profile, validated; throws naming the known ones. */
export function profileByName(name: string): NetworkProfile {
    const profile = PROFILES[name];
    if (profile === undefined) {
        throw new Error(`unknown network profile ${JSON.stringify(name)}; known: ${Object.keys(PROFILES).join(", ")}`);
    }
    const problems = [...validateProfile(profile), ...counterpartProblems(profile, PROFILES)];
    if (problems.length > 0) {
        throw new Error(`network profile ${name} is invalid:\n${problems.join("\n")}`);
    }
    return profile;
}
