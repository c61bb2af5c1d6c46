/**
 * What the twin benches read of the twin's containers: their cgroups below the twin's, what
 * Docker says of them, and the machine's OOM kills.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { TwinLab } from "../../test/harness/twinLab";
import { MemoryCgroup } from "./cgroup";

/**
 * The container's cgroup directory below `root` (cgroupfs: docker/ID; systemd: docker-ID.scope),
 * or undefined while it is not there (a cgroup that goes while it is walked: the next look finds
 * the new one).
 */
export function containerCgroupDir(root: string, id: string): string | undefined {
    let found: string | undefined;
    const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            if (found !== undefined || !entry.isDirectory()) {
                continue;
            }
            const child = path.join(dir, entry.name);
            if (entry.name.includes(id)) {
                found = child;
            } else {
                walk(child);
            }
        }
    };
    try {
        walk(root);
    } catch {
        return undefined;
    }
    return found;
}

/** The container's memory cgroup below the twin's. */
export function containerMemoryCgroup(twin: MemoryCgroup, id: string): MemoryCgroup | undefined {
    const dir = containerCgroupDir(twin.dir, id);
    return dir === undefined ? undefined : new MemoryCgroup(dir);
}

export interface ContainerState {
    id: string;
    restarts: number;
    oomKilled: boolean;
    memoryLimit: number;
}

export async function inspectContainer(lab: TwinLab, name: string): Promise<ContainerState> {
    const res = await lab.twin.execChecked(`docker inspect -f '{{.Id}} {{.RestartCount}} {{.State.OOMKilled}} {{.HostConfig.Memory}}' ${name}`);
    const [id, restarts, oomKilled, memory] = res.stdout.trim().split(" ");
    return { id, restarts: Number(restarts), oomKilled: oomKilled === "true", memoryLimit: Number(memory) };
}

/** The machine's OOM kills (this kernel is shared with any other twin running now). */
export const machineOomKills = () => Number(/^oom_kill (\d+)$/m.exec(fs.readFileSync("/proc/vmstat", "utf8"))?.[1] ?? 0);

/** oom_kill of every cgroup at or below the twin's, the largest seen for each (a container's goes when it restarts). */
export function oomKillsByCgroup(twin: MemoryCgroup, into: Map<string, number>): void {
    const walk = (dir: string) => {
        try {
            const kills = Number(/^oom_kill (\d+)$/m.exec(fs.readFileSync(path.join(dir, "memory.oom_control"), "utf8"))?.[1] ?? 0);
            into.set(dir, Math.max(into.get(dir) ?? 0, kills));
            for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
                if (entry.isDirectory()) {
                    walk(path.join(dir, entry.name));
                }
            }
        } catch {
            // a container's cgroup went meanwhile
        }
    };
    walk(twin.dir);
}
