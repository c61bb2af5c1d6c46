import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FRONT_PASSWORD_HASH_PATTERN, renderFrontPasswordHash } from "../../components/render/frontPassword";

describe("renderFrontPasswordHash", () => {
    it("computes what Go's argon2.IDKey computes, in the form Caddy's DecodeHash reads", () => {
        // Key from golang.org/x/crypto v0.57.0 argon2.IDKey([]byte("hello"), []byte("abcdefghijklmnopqrstuv"), 1, 8, 1, 32),
        // base64.RawStdEncoding: the package Caddy's argon2id.go Compare calls.
        assert.equal(
            renderFrontPasswordHash({ password: "hello", salt: "abcdefghijklmnopqrstuv" }),
            "$argon2id$v=19$m=8,t=1,p=1$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dg$J727MtHh99P6++vyyoskAv8cVBC+h2K09viLX/nIawc",
        );
    });

    it("gives the same hash for the same password and salt, and another for either changed", () => {
        const hash = renderFrontPasswordHash({ password: "p".repeat(32), salt: "s".repeat(22) });
        assert.equal(renderFrontPasswordHash({ password: "p".repeat(32), salt: "s".repeat(22) }), hash);
        assert.notEqual(renderFrontPasswordHash({ password: `${"p".repeat(31)}q`, salt: "s".repeat(22) }), hash);
        assert.notEqual(renderFrontPasswordHash({ password: "p".repeat(32), salt: `${"s".repeat(21)}t` }), hash);
        assert.match(hash, FRONT_PASSWORD_HASH_PATTERN);
    });

    it("refuses a salt shorter than Argon2's 8 bytes, naming its length", () => {
        assert.throws(() => renderFrontPasswordHash({ password: "p", salt: "short" }), /at least 8 characters; got 5/);
    });
});
