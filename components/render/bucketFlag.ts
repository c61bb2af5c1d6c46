import type { S3StorageConfig } from "./registryConfig";

/**
 * `bucket-flag`: how the replicas' maintenance jobs speak to one another. They share nothing but
 * the bucket, so a collection's window is announced, joined and ended there, as small objects
 * beside the registry's tree. Pure: values in, program and settings text out.
 *
 * It is Python 3 with the standard library alone, because every droplet has it: cloud-init is a
 * Python program, and the Docker 1-click is Ubuntu 22.04 with cloud-init (digitalocean/
 * droplet-1-clicks `docker-22-04/template.json` starts from `ubuntu-22-04-x64` and waits for
 * `cloud-init status --wait`). curl's own `--aws-sigv4` was the other candidate, and Ubuntu
 * 22.04's curl is 7.81.0, whose lib/http_aws_sigv4.c signs `host;x-amz-date` alone and sends no
 * `x-amz-content-sha256`, which S3 requires of every SigV4 request
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html). curl honours
 * that header from 7.87.0 (curl#9804) and adds it for S3 from 8.0.0 (curl#9995). Here each request
 * is signed as that page describes, the payload's SHA-256 included; the key is read from a file
 * only root reads, never from arguments.
 */

/** Where the flags live in the bucket: outside the registry's `docker/registry/v2` tree. */
export const BUCKET_FLAG_PREFIX = "private-registry-maintenance/";

/** A flag's name: lowercase letters, digits and hyphens, so the object key needs no escaping. */
export const BUCKET_FLAG_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** What the program reads from its settings file (configDir/bucket.json). */
export interface BucketFlagSettings {
    /** `https://host[:port]`, the same endpoint the registry's S3 driver uses. */
    endpoint: string;
    region: string;
    bucket: string;
    /** Path-style (`endpoint/bucket/key`), as the driver's `forcepathstyle`; else `bucket.host`. */
    pathStyle: boolean;
    /** The flags' key prefix, with the registry's root directory in front when it has one. */
    prefix: string;
    accessKey: string;
    secretKey: string;
}

/** The settings file's content: the registry's own storage access, so no second key exists. */
export function renderBucketFlagSettings(storage: S3StorageConfig): string {
    if (storage.regionEndpoint === undefined) {
        throw new Error("bucket-flag needs the storage's regionEndpoint, which the deployment always sets");
    }
    const root = (storage.rootDirectory ?? "").replace(/^\/+|\/+$/g, "");
    const settings: BucketFlagSettings = {
        endpoint: storage.regionEndpoint.replace(/\/+$/, ""),
        region: storage.region,
        bucket: storage.bucket,
        pathStyle: storage.forcePathStyle ?? false,
        prefix: `${root === "" ? "" : `${root}/`}${BUCKET_FLAG_PREFIX}`,
        accessKey: storage.accessKey,
        secretKey: storage.secretKey,
    };
    return `${JSON.stringify(settings, null, 2)}\n`;
}

/**
 * The program. Usage: `bucket-flag SETTINGS put NAME` (the body on stdin), `get NAME` (the body
 * on stdout; exit 3 when there is no such flag), `delete NAME` (absent is fine). Any other
 * answer exits 1 and says what S3 said. Each request has a 20 s timeout: a job that waits on
 * flags polls, and a hung request must not stall it.
 */
export function renderBucketFlagProgram(): string {
    return `#!/usr/bin/env python3
"""Small objects the replicas' maintenance jobs share in the registry's bucket (see maintenance)."""
import datetime
import hashlib
import hmac
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

NAME = re.compile(${JSON.stringify(BUCKET_FLAG_NAME.source)})


def sign(key, text):
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def request(settings, method, name, body):
    endpoint = urllib.parse.urlsplit(settings["endpoint"])
    key = settings["prefix"] + name
    if settings["pathStyle"]:
        host = endpoint.netloc
        path = "/" + settings["bucket"] + "/" + key
    else:
        host = settings["bucket"] + "." + endpoint.netloc
        path = "/" + key
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\\n".join([
        method,
        urllib.parse.quote(path, safe="/-_.~"),
        "",
        "".join(h + ":" + headers[h] + "\\n" for h in sorted(headers)),
        signed,
        payload_hash,
    ])
    scope = day + "/" + settings["region"] + "/s3/aws4_request"
    to_sign = "\\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    signing_key = sign(sign(sign(sign(("AWS4" + settings["secretKey"]).encode("utf-8"), day), settings["region"]), "s3"), "aws4_request")
    signature = hmac.new(signing_key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=" + settings["accessKey"] + "/" + scope + ", SignedHeaders=" + signed + ", Signature=" + signature
    url = endpoint.scheme + "://" + host + path
    req = urllib.request.Request(url, data=body if method == "PUT" else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("put", "get", "delete") or not NAME.match(sys.argv[3]):
        sys.stderr.write("usage: bucket-flag SETTINGS put|get|delete NAME\\n")
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        settings = json.load(f)
    operation, name = sys.argv[2], sys.argv[3]
    body = sys.stdin.buffer.read() if operation == "put" else b""
    method = {"put": "PUT", "get": "GET", "delete": "DELETE"}[operation]
    try:
        status, answer = request(settings, method, name, body)
    except OSError as error:
        sys.stderr.write("bucket-flag: " + operation + " " + name + ": " + str(error) + "\\n")
        return 1
    if operation == "get" and status == 404:
        return 3
    if status // 100 != 2:
        code = re.search(rb"<Code>([^<]*)</Code>", answer)
        said = code.group(1).decode("utf-8", "replace") if code else answer[:200].decode("utf-8", "replace")
        sys.stderr.write("bucket-flag: " + operation + " " + name + ": HTTP " + str(status) + " " + said + "\\n")
        return 1
    if operation == "get":
        sys.stdout.buffer.write(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
`;
}
