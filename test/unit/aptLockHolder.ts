import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Processes that hold apt's locks the way apt does, for the tests of the wait in aptWait.ts:
 * apt's `GetLock` opens the file and takes fcntl(F_SETLK) with F_WRLCK over the whole file
 * (Debian/apt apt-pkg/contrib/fileutl.cc), and so does dpkg (lib/dpkg/file.c). Each holder keeps
 * its lock until release() closes its stdin.
 */
export interface LockHolder {
    pid: number;
    /** Ends the holder and resolves once the lock is gone. */
    release(): Promise<void>;
}

async function holding(command: string, args: string[]): Promise<LockHolder> {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
    await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
            if (d.toString().includes("locked")) {
                resolve();
            }
        });
        child.on("close", (code) => reject(new Error(`${command} exited (${code}) before it held its lock: ${err}`)));
    });
    return {
        pid: child.pid!,
        release: async () => {
            child.stdin.end();
            await closed;
        },
    };
}

/**
 * perl (perl-base, Essential on Debian and Ubuntu) taking the lock as apt's GetLock does.
 * struct flock on Linux x86_64 and arm64: short l_type, short l_whence, 4 bytes of padding,
 * off_t l_start, off_t l_len, pid_t l_pid, 4 bytes of padding.
 */
export function holdLikeApt(path: string): Promise<LockHolder> {
    mkdirSync(dirname(path), { recursive: true });
    closeSync(openSync(path, "a"));
    const perl = `use Fcntl;
open(my $fh, "+<", $ARGV[0]) or die "open $ARGV[0]: $!";
fcntl($fh, F_SETLK, pack("s s x4 q q i x4", F_WRLCK, SEEK_SET, 0, 0, 0)) or die "fcntl: $!";
$| = 1;
print "locked\\n";
my $rest = <STDIN>;`;
    return holding("perl", ["-e", perl, path]);
}

/**
 * The real dpkg holding its own locks (lock-frontend, then lock) in a scratch admin directory:
 * `--set-selections` locks the database, then reads selections from stdin until it closes.
 */
export async function holdWithDpkg(adminDir: string): Promise<LockHolder> {
    mkdirSync(`${adminDir}/updates`, { recursive: true });
    mkdirSync(`${adminDir}/info`, { recursive: true });
    for (const file of ["status", "available"]) {
        closeSync(openSync(`${adminDir}/${file}`, "a"));
    }
    const child = spawn("dpkg", [`--admindir=${adminDir}`, "--set-selections"], { stdio: ["pipe", "ignore", "pipe"] });
    const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
    // dpkg says nothing once it holds the locks: wait until the kernel lists both for it.
    const held = () => readFileSync("/proc/locks", "utf8").split("\n").filter((line) => line.split(/\s+/)[4] === String(child.pid)).length;
    const deadline = Date.now() + 10_000;
    while (held() < 2) {
        if (Date.now() > deadline || child.exitCode !== null) {
            throw new Error(`dpkg did not take its locks in ${adminDir}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return {
        pid: child.pid!,
        release: async () => {
            child.stdin!.end();
            await closed;
        },
    };
}

/** A python3 with python3-apt (the system's, not a virtualenv's), or undefined. */
export function pythonWithLibapt(): string | undefined {
    return ["/usr/bin/python3", "python3"].find((python) => (python.startsWith("/") ? existsSync(python) : true) && spawnSync(python, ["-c", "import apt_pkg"], { stdio: "ignore" }).status === 0);
}

/** libapt-pkg's GetLock itself, through python3-apt's apt_pkg.get_lock. */
export function holdWithLibapt(python: string, path: string): Promise<LockHolder> {
    mkdirSync(dirname(path), { recursive: true });
    const script = `import apt_pkg, sys
apt_pkg.init_config()
apt_pkg.get_lock(sys.argv[1], True)
print("locked", flush=True)
sys.stdin.read()`;
    return holding(python, ["-c", script, path]);
}
