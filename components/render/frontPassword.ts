import { argon2id } from "@noble/hashes/argon2";

/**
 * How the front stores a user's password: an Argon2id hash in the form Caddy's basic_auth reads
 * (`$argon2id$v=19$m=KiB,t=passes,p=lanes$salt$key`, base64 without padding: caddyserver/caddy
 * v2.11.9 modules/caddyhttp/caddyauth/argon2id.go DecodeHash). Pure and deterministic: the same
 * password and salt give the same hash, so an unchanged password does not change the Caddyfile.
 *
 * The cost is Argon2's least (one pass over 8 KiB, one lane; RFC 9106 section 3.1: memory at
 * least 8 × lanes KiB, at least one pass). A slow hash makes a guessable password expensive to
 * guess offline from a stolen hash; these passwords are 32 random characters (about 190 bits,
 * registryService.ts), which no cost factor makes any harder to guess, online or offline. What a
 * cost factor would change is the price of every wrong login the front checks: bcrypt at cost 5
 * is about 2.5 ms of the droplet's one vCPU a guess, enough for one address's guesses to slow
 * every other client until it is banned (bench/front-hostile/logins.ts). A hash stays so that the
 * Caddyfile on the droplet and in the stack's state holds no password.
 */
export const FRONT_PASSWORD_HASH = { algorithm: "argon2id", memoryKiB: 8, passes: 1, lanes: 1, keyBytes: 32 } as const;

/** Argon2's version 0x13, the one Caddy's argon2 package computes (`argon2.Version`). */
const ARGON2_VERSION = 19;

/** The hash of `password` with `salt` (at least 8 characters; the users' 22-character bcrypt salts serve). */
export function renderFrontPasswordHash(input: { password: string; salt: string }): string {
    if (input.salt.length < 8) {
        throw new Error(`the front's password salt must be at least 8 characters; got ${input.salt.length}`);
    }
    const { memoryKiB, passes, lanes, keyBytes } = FRONT_PASSWORD_HASH;
    const key = argon2id(input.password, input.salt, { m: memoryKiB, t: passes, p: lanes, dkLen: keyBytes, version: ARGON2_VERSION });
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64").replace(/=+$/, "");
    return `$argon2id$v=${ARGON2_VERSION}$m=${memoryKiB},t=${passes},p=${lanes}$${b64(Buffer.from(input.salt, "utf8"))}$${b64(key)}`;
}

/** What {@link renderFrontPasswordHash} writes: the front refuses anything else. */
export const FRONT_PASSWORD_HASH_PATTERN = /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{43}$/;
