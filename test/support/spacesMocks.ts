import type { ResolveIpv4 } from "../../components/dnsCheck";
import type { PrivateRegistry } from "../../components/privateRegistry";
import type { PrivateRegistryArgs } from "../../components/privateRegistryArgs";
import { loadStackArgs } from "../../components/stackConfig";
import { installMocks, optionsRecorder, type RecordedOptions, type RecordedResource, settle } from "./mocks";

/**
 * Pulumi's mocks for `storage=spaces`, shared by the Spaces mock tests: the Spaces bucket and key
 * also compute what the provider would (a generated name, the key pair), and nothing may call a
 * provider function (an aws:* invoke throws with its token, mocks.ts).
 */

export const SPACES_BUCKET = "digitalocean:index/spacesBucket:SpacesBucket";
export const SPACES_KEY = "digitalocean:index/spacesKey:SpacesKey";
/** The registry's key's secret as the mocked provider returns it: the marker every leak check looks for. */
export const REGISTRY_SECRET = "MOCKSPACESSECRETq8Zr1kPzWm0dYx3Tn5Vb7Hc";
/** The bucket admin key's secret, distinct so that a check can tell which key leaked. */
export const ADMIN_SECRET = "MOCKADMINSECRETt4Lw9sQeHn2Gc6Xp8Jr0Ky";

/** Installs the mocks; call it at the top of a test file, before anything declares a resource. */
export function installSpacesMocks(): RecordedResource[] {
    return installMocks("private-registry", (resource, defaults) => {
        switch (resource.type) {
            case SPACES_BUCKET: {
                const name = resource.inputs.name ?? `${resource.name}-7d3e0b2`;
                return { ...defaults, state: { name, endpoint: `${resource.inputs.region}.digitaloceanspaces.com`, bucketDomainName: `${name}.${resource.inputs.region}.digitaloceanspaces.com` } };
            }
            case SPACES_KEY: {
                const admin = resource.inputs.grants?.[0]?.permission === "fullaccess";
                return { ...defaults, state: { accessKey: `DO00${resource.name.toUpperCase().replace(/[^A-Z0-9]/g, "")}`, secretKey: admin ? ADMIN_SECRET : REGISTRY_SECRET } };
            }
            default:
                return defaults;
        }
    });
}

/** No name resolves: the deploy's DNS check finds nothing, as before a record exists. */
export const noDns: ResolveIpv4 = async (hostname) => {
    throw Object.assign(new Error(`queryA ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
};

export interface Deployed {
    registry: PrivateRegistry;
    /** The resources this deploy declared, in order. */
    resources: RecordedResource[];
    options: RecordedOptions[];
}

/** Declares a registry from these stack settings (and `aws:` config) and waits for every resource. */
export async function deployFromSettings(recorded: RecordedResource[], prefix: string, values: Record<string, string>, aws: Map<string, string> = new Map()): Promise<Deployed> {
    // Loaded here, after the mocks are installed, as the resource classes read them at load.
    const { PrivateRegistry: Registry } = await import("../../components/privateRegistry.js");
    const args: PrivateRegistryArgs = loadStackArgs(new Map(Object.entries(values)), aws);
    const options: RecordedOptions[] = [];
    const start = recorded.length;
    const registry = new Registry(prefix, args, { transformations: [optionsRecorder(options)] }, noDns);
    await settle(recorded);
    return { registry, resources: recorded.slice(start), options };
}
