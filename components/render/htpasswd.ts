import * as bcrypt from "bcryptjs";

/**
 * Renders the registry's htpasswd file. Pure and deterministic: the same password and salt give
 * the same line, so an unchanged password does not churn the file (and restart the registry)
 * on every `pulumi up`.
 *
 * The registry accepts bcrypt only (`$2a$`/`$2y$`); apr1/MD5 lines are rejected with 401.
 */

/**
 * bcrypt cost, the same as `htpasswd -B` uses by default. The registry checks the hash on every
 * request of a push or pull (at cost 8 that was over a third of its CPU with 8 concurrent pushes,
 * docs/BENCHMARKS.md); the password itself is 32 random characters (about 190 bits), which a
 * higher cost factor would not make any harder to guess.
 */
export const HTPASSWD_BCRYPT_COST = 5;

/** The 64 characters of bcrypt's own base64 alphabet, for generating salts. */
export const BCRYPT_SALT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/** bcrypt salts are 22 characters of that alphabet. */
export const BCRYPT_SALT_LENGTH = 22;

const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface HtpasswdInput {
    username: string;
    password: string;
    /** 22 characters of {@link BCRYPT_SALT_ALPHABET}. */
    salt: string;
    cost?: number;
}

export function renderHtpasswd(input: HtpasswdInput): string {
    if (!USERNAME_PATTERN.test(input.username)) {
        // A ':' or newline in the name would split or add htpasswd entries.
        throw new Error(`htpasswd username must match ${USERNAME_PATTERN}; got ${JSON.stringify(input.username)}`);
    }
    if (input.password.length === 0) {
        throw new Error("htpasswd password must not be empty");
    }
    if (input.salt.length !== BCRYPT_SALT_LENGTH || [...input.salt].some((c) => !BCRYPT_SALT_ALPHABET.includes(c))) {
        throw new Error(`htpasswd salt must be ${BCRYPT_SALT_LENGTH} characters of the bcrypt alphabet`);
    }
    const cost = input.cost ?? HTPASSWD_BCRYPT_COST;
    const hash = bcrypt.hashSync(input.password, `$2y$${String(cost).padStart(2, "0")}$${input.salt}`);
    return `${input.username}:${hash}\n`;
}
