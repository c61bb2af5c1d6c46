import { UPLOAD_PURGE } from "./registryConfig";

/**
 * Each push user's budget of upload starts. An upload a client starts (`POST …/blobs/uploads/`,
 * answered 202) and never finishes stays in the bucket until the registry's purge deletes it
 * (registryConfig.ts UPLOAD_PURGE), and every `_catalog` lists it until then: 10,000 of them took
 * `_catalog` from 64 ms to 4.1 s in the rehearsal (bench/hostile/uploads.ts). The front counts
 * each user's starts over the purge's reach and refuses more with 429 until the oldest age out, so
 * one user leaves at most this many for `_catalog` to list, whatever it sends.
 *
 * Stock Caddy keeps no counter per user, but it keeps one per upstream address: a reverse proxy's
 * passive health check counts each answer of an `unhealthy_status` against the upstream for
 * `fail_duration`, and takes the upstream out while `max_fails` are counted (caddyserver/caddy
 * v2.11.9 modules/caddyhttp/reverseproxy/reverseproxy.go, after the round trip; healthchecks.go
 * countFailure, which forgets each one after fail_duration; hosts.go Upstream.Healthy). Counting
 * 202, that is a sliding window of upload starts. Each push user's starts go to an address of its
 * own, a unix socket of the front's own inner site, which passes them on to the registry with the
 * uploads' bound and waits; a user whose window is full gets `no upstreams available` (503)
 * at once (no `lb_try_duration`), which handle_errors answers as the registry would: 429
 * TOOMANYREQUESTS. The inner site never fails to answer while Caddy runs, so a registry restart
 * (a dial error, which would count too) is never held against a user.
 *
 * What is counted: starts the registry accepted as uploads (202). A cross-repository mount that
 * succeeds and a single-request upload (`?digest=`) answer 201, leave nothing behind, and are not
 * counted. A finished upload stays counted: the window counts starts, not what is left of them.
 * A reload of the front (a deploy that changes its files) ends the old config's timers, which
 * forget their counts (healthchecks.go: the timer's select on the handler's context): each user's
 * window then starts empty.
 */

/** A budget that lets a busy CI's pushes through: ten images of a hundred new layers. */
export const DEFAULT_UPLOAD_STARTS_PER_USER = 1000;

function hoursOf(duration: string): number {
    const match = /^([0-9]+)h$/.exec(duration);
    if (match === null) {
        throw new Error(`expected a duration in whole hours such as "12h"; got ${JSON.stringify(duration)}`);
    }
    return Number(match[1]);
}

/**
 * The registry's first purge after it starts waits a random 0-59 minutes (distribution v3.1.2
 * registry/handlers/app.go startUploadPurger), so across a restart two purges can be up to the
 * interval and an hour apart.
 */
const PURGE_JITTER_HOURS = 1;

/**
 * The window each start is counted for: the longest an abandoned upload stays in the bucket (the
 * purge's age, then up to its interval and its jitter until a purge runs), so no more than the
 * budget of one user's starts is ever there at once.
 */
export function uploadStartWindowHours(): number {
    return hoursOf(UPLOAD_PURGE.age) + hoursOf(UPLOAD_PURGE.interval) + PURGE_JITTER_HOURS;
}

/** POST to a repository's uploads: an upload start (a trailing slash, as the registry routes it). */
export const UPLOAD_START_PATH_REGEX = "^/v2/(?s:.+)/blobs/uploads/?$";

/** Linux's sun_path holds 108 bytes, with the terminating NUL. */
const UNIX_SOCKET_PATH_MAX = 107;

/** The inner site's socket for the push user at `index` of the users, beside the admin socket. */
export function uploadStartSocket(adminSocket: string, index: number): string {
    const dir = adminSocket.slice(0, adminSocket.lastIndexOf("/"));
    const socket = `${dir}/upload-starts-${index}.sock`;
    if (Buffer.byteLength(socket) > UNIX_SOCKET_PATH_MAX) {
        throw new Error(`the upload starts' socket ${socket} is longer than a unix socket path may be (${UNIX_SOCKET_PATH_MAX} bytes): put adminSocket in a shorter directory`);
    }
    return socket;
}

export interface UploadStartBudgetInput {
    /** The push users, each with its index among all users (its socket's name). */
    pushUsers: { name: string; index: number }[];
    perUser: number;
    adminSocket: string;
    /** Secret: what the front sends the registry in place of each user's login. */
    upstreamAuthorization: string;
}

/**
 * For the login-checked route, before the uploads' proxy: each push user's upload starts go to
 * its own socket, counted. Answers nothing else.
 */
export function renderUploadStartRoutes(input: UploadStartBudgetInput): string[] {
    checkBudget(input.perUser);
    return input.pushUsers.flatMap(({ name, index }) => [
        `@upload_start_counted_for_${index} {`,
        `\texpression \`{http.auth.user.id} == "${name}"\``,
        "\tmethod POST",
        `\tpath_regexp \`${UPLOAD_START_PATH_REGEX}\``,
        "}",
        `reverse_proxy @upload_start_counted_for_${index} unix/${uploadStartSocket(input.adminSocket, index)} {`,
        `\theader_up Authorization "${input.upstreamAuthorization}"`,
        `\tfail_duration ${uploadStartWindowHours()}h`,
        `\tmax_fails ${input.perUser}`,
        "\tunhealthy_status 202",
        "}",
    ]);
}

/**
 * The inner site the counted starts reach: it listens on the push users' sockets only and passes
 * each start to the registry through `uploadsProxy` (the uploads' own proxy lines, so that starts
 * share the uploads' bound and wait out a registry restart as every upload request does).
 */
export function renderUploadStartSite(input: UploadStartBudgetInput, uploadsProxy: string[]): string[] {
    if (input.pushUsers.length === 0) {
        return [];
    }
    const binds = input.pushUsers.map(({ index }) => `unix/${uploadStartSocket(input.adminSocket, index)}`);
    return ["", "http:// {", `\tbind ${binds.join(" ")}`, ...uploadsProxy.map((line) => `\t${line}`), "}"];
}

/** What a start refused because its user's window is full says, in the registry's error body. */
export function uploadStartsSpentDetail(perUser: number): string {
    checkBudget(perUser);
    return `this user started ${perUser} uploads within ${uploadStartWindowHours()} hours, the limit uploadStartsPerUser sets; more are accepted as those age out`;
}

/**
 * For handle_errors: a start refused because its user's window is full, answered as the
 * registry answers too many requests (`body`: distribution v3.1.2 registry/api/errcode/register.go
 * ErrorCodeTooManyRequests, 429). Only a counted start's proxy answers an upload start with
 * `no upstreams available`: it has one upstream, always there, and never waits for it.
 */
export function renderUploadStartsSpentAnswer(body: string): string[] {
    return [
        "@upload_starts_spent {",
        '\texpression `{http.error.status_code} == 503 && {http.error.message} == "no upstreams available"`',
        "\tmethod POST",
        `\tpath_regexp \`${UPLOAD_START_PATH_REGEX}\``,
        "}",
        "handle @upload_starts_spent {",
        "\theader Content-Type application/json",
        `\trespond \`${body}\` 429`,
        "}",
    ];
}

function checkBudget(perUser: number): void {
    if (!Number.isInteger(perUser) || perUser < 1) {
        throw new Error(`uploadStartsPerUser must be a whole number of at least 1; got ${perUser}`);
    }
}
