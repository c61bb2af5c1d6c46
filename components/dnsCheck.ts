import { Resolver } from "node:dns/promises";

/** Looks up a name's IPv4 addresses; injectable so tests never depend on real DNS. */
export type ResolveIpv4 = (hostname: string) => Promise<string[]>;

/** The system's resolvers, with short timeouts: a deploy should not hang on a lookup. */
export const resolveIpv4: ResolveIpv4 = (hostname) => new Resolver({ timeout: 3000, tries: 2 }).resolve4(hostname);

/**
 * Undefined when `hostname` already resolves to `address`; otherwise `address`, the A record
 * still to be created. A failed lookup counts as "not yet": the registry then waits instead of
 * asking Let's Encrypt for a certificate it cannot get.
 */
export async function addressAwaitingDns(hostname: string, address: string, resolve: ResolveIpv4 = resolveIpv4): Promise<string | undefined> {
    try {
        return (await resolve(hostname)).includes(address) ? undefined : address;
    } catch {
        return address;
    }
}
