import * as fs from "node:fs";
import * as path from "node:path";

/** A cgroup-v1 memory cgroup read from this machine: the twin's, with Docker's containers below it. */
export class MemoryCgroup {
    constructor(readonly dir: string) {}

    exists(): boolean {
        return fs.existsSync(path.join(this.dir, "memory.usage_in_bytes"));
    }

    number(file: string): number {
        return Number(fs.readFileSync(path.join(this.dir, file), "utf8").trim());
    }

    /** Writing 0 restarts a counter (memory.max_usage_in_bytes, memory.failcnt). */
    reset(file: string): void {
        fs.writeFileSync(path.join(this.dir, file), "0");
    }

    /** memory.stat; its total_* fields include the cgroups below (Docker's containers). */
    stat(): Record<string, number> {
        const stat: Record<string, number> = {};
        for (const line of fs.readFileSync(path.join(this.dir, "memory.stat"), "utf8").trim().split("\n")) {
            const [key, value] = line.split(" ");
            stat[key] = Number(value);
        }
        return stat;
    }

    /** Every process charged here or below. */
    procs(): Set<number> {
        const pids = new Set<number>();
        this.walk((dir) => {
            for (const pid of fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
                pids.add(Number(pid));
            }
        });
        return pids;
    }

    /**
     * OOM kills here and below. Under cgroup v1 the kernel counts a kill in memory.oom_control's
     * oom_kill of the victim's own cgroup only, not of its parents, so the tree is summed.
     */
    oomKills(): number {
        let kills = 0;
        this.walk((dir) => {
            kills += Number(/^oom_kill (\d+)$/m.exec(fs.readFileSync(path.join(dir, "memory.oom_control"), "utf8"))?.[1] ?? 0);
        });
        return kills;
    }

    private walk(visit: (dir: string) => void, dir = this.dir): void {
        try {
            visit(dir);
            for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
                if (entry.isDirectory()) {
                    this.walk(visit, path.join(dir, entry.name));
                }
            }
        } catch (e) {
            // A container's cgroup goes when it stops; the twin's own is checked by exists().
            if ((e as NodeJS.ErrnoException).code !== "ENOENT" || dir === this.dir) {
                throw e;
            }
        }
    }
}
