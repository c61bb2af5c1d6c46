import { REGISTRY_CONFIG_PATH, REGISTRY_HTPASSWD_PATH, REGISTRY_TLS_CERT_PATH, REGISTRY_TLS_KEY_PATH } from "./registryConfig";
import { shellQuote } from "./shell";

/**
 * The shell scripts the droplet runs, rendered as plain POSIX sh. Pure: values in, script text
 * out. Every interpolated value goes through {@link shellQuote}.
 *
 * Secrets never appear in a script: the rendered text becomes the remote command, which
 * @pulumi/command prints when a command fails. Secrets travel on the command's stdin instead,
 * as a small line-based bundle (see {@link renderStdinBundle}).
 */

/** Names of the files the start script accepts on stdin, and where each goes in the container. */
export const BUNDLE_FILES = {
    "config.yml": REGISTRY_CONFIG_PATH,
    htpasswd: REGISTRY_HTPASSWD_PATH,
    "tls.crt": REGISTRY_TLS_CERT_PATH,
    "tls.key": REGISTRY_TLS_KEY_PATH,
    /** Not mounted: the health check uses it to verify the registry's certificate. */
    "ca.crt": undefined,
} as const;

export type BundleFileName = keyof typeof BUNDLE_FILES;

export interface StdinBundle {
    files: Partial<Record<BundleFileName, string>>;
    /** The registry login the health check proves works. */
    healthCheckUser: { username: string; password: string };
}

const BUNDLE_END = "end";

/**
 * The registry container's environment. Tracing off, as the official image sets it. A soft Go
 * memory limit, so that the garbage collector works harder before a burst of concurrent uploads
 * outgrows a small droplet: 8 concurrent pushes peaked at 183 MB with it and ~230 MB without
 * (docs/BENCHMARKS.md).
 */
export const REGISTRY_CONTAINER_ENV: Readonly<Record<string, string>> = { OTEL_TRACES_EXPORTER: "none", GOMEMLIMIT: "150MiB" };

/**
 * Renders the start command's stdin: one `file NAME BASE64` line per file, a `login BASE64`
 * line, and an `end` line so a truncated stream is detected instead of half-applied.
 */
export function renderStdinBundle(bundle: StdinBundle): string {
    if (bundle.files["config.yml"] === undefined || bundle.files.htpasswd === undefined) {
        throw new Error("the stdin bundle needs config.yml and htpasswd");
    }
    const lines: string[] = [];
    for (const name of Object.keys(BUNDLE_FILES) as BundleFileName[]) {
        const content = bundle.files[name];
        if (content !== undefined) {
            lines.push(`file ${name} ${Buffer.from(content, "utf8").toString("base64")}`);
        }
    }
    const { username, password } = bundle.healthCheckUser;
    // A curl config line, so the password never becomes a process argument on the host.
    const curlValue = `${username}:${password}`.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
    lines.push(`login ${Buffer.from(`user = "${curlValue}"\n`, "utf8").toString("base64")}`);
    lines.push(BUNDLE_END);
    return lines.join("\n") + "\n";
}

export type HealthCheck = {
    /** The URL of the registry's `/v2/` endpoint as clients name it. */
    url: string;
    /** Sends the check to this local address instead of resolving the URL's host (curl --connect-to). */
    connectTo?: string;
    /** Verify the certificate against the bundled ca.crt instead of the system store. */
    useBundledCa: boolean;
    timeoutSeconds: number;
    /**
     * Set while the registry's DNS name does not yet point at the droplet. Any TLS handshake for
     * the name would then make the registry ask Let's Encrypt for a certificate that cannot be
     * validated, and failed validations count against Let's Encrypt's limits. The script checks
     * only that the container stays up and its debug server answers, and says which DNS record
     * to create; the next `pulumi up` after that runs the full check.
     */
    awaitingDns?: { hostname: string; address: string; debugUrl: string };
};

export interface StartScriptInput {
    containerName: string;
    image: string;
    /** Host directory holding the files from stdin (mode 0700, files 0600). */
    configDir: string;
    /** Host directory for state that must survive restarts (the Let's Encrypt cache). */
    dataDir: string;
    /** Where dataDir is mounted in the container. */
    dataMountPath: string;
    /** `docker run -p` values, e.g. `443:5000` and `127.0.0.1:5001:5001`. */
    publish: string[];
    health: HealthCheck;
    /** Whether the container needs the TLS key pair from the bundle. */
    mountTlsFiles: boolean;
}

function header(purpose: string): string {
    return `#!/bin/sh
# ${purpose}
set -eu
`;
}

/** Waits until the fresh droplet has finished first boot and Docker answers. */
export function renderWaitForHostScript(timeoutSeconds: number): string {
    return `${header("Waits for first boot to finish and for the Docker engine to answer.")}
echo "host reachable over SSH; waiting for cloud-init to finish"
if command -v cloud-init >/dev/null 2>&1; then
  # Exit code 2 means "done, with recoverable errors"; Docker is what matters here.
  cloud-init status --wait >/dev/null 2>&1 || echo "cloud-init reported errors; continuing to the Docker check"
fi
deadline=$(( $(date +%s) + ${Number(timeoutSeconds)} ))
until docker info >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "Docker did not answer within ${Number(timeoutSeconds)}s; last error:" >&2
    docker info >&2 || true
    exit 1
  fi
  echo "waiting for the Docker engine..."
  sleep 3
done
echo "Docker is ready: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown version)"
`;
}

/**
 * Reads the stdin bundle into configDir, then replaces the registry container and waits until
 * it answers 401 without credentials and 200 with them. Idempotent: running it twice leaves one
 * container.
 */
export function renderStartScript(input: StartScriptInput): string {
    const q = shellQuote;
    const requiredFiles: BundleFileName[] = [
        "config.yml",
        "htpasswd",
        ...(input.mountTlsFiles ? (["tls.crt", "tls.key"] as const) : []),
        ...(input.health.useBundledCa ? (["ca.crt"] as const) : []),
    ];
    const mounts = requiredFiles.flatMap((file) => {
        const containerPath = BUNDLE_FILES[file];
        return containerPath === undefined ? [] : [`-v "$config_dir/${file}:${containerPath}:ro"`];
    });
    mounts.push(`-v "$data_dir:${input.dataMountPath}"`);
    const publish = input.publish.map((p) => `-p ${q(p)}`).join(" ");
    const curlTls = [
        input.health.connectTo !== undefined ? `--connect-to ${q(`::${input.health.connectTo}`)}` : "",
        input.health.useBundledCa ? `--cacert "$config_dir/ca.crt"` : "",
    ]
        .filter((s) => s !== "")
        .join(" ");

    return `${header("Installs the registry's files from stdin and (re)starts its container, then proves it serves.")}
name=${q(input.containerName)}
image=${q(input.image)}
config_dir=${q(input.configDir)}
data_dir=${q(input.dataDir)}
health_url=${q(input.health.url)}
health_timeout=${Number(input.health.timeoutSeconds)}

umask 077
mkdir -p "$config_dir" "$data_dir"
chmod 700 "$config_dir"
staging=$(mktemp -d "$config_dir/.incoming.XXXXXX")
curlrc="$staging/curlrc"
cleanup() { rm -rf "$staging"; }
trap cleanup EXIT

# The bundle: "file NAME BASE64" lines, one "login BASE64" line, then "end".
complete=no
while IFS=' ' read -r kind field payload; do
  case "$kind" in
    file)
      case "$field" in
        ${Object.keys(BUNDLE_FILES).join("|")}) ;;
        *) echo "refusing unknown file in bundle: $field" >&2; exit 1 ;;
      esac
      printf '%s' "$payload" | base64 -d > "$staging/$field"
      ;;
    login) printf '%s' "$field" | base64 -d > "$curlrc" ;;
    end) complete=yes; break ;;
    *) echo "unexpected line in bundle" >&2; exit 1 ;;
  esac
done
if [ "$complete" != yes ]; then
  echo "the file bundle on stdin was cut short; nothing was changed" >&2
  exit 1
fi
for required in ${requiredFiles.join(" ")}; do
  if [ ! -s "$staging/$required" ]; then
    echo "the bundle lacks $required; nothing was changed" >&2
    exit 1
  fi
done
if [ ! -s "$curlrc" ]; then
  echo "the bundle lacks the health-check login; nothing was changed" >&2
  exit 1
fi
# Without a bcrypt htpasswd entry the registry would invent a user and print its password.
if ! grep -Eq '^[^:]+:[$]2[aby][$]' "$staging/htpasswd"; then
  echo "htpasswd has no bcrypt entry; refusing to start a registry without authentication" >&2
  exit 1
fi
for f in ${requiredFiles.join(" ")}; do
  mv -f "$staging/$f" "$config_dir/$f"
done

# A pinned tag that is already present needs no pull (and no registry round trip).
if ! docker image inspect "$image" >/dev/null 2>&1; then
  echo "pulling $image"
  docker pull "$image" >/dev/null
fi

echo "replacing container $name"
# -v: the image declares VOLUME /var/lib/registry, so each container would leave one behind.
docker rm -f -v "$name" >/dev/null 2>&1 || true
docker run -d --name "$name" --restart=always \\
  --log-driver json-file --log-opt max-size=10m --log-opt max-file=5 \\
  --cap-drop ALL --security-opt no-new-privileges \\
  ${Object.entries(REGISTRY_CONTAINER_ENV).map(([name, value]) => `-e ${q(`${name}=${value}`)}`).join(" ")} \\
  ${publish} \\
  ${mounts.join(" \\\n  ")} \\
  "$image" >/dev/null

fail() {
  echo "$1" >&2
  echo "--- last registry log lines ---" >&2
  docker logs --tail 40 "$name" >&2 2>&1 || true
  exit 1
}

${input.health.awaitingDns === undefined ? renderServingCheck(curlTls) : renderAwaitingDnsCheck(input.health.awaitingDns)}`;
}

/** The start script's ending: 401 without credentials, 200 with them, and a storage listing. */
function renderServingCheck(curlTls: string): string {
    return `echo "waiting up to \${health_timeout}s for $health_url to answer"
deadline=$(( $(date +%s) + health_timeout ))
anonymous=000
authenticated=000
storage=000
while :; do
  anonymous=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 ${curlTls} "$health_url" || true)
  if [ "$anonymous" = 401 ]; then
    authenticated=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 ${curlTls} -K "$curlrc" "$health_url" || true)
    if [ "$authenticated" = 200 ]; then
      # /v2/ answers before the storage is ever touched; listing the catalog proves S3 works.
      storage=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 ${curlTls} -K "$curlrc" "\${health_url}_catalog?n=1" || true)
      if [ "$storage" = 200 ]; then
        break
      fi
    fi
  fi
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || echo false)" != true ]; then
    fail "the registry container is not running"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    fail "the registry did not become healthy in \${health_timeout}s (without credentials: HTTP $anonymous, want 401; with credentials: HTTP $authenticated, want 200; storage listing: HTTP $storage, want 200)"
  fi
  echo "still waiting: without credentials HTTP $anonymous, with credentials HTTP $authenticated, storage listing HTTP $storage"
  sleep 3
done
echo "registry is serving: HTTP 401 without credentials, 200 with them, and its storage answers"
`;
}

/**
 * The start script's ending while DNS does not point at the droplet yet: no TLS handshake for
 * the name (see {@link HealthCheck.awaitingDns}), only proof that the container runs.
 */
function renderAwaitingDnsCheck(pending: NonNullable<HealthCheck["awaitingDns"]>): string {
    const q = shellQuote;
    return `debug_url=${q(pending.debugUrl)}
deadline=$(( $(date +%s) + health_timeout ))
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$debug_url" || true)" = 200 ]; do
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || echo false)" != true ]; then
    fail "the registry container is not running"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    fail "the registry's debug server did not answer in \${health_timeout}s"
  fi
  sleep 2
done
echo "registry container is running; its login and storage at $health_url are checked once DNS is in place"
echo ${q(`waiting for DNS: create an A record ${pending.hostname} -> ${pending.address}, then run pulumi up again; the registry gets its Let's Encrypt certificate on the first request after that`)}
`;
}

/** Removes the container and its secrets. Tolerant: succeeds when there is nothing to remove. */
export function renderStopScript(input: Pick<StartScriptInput, "containerName" | "configDir">): string {
    return `${header("Removes the registry container and its secret files; succeeds if they are already gone.")}
name=${shellQuote(input.containerName)}
config_dir=${shellQuote(input.configDir)}
if command -v docker >/dev/null 2>&1; then
  docker rm -f -v "$name" >/dev/null 2>&1 || true
fi
rm -rf "$config_dir"
echo "registry container $name and its files removed"
`;
}
