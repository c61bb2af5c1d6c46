import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runSyncQuietly, type ProcessTracker, type RunResult, type TrackedProcess } from "./processes";
import { systemBinary } from "./tools";
import { waitUntil } from "./wait";
import type { TwinNetHost } from "./twinNetwork";

/**
 * The droplet twin: the root filesystem scripts/install-twin.sh builds (Debian 12 made the way
 * the Docker 1-click image is made: Docker, ufw enabled with the image's rules, cloud-init,
 * unattended-upgrades), booted with `systemd-nspawn --boot` in a network namespace of its own.
 * Its first boot runs the real cloud-init on the program's rendered user data through the
 * NoCloud datasource. Each twin boots from an overlay of the shared root filesystem; its changes
 * (and Docker's /var/lib/docker, a plain directory: overlay2 cannot nest on overlayfs) survive a
 * power-off and the next boot, as a droplet's disk does.
 *
 * How it boots on this machine (../shared/FIELD-NOTES.md, "The droplet twin"): PID 1 here is
 * not systemd, so `--register=no --keep-unit`, each twin first moved into cgroups of its own
 * (two twins in one cgroup collide on its `payload`); CAP_NET_ADMIN for Docker's and
 * ufw's iptables; SYSTEMD_NSPAWN_API_VFS_WRITABLE=network for ip_forward; the @keyring system
 * calls for runc; the cgroup hierarchies remounted read-write before containerd starts.
 */

/** The twin's own settings: what differs from a droplet because it runs here, never the program's. */
const CGROUP_RW_DROPIN = `[Service]
# The twin's cgroup hierarchies are mounted read-only by systemd-nspawn; runc must write them.
ExecStartPre=/bin/sh -c 'for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d" "$d" || true; done'
`;

const CGROUP_CONTROLLERS = ["systemd", "memory", "cpu", "cpuacct", "pids"];
/**
 * With cgroup2 mounted here beside the v1 hierarchies (systemd's "hybrid" layout),
 * systemd-nspawn takes its own cgroup from cgroup2, not from name=systemd, and makes `payload`
 * and `supervisor` under it in both; from the root cgroup every twin shared `/payload`.
 */
const CGROUP2 = "/sys/fs/cgroup/unified";

let twinsMade = 0;

export interface TwinOptions {
    /** Directory for the overlay, Docker's data and the console log (created). */
    dir: string;
    /** The twin's network namespace and address (its eth0 is already set up there). */
    host: TwinNetHost;
    /** The program's rendered cloud-init user data. */
    userData: string;
    /** cloud-init's instance id: a new one is a new droplet. */
    instanceId: string;
    /** The droplet's SSH keys (`sshKeys`), which DigitalOcean's metadata gives cloud-init for root. */
    sshPublicKeys: string[];
    /** Extra /etc/hosts lines (the S3 endpoint's names, say): address -> names. */
    hostsEntries?: Record<string, string[]>;
    /** The resolver the twin asks (its resolv.conf); by default this machine's is copied in. */
    nameserver?: string;
    /** apt's only source: the rehearsal's flat repository of the deploy's packages. */
    aptSource?: string;
    /** The droplet's size: memory in bytes and CPUs, through the twin's cgroups. */
    limits?: { memoryBytes?: number; cpus?: number };
    /** Seconds to wait for boot; default 90. */
    bootTimeoutSeconds?: number;
}

/** Where scripts/install-twin.sh keeps the root filesystem (and the deploy's package repository). */
export function twinCacheDir(): string {
    return process.env.TWIN_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "private-registry", "twin");
}

export function twinRootfs(): string {
    const rootfs = path.join(twinCacheDir(), "rootfs");
    if (!fs.existsSync(path.join(rootfs, "usr/sbin/dockerd"))) {
        throw new Error(`the droplet twin's root filesystem is not built at ${rootfs}: run npm run setup (scripts/install-twin.sh)`);
    }
    return rootfs;
}

export class Twin {
    private machine?: TrackedProcess;
    private leader?: number;
    private readonly merged: string;
    private readonly cgroupName: string;
    private boots = 0;

    private constructor(
        private readonly tracker: ProcessTracker,
        readonly options: TwinOptions,
    ) {
        this.merged = path.join(options.dir, "merged");
        twinsMade += 1;
        this.cgroupName = `twin-${path.basename(options.dir)}-${process.pid}-${twinsMade}`;
    }

    /** Lays out the twin's disk and boots it for the first time. */
    static async create(tracker: ProcessTracker, options: TwinOptions): Promise<Twin> {
        const twin = new Twin(tracker, options);
        twin.prepareDisk();
        tracker.addCleanup(`droplet twin ${options.host.ns}`, () => twin.dispose(), () => twin.disposeSync());
        await twin.boot();
        return twin;
    }

    /** The twin's PID 1 as this machine sees it (for `nsenter -t PID -a`), while it runs. */
    get pid(): number | undefined {
        return this.leader;
    }

    /**
     * The twin's memory cgroup (v1) as this machine sees it: its limit, usage and statistics. The
     * twin's processes, Docker's containers included (below it, in `docker/`), are charged to it.
     */
    get memoryCgroup(): string {
        return path.join("/sys/fs/cgroup/memory", this.cgroupName);
    }

    get address(): string {
        return this.options.host.address;
    }

    /** The twin's console: systemd's boot messages and cloud-init's output. */
    get consoleLog(): string {
        return path.join(this.options.dir, `console-${this.boots}.log`);
    }

    /** A path inside the running twin's file system, as this machine sees it. */
    file(twinPath: string): string {
        const docker = "/var/lib/docker";
        if (twinPath === docker || twinPath.startsWith(`${docker}/`)) {
            return path.join(this.options.dir, "docker", twinPath.slice(docker.length));
        }
        return path.join(this.merged, twinPath);
    }

    private prepareDisk(): void {
        const { dir } = this.options;
        for (const sub of ["upper", "work", "merged", "docker"]) {
            fs.mkdirSync(path.join(dir, sub), { recursive: true });
        }
        const upper = (p: string) => path.join(dir, "upper", p);
        const write = (p: string, content: string, mode = 0o644) => {
            fs.mkdirSync(path.dirname(upper(p)), { recursive: true });
            fs.writeFileSync(upper(p), content, { mode });
        };
        // NoCloud's meta-data carries the droplet's keys as DigitalOcean's metadata service does.
        const keys = this.options.sshPublicKeys.map((key) => `  - ${JSON.stringify(key.trim())}`).join("\n");
        write("var/lib/cloud/seed/nocloud/meta-data", `instance-id: ${this.options.instanceId}\nlocal-hostname: twin\npublic-keys:\n${keys}\n`);
        // DigitalOcean's images let root log in with those keys; Debian's cloud.cfg would refuse root.
        write("etc/cloud/cloud.cfg.d/91-twin-droplet.cfg", "disable_root: false\n");
        write("var/lib/cloud/seed/nocloud/user-data", this.options.userData, 0o600);
        write("etc/systemd/system/containerd.service.d/twin-cgroup-rw.conf", CGROUP_RW_DROPIN);
        const hostsLines = Object.entries(this.options.hostsEntries ?? {}).map(([address, names]) => `${address} ${names.join(" ")}`);
        write("etc/hosts", ["127.0.0.1 localhost", "127.0.1.1 twin", "::1 localhost ip6-localhost ip6-loopback", ...hostsLines, ""].join("\n"));
        if (this.options.nameserver !== undefined) {
            write("etc/resolv.conf", `nameserver ${this.options.nameserver}\n`);
        }
        if (this.options.aptSource !== undefined) {
            write("etc/apt/sources.list", `deb [trusted=yes] ${this.options.aptSource} ./\n`);
        }
    }

    private mount(): void {
        if (isMounted(this.merged)) {
            return;
        }
        const { dir } = this.options;
        runChecked("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${twinRootfs()},upperdir=${path.join(dir, "upper")},workdir=${path.join(dir, "work")}`, this.merged]);
    }

    private cgroupDirs(): string[] {
        const dirs = CGROUP_CONTROLLERS.map((controller) => path.join("/sys/fs/cgroup", controller, this.cgroupName));
        return fs.existsSync(path.join(CGROUP2, "cgroup.procs")) ? [...dirs, path.join(CGROUP2, this.cgroupName)] : dirs;
    }

    private makeCgroups(): string[] {
        const made = this.cgroupDirs();
        for (const cg of made) {
            if (!fs.existsSync(path.dirname(cg))) {
                throw new Error(`the droplet twin needs the cgroup hierarchy at ${path.dirname(cg)}`);
            }
            fs.mkdirSync(cg, { recursive: true });
        }
        const limits = this.options.limits ?? {};
        if (limits.memoryBytes !== undefined) {
            // Without hierarchical accounting Docker's containers, in cgroups below, would escape the limit.
            if (fs.readFileSync(path.join(this.memoryCgroup, "memory.use_hierarchy"), "utf8").trim() !== "1") {
                throw new Error(`${this.memoryCgroup} does not account hierarchically (memory.use_hierarchy is 0)`);
            }
            fs.writeFileSync(path.join(this.memoryCgroup, "memory.limit_in_bytes"), String(limits.memoryBytes));
        }
        if (limits.cpus !== undefined) {
            fs.writeFileSync(path.join("/sys/fs/cgroup/cpu", this.cgroupName, "cpu.cfs_period_us"), "100000");
            fs.writeFileSync(path.join("/sys/fs/cgroup/cpu", this.cgroupName, "cpu.cfs_quota_us"), String(Math.round(limits.cpus * 100000)));
        }
        return made;
    }

    /** Boots the twin (again): as a droplet's power button, the disk is kept. */
    async boot(): Promise<void> {
        if (this.machine?.running) {
            throw new Error("the twin is already running");
        }
        this.mount();
        const cgroups = this.makeCgroups();
        this.boots += 1;
        const join = cgroups.map((cg) => `echo $$ > ${cg}/cgroup.procs`).join("; ");
        const nspawn = [
            systemBinary("systemd-nspawn"),
            "-D", this.merged,
            "--boot",
            "--register=no",
            "--keep-unit",
            `--network-namespace-path=/run/netns/${this.options.host.ns}`,
            "--capability=CAP_NET_ADMIN",
            "--system-call-filter=@keyring",
            `--bind=${path.join(this.options.dir, "docker")}:/var/lib/docker`,
            "--console=read-only",
            // The twin's own resolv.conf (written above) stays as it is.
            ...(this.options.nameserver !== undefined ? ["--resolv-conf=off"] : []),
        ];
        this.machine = this.tracker.start(`twin ${this.options.host.ns}`, "/bin/sh", ["-c", `${join}; exec "$@"`, "sh", ...nspawn], {
            logFile: this.consoleLog,
            env: { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: "network" },
        });
        const machine = this.machine;
        this.leader = await waitUntil(
            async () => {
                const leader = childOf(machine.pid);
                return leader === undefined ? { done: false, seen: "no systemd yet" } : { done: true, value: leader };
            },
            { description: "the twin's systemd to start", timeoutMs: 20_000, abortIf: () => (machine.running ? undefined : `systemd-nspawn exited:\n${machine.logTail()}`) },
        );
        const timeoutMs = (this.options.bootTimeoutSeconds ?? 90) * 1000;
        const state = await waitUntil(
            async () => {
                const res = await this.exec("systemctl is-system-running", { timeoutMs: 10_000 });
                const value = res.stdout.trim();
                return value === "running" || value === "degraded" ? { done: true, value } : { done: false, seen: value };
            },
            { description: "the twin to finish booting", timeoutMs, intervalMs: 500, abortIf: () => (machine.running ? undefined : `systemd-nspawn exited:\n${machine.logTail()}`) },
        );
        if (state === "degraded") {
            const failed = await this.exec("systemctl --failed --no-legend --plain");
            throw new Error(`the twin booted with failed units:\n${failed.stdout}`);
        }
    }

    /**
     * Runs a shell script as root inside the twin (all of its namespaces), with a clean
     * environment. For the harness's own doings; the deploy reaches the twin over SSH.
     */
    exec(script: string, options: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
        if (this.leader === undefined || !this.machine?.running) {
            throw new Error("the twin is not running");
        }
        return this.tracker.run(
            systemBinary("nsenter"),
            ["-t", String(this.leader), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "/bin/sh", "-c", script],
            { input: options.input, timeoutMs: options.timeoutMs ?? 120_000 },
        );
    }

    /** {@link exec}, failing with the script's output when it exits non-zero. */
    async execChecked(script: string, options: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
        const res = await this.exec(script, options);
        if (res.code !== 0) {
            throw new Error(`in the twin, \`${script.split("\n")[0]}\` exited ${res.code}:\n${res.stdout}${res.stderr}`);
        }
        return res;
    }

    /** `systemctl poweroff`, as a droplet's graceful power-off, and waits until the machine is gone. */
    async powerOff(timeoutMs = 90_000): Promise<void> {
        const machine = this.machine;
        if (machine === undefined || !machine.running) {
            return;
        }
        await this.exec("systemctl poweroff --no-block");
        await waitUntil(async () => (machine.running ? { done: false, seen: "still running" } : { done: true, value: undefined }), {
            description: "the twin to power off",
            timeoutMs,
        });
        this.leader = undefined;
    }

    /**
     * A power cut: the twin's PID 1 is killed, which kills every process in its PID namespace at
     * once, with no shutdown; then systemd-nspawn exits.
     */
    async pullPlug(): Promise<void> {
        const machine = this.machine;
        if (machine === undefined || !machine.running || this.leader === undefined) {
            return;
        }
        process.kill(this.leader, "SIGKILL");
        this.leader = undefined;
        await waitUntil(async () => (machine.running ? { done: false, seen: "still running" } : { done: true, value: undefined }), {
            description: "systemd-nspawn to exit after the power cut",
            timeoutMs: 30_000,
        }).catch(() => machine.killHard());
    }

    async dispose(): Promise<void> {
        if (this.machine?.running) {
            await this.powerOff(30_000).catch(() => this.pullPlug());
        }
        this.disposeSync();
    }

    disposeSync(): void {
        // The twin's PID 1 first: killing it ends every process in the twin's PID namespace.
        if (this.leader !== undefined) {
            try {
                process.kill(this.leader, "SIGKILL");
            } catch {
                // already gone
            }
            this.leader = undefined;
        }
        if (this.machine?.running) {
            try {
                process.kill(this.machine.pid, "SIGKILL");
            } catch {
                // already gone
            }
        }
        if (isMounted(this.merged)) {
            runSyncQuietly(systemBinary("umount"), ["-l", this.merged]);
        }
        for (const cg of this.cgroupDirs()) {
            removeCgroupTree(cg);
        }
    }
}

function runChecked(command: string, args: string[]): void {
    execFileSync(systemBinary(command), args, { stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
}

function isMounted(dir: string): boolean {
    return fs.readFileSync("/proc/self/mounts", "utf8").split("\n").some((line) => line.split(" ")[1] === dir);
}

/** The first child of a process: systemd-nspawn's is the twin's systemd. */
function childOf(pid: number): number | undefined {
    try {
        for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
            const children = fs.readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
            if (children !== "") {
                const nspawn = Number(children.split(" ")[0]);
                // The shell exec'd systemd-nspawn, whose child is the container's PID 1.
                const comm = fs.readFileSync(`/proc/${nspawn}/comm`, "utf8").trim();
                return comm === "systemd-nspawn" ? childOf(nspawn) : nspawn;
            }
        }
    } catch {
        return undefined;
    }
    return undefined;
}

/** Removes a cgroup (v1) and the ones systemd made inside it, deepest first. */
function removeCgroupTree(dir: string): void {
    if (!fs.existsSync(dir)) {
        return;
    }
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) {
            removeCgroupTree(path.join(dir, entry.name));
        }
    }
    try {
        fs.rmdirSync(dir);
    } catch {
        // still has processes (being killed): the next run's cleanup gets it
    }
}
