import { argon2id } from "@noble/hashes/argon2";

/**
 * Whether `password` matches an Argon2id hash in Caddy's form, checked as Caddy's argon2id.go
 * Compare does: the parameters and salt from the hash itself, the key recomputed and compared.
 */
export function argon2idVerifies(password: string, hash: string): boolean {
    const parts = /^\$argon2id\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(hash);
    if (parts === null) {
        return false;
    }
    const [version, m, t, p] = parts.slice(1, 5).map(Number);
    const salt = Buffer.from(parts[5], "base64");
    const key = Buffer.from(parts[6], "base64");
    const computed = argon2id(password, salt, { m, t, p, version, dkLen: key.length });
    return Buffer.from(computed).equals(key);
}
