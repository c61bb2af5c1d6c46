import * as net from "node:net";

/**
 * The probe's two ends, run inside the rig's namespaces by probe.ts (`ip netns exec NS node
 * --import tsx probeAgent.ts ...`), because a socket belongs to the namespace of the process that
 * opens it.
 *
 *   serve HOST PORT                       answers PING, GET n (sends n bytes), PUT n (reads n, says OK)
 *   measure HOST PORT PINGS DOWN UP       prints one JSON line: connect time, round trips, transfer times
 *
 * A line protocol over plain TCP: the same path as the registry's traffic, through the link's
 * tbf and toxiproxy, without TLS or HTTP costs in the figures.
 */

const CHUNK = Buffer.alloc(256 * 1024, 0x5a);

function serve(host: string, port: number): void {
    const server = net.createServer((socket) => {
        socket.setNoDelay(true);
        let buffered = Buffer.alloc(0);
        let uploadLeft = 0;
        socket.on("data", (data: Buffer) => {
            let chunk = data;
            while (chunk.length > 0) {
                if (uploadLeft > 0) {
                    const take = Math.min(uploadLeft, chunk.length);
                    uploadLeft -= take;
                    chunk = chunk.subarray(take);
                    if (uploadLeft === 0) {
                        socket.write("OK\n");
                    }
                    continue;
                }
                buffered = Buffer.concat([buffered, chunk]);
                chunk = Buffer.alloc(0);
                const newline = buffered.indexOf(0x0a);
                if (newline < 0) {
                    break;
                }
                const [verb, size] = buffered.subarray(0, newline).toString("latin1").split(" ");
                chunk = buffered.subarray(newline + 1);
                buffered = Buffer.alloc(0);
                if (verb === "PING") {
                    socket.write("PONG\n");
                } else if (verb === "GET") {
                    void sendBytes(socket, Number(size));
                } else if (verb === "PUT") {
                    uploadLeft = Number(size);
                } else {
                    socket.destroy();
                }
            }
        });
        socket.on("error", () => undefined);
    });
    server.listen({ host, port }, () => process.stdout.write(`listening on ${host}:${port}\n`));
}

async function sendBytes(socket: net.Socket, size: number): Promise<void> {
    for (let left = size; left > 0; left -= CHUNK.length) {
        if (!socket.write(left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left))) {
            await new Promise((resolve) => socket.once("drain", resolve));
        }
    }
}

/** Reads from the socket until `done(received)` says so; resolves with the time that took. */
function readUntil(socket: net.Socket, done: (received: Buffer[], bytes: number) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
        const received: Buffer[] = [];
        let bytes = 0;
        const onData = (data: Buffer) => {
            received.push(data);
            bytes += data.length;
            if (done(received, bytes)) {
                socket.off("data", onData);
                socket.off("error", reject);
                resolve();
            }
        };
        socket.on("data", onData);
        socket.once("error", reject);
    });
}

async function measure(host: string, port: number, pings: number, down: number, up: number): Promise<void> {
    const started = performance.now();
    const socket = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host, port }, () => resolve(s));
        s.once("error", reject);
    });
    const connectMs = performance.now() - started;
    socket.setNoDelay(true);
    const endsWithNewline = (parts: Buffer[]) => parts[parts.length - 1].at(-1) === 0x0a;
    const rttMs: number[] = [];
    // The first exchange warms the path (proxy's upstream connection, timers): not counted.
    for (let i = 0; i <= pings; i++) {
        const t0 = performance.now();
        const answer = readUntil(socket, (parts) => endsWithNewline(parts));
        socket.write("PING\n");
        await answer;
        if (i > 0) {
            rttMs.push(performance.now() - t0);
        }
    }
    let t0 = performance.now();
    const got = readUntil(socket, (_parts, bytes) => bytes >= down);
    socket.write(`GET ${down}\n`);
    await got;
    const downMs = performance.now() - t0;
    t0 = performance.now();
    const ok = readUntil(socket, (parts) => endsWithNewline(parts));
    socket.write(`PUT ${up}\n`);
    await sendBytes(socket, up);
    await ok;
    const upMs = performance.now() - t0;
    socket.destroy();
    process.stdout.write(`${JSON.stringify({ connectMs, rttMs, downBytes: down, downMs, upBytes: up, upMs })}\n`);
}

const [mode, host, port, ...rest] = process.argv.slice(2);
if (mode === "serve") {
    serve(host, Number(port));
} else if (mode === "measure") {
    const [pings, down, up] = rest.map(Number);
    measure(host, Number(port), pings, down, up).catch((error: unknown) => {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
    });
} else {
    process.stderr.write("usage: probeAgent.ts serve HOST PORT | measure HOST PORT PINGS DOWN_BYTES UP_BYTES\n");
    process.exit(2);
}
