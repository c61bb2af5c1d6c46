/**
 * The client side of bench/twin/logins.ts, run by it inside a client's network namespace
 * (`nsenter --net`, which leaves /sys as it is, so the front's cgroup stays readable). It takes
 * one job over the IPC channel, so no password is ever in argv, and sends its result back the
 * same way. Requests are GET /v2/ over HTTPS to the twin, trusting the stack's CA only.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";

export type Kind = "no login" | "unknown user" | "known user, wrong password";

export interface Target {
    address: string;
    caPem: string;
}

export interface Login {
    username: string;
    password: string;
}

export interface CpuJob {
    job: "cpu";
    target: Target;
    /** The known user's name, for wrong passwords. */
    knownUser: string;
    kinds: Kind[];
    count: number;
    seconds: number;
    /** The source address (one on the namespace's eth0). */
    localAddress: string;
    /** cpuacct.usage of the front container's cgroup: nanoseconds of CPU, all its threads. */
    cpuFile: string;
    /** Time after a response before the front's CPU is read, so its work after the answer (the log line) counts for this request. */
    settleMs: number;
}

export interface CpuResult {
    kind: Kind;
    cpuMs: number[];
    wallMs: number[];
    statuses: Record<string, number>;
}

export interface RightJob {
    job: "right";
    target: Target;
    login: Login;
    intervalMs: number;
    /** Stops by itself after this long; the parent normally sends "stop" first. */
    maxSeconds: number;
}

export interface RightSample {
    /** Epoch ms the request was sent. */
    at: number;
    ms: number;
    /** HTTP status, or the error's code. */
    outcome: string;
}

export interface FloodJob {
    job: "flood";
    target: Target;
    knownUser: string;
    concurrency: number;
    /** Source addresses, each request from the next; none: the namespace's own address, one keep-alive connection per flooder. */
    addresses?: string[];
    maxRequests: number;
    maxSeconds: number;
    /** A request on a connection the ban cut gets no answer and no error (TCP retransmits): it is ended after this long, connect included. */
    timeoutMs: number;
}

export interface FloodResult {
    startedAt: number;
    endedAt: number;
    sent: number;
    /** Answers by status: every 401 is a wrong login the front checked. */
    answered: Record<string, number>;
    /** Connections refused (the ban's REJECT on a new connection). */
    refused: number;
    /** Requests ended by timeoutMs: on an open connection the ban rejects its packets, and a new connection's SYN can go unanswered. */
    timedOut: number;
    otherErrors: Record<string, number>;
    /** Each of those errors: epoch ms and source address ("own" for the namespace's). */
    otherErrorEvents: { at: number; address: string; error: string }[];
    /** Epoch ms of the first refusal or timeout, the client's own view of the ban. */
    firstBlockedAt?: number;
    /** Per source address: answers received, and when it was first blocked. */
    perAddress: Record<string, { answered: number; lastAnsweredAt?: number; blockedAt?: number }>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function authorization(kind: Kind, knownUser: string): string | undefined {
    const guess = randomBytes(12).toString("hex");
    switch (kind) {
        case "no login":
            return undefined;
        case "unknown user":
            return `Basic ${Buffer.from(`admin-${guess.slice(0, 8)}:${guess}`).toString("base64")}`;
        case "known user, wrong password":
            return `Basic ${Buffer.from(`${knownUser}:${guess}`).toString("base64")}`;
    }
}

interface Answer {
    status?: number;
    error?: string;
}

function ask(target: Target, agent: https.Agent, header: string | undefined, options: { localAddress?: string; timeoutMs?: number } = {}): Promise<Answer> {
    return new Promise((resolve) => {
        // `timeout` here, unlike req.setTimeout, also bounds the connect: after a ban the kernel
        // rate-limits the REJECT's ICMP errors, so a SYN can go unanswered for seconds.
        const req = https.request(
            { host: target.address, port: 443, path: "/v2/", agent, localAddress: options.localAddress, timeout: options.timeoutMs, headers: header === undefined ? {} : { Authorization: header } },
            (res) => {
                res.resume();
                res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
                res.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
            },
        );
        req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "TIMEOUT" })));
        req.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
        req.end();
    });
}

const agentFor = (target: Target, localAddress?: string) => new https.Agent({ keepAlive: true, maxSockets: 1, ca: target.caPem, localAddress });

const readNs = (file: string) => Number(fs.readFileSync(file, "utf8").trim());

async function cpu(job: CpuJob): Promise<CpuResult[]> {
    const results: CpuResult[] = [];
    for (const kind of job.kinds) {
        const agent = agentFor(job.target, job.localAddress);
        // The connection and its TLS handshake are made outside the measurement.
        await ask(job.target, agent, undefined);
        await sleep(job.settleMs);
        const result: CpuResult = { kind, cpuMs: [], wallMs: [], statuses: {} };
        const until = Date.now() + job.seconds * 1000;
        while (result.cpuMs.length < job.count && Date.now() < until) {
            const header = authorization(kind, job.knownUser);
            const before = readNs(job.cpuFile);
            const began = process.hrtime.bigint();
            const answer = await ask(job.target, agent, header, { timeoutMs: 10_000 });
            result.wallMs.push(Number(process.hrtime.bigint() - began) / 1e6);
            await sleep(job.settleMs);
            result.cpuMs.push((readNs(job.cpuFile) - before) / 1e6);
            const key = answer.status === undefined ? `error ${answer.error}` : String(answer.status);
            result.statuses[key] = (result.statuses[key] ?? 0) + 1;
        }
        agent.destroy();
        results.push(result);
    }
    return results;
}

async function right(job: RightJob, stopped: () => boolean): Promise<RightSample[]> {
    const agent = agentFor(job.target);
    const header = `Basic ${Buffer.from(`${job.login.username}:${job.login.password}`).toString("base64")}`;
    // Logged in once before, as any client that already pulled: the connection is open, and the front has checked this login before.
    await ask(job.target, agent, header);
    const samples: RightSample[] = [];
    const until = Date.now() + job.maxSeconds * 1000;
    while (!stopped() && Date.now() < until) {
        const at = Date.now();
        const began = process.hrtime.bigint();
        const answer = await ask(job.target, agent, header, { timeoutMs: 30_000 });
        samples.push({ at, ms: Number(process.hrtime.bigint() - began) / 1e6, outcome: answer.status === undefined ? String(answer.error) : String(answer.status) });
        await sleep(job.intervalMs);
    }
    agent.destroy();
    return samples;
}

async function flood(job: FloodJob): Promise<FloodResult> {
    const spread = job.addresses !== undefined;
    const addresses = job.addresses ?? [""];
    // One keep-alive connection per source address: each request from the next address reuses that address's connection.
    const agents = new Map(addresses.map((a) => [a, agentFor(job.target, a === "" ? undefined : a)]));
    const blocked = new Set<string>();
    const result: FloodResult = { startedAt: Date.now(), endedAt: 0, sent: 0, answered: {}, refused: 0, timedOut: 0, otherErrors: {}, otherErrorEvents: [], perAddress: {} };
    for (const a of addresses) {
        result.perAddress[a === "" ? "own" : a] = { answered: 0 };
    }
    const stopAt = result.startedAt + job.maxSeconds * 1000;
    let next = 0;
    const flooder = async () => {
        let agent = spread ? undefined : agentFor(job.target);
        let strikes = 0;
        while (result.sent < job.maxRequests && Date.now() < stopAt && blocked.size < addresses.length) {
            let address = "";
            if (spread) {
                // The next address not yet refused: a guesser moves on from a banned address.
                do {
                    address = addresses[next++ % addresses.length];
                } while (blocked.has(address));
            }
            const entry = result.perAddress[address === "" ? "own" : address];
            result.sent++;
            const answer = await ask(job.target, agent ?? (agents.get(address) as https.Agent), authorization("known user, wrong password", job.knownUser), {
                localAddress: address === "" ? undefined : address,
                timeoutMs: job.timeoutMs,
            });
            if (answer.status !== undefined) {
                result.answered[answer.status] = (result.answered[answer.status] ?? 0) + 1;
                entry.answered++;
                entry.lastAnsweredAt = Date.now();
                continue;
            }
            if (answer.error === "ECONNREFUSED") {
                result.refused++;
                // Refused at connect: the address is banned. From the own address, this flooder stops; the others find out by themselves.
                entry.blockedAt ??= Date.now();
                result.firstBlockedAt ??= Date.now();
                blocked.add(address);
                if (!spread) {
                    break;
                }
            } else if (answer.error === "TIMEOUT") {
                result.timedOut++;
                entry.blockedAt ??= Date.now();
                result.firstBlockedAt ??= Date.now();
                if (agent === undefined) {
                    // No answer from this address any more: the guesser moves on to the others.
                    blocked.add(address);
                } else if (++strikes >= 2) {
                    // The own address: no answer on the open connection, and none on a new one.
                    blocked.add(address);
                    break;
                } else {
                    // The open connection is cut; a new one meets the ban at connect.
                    agent.destroy();
                    agent = agentFor(job.target);
                }
            } else {
                const key = String(answer.error);
                result.otherErrors[key] = (result.otherErrors[key] ?? 0) + 1;
                result.otherErrorEvents.push({ at: Date.now(), address: address === "" ? "own" : address, error: key });
            }
        }
        agent?.destroy();
    };
    await Promise.all(Array.from({ length: job.concurrency }, () => flooder()));
    result.endedAt = Date.now();
    for (const agent of agents.values()) {
        agent.destroy();
    }
    return result;
}

function main(): void {
    let stop = false;
    process.on("disconnect", () => process.exit(0));
    process.on("message", (message: CpuJob | RightJob | FloodJob | "stop") => {
        if (message === "stop") {
            stop = true;
            return;
        }
        const work: Promise<unknown> = message.job === "cpu" ? cpu(message) : message.job === "right" ? right(message, () => stop) : flood(message);
        work.then(
            (result) => process.send?.({ result }, () => process.disconnect()),
            (error: unknown) => process.send?.({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.disconnect()),
        );
    });
}

if (require.main === module) {
    main();
}
