import * as net from "node:net";

/** The only address the rehearsal sends traffic to or listens on. */
export const LOOPBACK = "127.0.0.1";

const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it; it is released before
 * returning). Never returns the same port twice in one process, so two servers started in a row
 * do not race for one port.
 */
export async function freePort(): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
        const port = await new Promise<number>((resolve, reject) => {
            const server = net.createServer();
            server.unref();
            server.once("error", reject);
            server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
                const address = server.address();
                const chosen = typeof address === "object" && address !== null ? address.port : 0;
                server.close(() => resolve(chosen));
            });
        });
        if (port !== 0 && !handedOut.has(port)) {
            handedOut.add(port);
            return port;
        }
    }
    throw new Error("could not find a free TCP port on 127.0.0.1");
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
        ports.push(await freePort());
    }
    return ports;
}

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port. */
export function isListening(port: number, timeoutMs = 1000): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect({ host: LOOPBACK, port });
        const done = (result: boolean) => {
            socket.destroy();
            resolve(result);
        };
        socket.setTimeout(timeoutMs, () => done(false));
        socket.once("connect", () => done(true));
        socket.once("error", () => done(false));
    });
}
