import { S3RecordingProxy, type S3Refusal, type S3RequestView } from "./s3proxy";

/**
 * What DigitalOcean Spaces refuses that AWS S3 accepts, as a table of rules, so the S3 stand-in
 * (versitygw behind {@link S3RecordingProxy}) refuses it too. versitygw accepts all of it, so a
 * registry configured for S3 rather than Spaces would pass the rehearsal and fail on Spaces.
 *
 * Sources (each rule names its own):
 * - COMPAT: Spaces S3 Compatibility, https://docs.digitalocean.com/products/spaces/reference/s3-compatibility/
 *   (validated 29 Aug 2025): "Object Encryption: Supported with SSE-C ... Bucket-level encryption
 *   settings are not supported"; "Unsupported S3 operations return a standard NotImplemented error".
 * - API: Spaces API Reference, https://docs.digitalocean.com/reference/api/spaces-api/ , feature
 *   table: IAM No, STS No, Public Access Block No, Bucket Replication/Notifications/Tagging/
 *   Inventory/Metrics/Analytics/Accelerate/Request Payment No; Object ACLs Yes with the canned
 *   `private` and `public-read` ("Object ACLs"); and its warning that uploads and deletes fail
 *   with AWS CLI and SDK versions released on or after 15 January 2025, which send the default
 *   CRC checksums of "Data Integrity Protections for Amazon S3".
 * - KEYS: How to Manage Spaces Access Keys, https://docs.digitalocean.com/products/spaces/how-to/manage-access/ :
 *   a key gives its permissions on the buckets it is associated with.
 *
 * Status codes: where the docs name one (NotImplemented for unsupported operations) it is used;
 * for a header value Spaces does not know they name none, and the stand-in answers as S3 does
 * for a value it does not know (400 InvalidArgument).
 */

export interface SpacesRule {
    /** Short name, shown in refusals and in the unit test. */
    name: string;
    /** Where Spaces documents it. */
    source: string;
    /** Why this request is refused, or undefined when the rule lets it pass. */
    check(request: S3RequestView, bucket: string): string | undefined;
    status: number;
    code: string;
}

/** The canned object ACLs Spaces knows (API, "Object ACLs"); S3's `bucket-owner-full-control` and the rest are not among them. */
export const SPACES_CANNED_ACLS: readonly string[] = ["private", "public-read"];

/** Bucket subresources whose S3 APIs Spaces does not implement (COMPAT for encryption; API's feature table for the rest). */
export const SPACES_UNSUPPORTED_BUCKET_SUBRESOURCES: readonly string[] = [
    "encryption",
    "publicAccessBlock",
    "ownershipControls",
    "replication",
    "notification",
    "inventory",
    "metrics",
    "analytics",
    "accelerate",
    "requestPayment",
    "intelligent-tiering",
];

/** Request headers of S3's server-side encryption other than SSE-C (`x-amz-server-side-encryption-customer-*`, which Spaces supports). */
const SSE_HEADERS = /^x-amz-server-side-encryption(-aws-kms-key-id|-context|-bucket-key-enabled)?$/;

/** Headers of the SDKs' default integrity protections: a checksum, its algorithm, or a trailer carrying it. */
const CHECKSUM_HEADERS = /^(x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256|algorithm|type)|x-amz-sdk-checksum-algorithm|x-amz-trailer)$/;

/** Payload hashes that announce a trailer (the checksum after the body): the same protections, streamed. */
const TRAILER_PAYLOADS = /^STREAMING-(UNSIGNED-PAYLOAD|AWS4-HMAC-SHA256-PAYLOAD|AWS4-ECDSA-P256-SHA256-PAYLOAD)-TRAILER$/;

function header(request: S3RequestView, name: string): string | undefined {
    const value = request.headers[name];
    return Array.isArray(value) ? value.join(",") : value;
}

function headerNames(request: S3RequestView): string[] {
    return Object.keys(request.headers).map((h) => h.toLowerCase());
}

/** The path-style bucket (the first path segment), or undefined for a request to the service (`/`). */
export function pathStyleBucket(url: string): string | undefined {
    const first = new URL(url, "http://spaces").pathname.split("/")[1] ?? "";
    return first === "" ? undefined : decodeURIComponent(first);
}

/** The SigV4 credential scope's service, from the Authorization header or a presigned URL's X-Amz-Credential. */
export function signedService(request: S3RequestView): string | undefined {
    const credential = /Credential=([^,\s]+)/.exec(header(request, "authorization") ?? "")?.[1] ?? new URL(request.url, "http://spaces").searchParams.get("X-Amz-Credential") ?? undefined;
    return credential?.split("/")[3];
}

const COMPAT = "https://docs.digitalocean.com/products/spaces/reference/s3-compatibility/";
const API = "https://docs.digitalocean.com/reference/api/spaces-api/";
const KEYS = "https://docs.digitalocean.com/products/spaces/how-to/manage-access/";

export const SPACES_RULES: readonly SpacesRule[] = [
    {
        name: "sse-s3-or-kms",
        source: `${COMPAT} ("Object Encryption": SSE-C only)`,
        status: 501,
        code: "NotImplemented",
        check: (request) => {
            const sent = headerNames(request).filter((h) => SSE_HEADERS.test(h));
            return sent.length === 0 ? undefined : `server-side encryption other than SSE-C (${sent.map((h) => `${h}: ${header(request, h) ?? ""}`).join(", ")})`;
        },
    },
    {
        name: "unsupported-bucket-api",
        source: `${COMPAT} ("Bucket-level encryption settings are not supported"; "Unsupported API Calls"); ${API} (Public Access Block, Replication, Notifications, Bucket Tagging, Inventory, Metrics, Analytics, Accelerate, Request Payment: No)`,
        status: 501,
        code: "NotImplemented",
        check: (request) => {
            const query = new URL(request.url, "http://spaces").searchParams;
            const hit = SPACES_UNSUPPORTED_BUCKET_SUBRESOURCES.find((s) => query.has(s));
            if (hit !== undefined) {
                return `the bucket's ?${hit} API`;
            }
            // Object tagging is supported; bucket tagging is not.
            const hasKey = new URL(request.url, "http://spaces").pathname.replace(/^\/[^/]*\/?/, "") !== "";
            return query.has("tagging") && !hasKey ? "the bucket's ?tagging API" : undefined;
        },
    },
    {
        name: "canned-acl",
        source: `${API} ("Object ACLs": private or public-read)`,
        status: 400,
        code: "InvalidArgument",
        check: (request) => {
            const acl = header(request, "x-amz-acl");
            return acl === undefined || SPACES_CANNED_ACLS.includes(acl) ? undefined : `x-amz-acl: ${acl} (Spaces knows ${SPACES_CANNED_ACLS.join(" and ")})`;
        },
    },
    {
        name: "iam-sts",
        source: `${API} (Identity and Access Management: No; Security Token Service: No)`,
        status: 501,
        code: "NotImplemented",
        check: (request) => {
            const service = signedService(request);
            if (service !== undefined && service !== "s3") {
                return `a request signed for the ${service} service`;
            }
            const action = new URL(request.url, "http://spaces").searchParams.get("Action");
            return action === null ? undefined : `the query API's Action=${action}`;
        },
    },
    {
        name: "sdk-checksums",
        source: `${API} (warning: uploads and deletes fail with AWS SDKs released on or after 15 January 2025, which send "Data Integrity Protections" checksums)`,
        status: 501,
        code: "NotImplemented",
        check: (request) => {
            const sent = headerNames(request).filter((h) => CHECKSUM_HEADERS.test(h));
            const payload = header(request, "x-amz-content-sha256") ?? "";
            if (TRAILER_PAYLOADS.test(payload)) {
                sent.push(`x-amz-content-sha256: ${payload}`);
            }
            return sent.length === 0 ? undefined : `SDK integrity checksums (${sent.join(", ")})`;
        },
    },
    {
        name: "other-bucket",
        source: `${KEYS} (a key reaches the buckets it is associated with)`,
        status: 403,
        code: "AccessDenied",
        check: (request, bucket) => {
            const named = pathStyleBucket(request.url);
            return named === undefined || named === bucket ? undefined : `bucket ${named}, where the key is for ${bucket}`;
        },
    },
];

/** The first rule that refuses the request, as the stand-in answers it; undefined when Spaces would accept it. */
export function spacesRefusal(request: S3RequestView, bucket: string): (S3Refusal & { rule: string }) | undefined {
    for (const rule of SPACES_RULES) {
        const reason = rule.check(request, bucket);
        if (reason !== undefined) {
            return { rule: rule.name, status: rule.status, code: rule.code, message: `Spaces refuses ${reason}` };
        }
    }
    return undefined;
}

/** The recording proxy in front of versitygw, refusing what Spaces refuses for a key on `bucket`. */
export function startSpacesStandIn(options: { upstreamPort: number; bucket: string; port?: number }): Promise<S3RecordingProxy> {
    return S3RecordingProxy.start({ upstreamPort: options.upstreamPort, port: options.port, refuse: (request) => spacesRefusal(request, options.bucket) });
}
