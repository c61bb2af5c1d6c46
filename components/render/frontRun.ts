import { shellQuote } from "./shell";

/**
 * `run-front`: the program on the droplet that starts the front (Caddy), reloads the one running
 * when its files changed, and otherwise leaves it alone. A reload swaps the config inside the
 * running process, but a keep-alive connection it closes at that moment can lose the request a
 * client is just sending on it (measured in the rehearsal: a few in a thousand requests under
 * load). So a deploy that changes nothing the front reads, such as a new S3 key, never reloads
 * it. Pure: values in, script text out.
 */

export interface FrontRunInput {
    containerName: string;
    image: string;
    /** Host directory with the Caddyfile (and the key pair for a private CA), mounted read-only. */
    configDir: string;
    /** Where configDir is mounted in the container (the image reads /etc/caddy/Caddyfile). */
    configMount: string;
    /** Host directory for Caddy's certificates and ACME account, kept across restarts. */
    dataDir: string;
    /** Host directory for the access and refusal logs (front.ts), mounted at the same path. */
    logDir: string;
}

/**
 * The front's memory limit, with no swap besides (`--memory-swap` equal); see
 * REGISTRY_MEMORY_LIMIT_BYTES (registryRun.ts) for how the two share the default droplet. Caddy
 * v2.11.9 sets its own Go soft limit to 90% of its cgroup's limit when it starts (cmd/main.go
 * setResourceLimits, KimMachineGun/automemlimit v1.0.0 memlimit.Set), so its GC works harder
 * before the kernel would kill it; without a container limit it took 90% of the droplet's memory.
 */
export const FRONT_MEMORY_LIMIT_BYTES = 192 * 1024 ** 2;

export function renderRunFrontScript(input: FrontRunInput): string {
    const q = shellQuote;
    const caddyfile = `${input.configMount}/Caddyfile`;
    return `#!/bin/sh
# Starts the front, or reloads the running one in place. Usage: run-front
set -eu
name=${q(input.containerName)}
image=${q(input.image)}
config_dir=${q(input.configDir)}
data_dir=${q(input.dataDir)}
log_dir=${q(input.logDir)}
if [ ! -s "$config_dir/Caddyfile" ]; then
  echo "$config_dir/Caddyfile is missing; nothing was changed" >&2
  exit 1
fi
mkdir -p "$data_dir/data" "$data_dir/config" "$log_dir"
# What the front reads: the Caddyfile and any key pair beside it.
files_hash=$(cat "$config_dir"/* | sha256sum | cut -d ' ' -f 1)
applied="$data_dir/applied.sha256"
running=$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || echo false)
running_image=$(docker inspect -f '{{.Config.Image}}' "$name" 2>/dev/null || true)
# A front started with another memory limit (or none) is replaced: docker update would change
# the cgroup's limit, but Caddy reads its soft limit from it only when it starts.
running_memory=$(docker inspect -f '{{.HostConfig.Memory}}' "$name" 2>/dev/null || true)
if [ "$running" = true ] && [ "$running_image" = "$image" ] && [ "$running_memory" = ${FRONT_MEMORY_LIMIT_BYTES} ]; then
  if [ "$(cat "$applied" 2>/dev/null || true)" = "$files_hash" ]; then
    echo "front $name unchanged"
    exit 0
  fi
  # --force: a new key pair leaves the Caddyfile unchanged. A config Caddy refuses fails here,
  # and the running front keeps the config it has.
  docker exec "$name" caddy reload --config ${q(caddyfile)} --adapter caddyfile --force >/dev/null
  printf '%s\n' "$files_hash" > "$applied"
  echo "front $name reloaded"
  exit 0
fi
docker rm -f -v "$name" >/dev/null 2>&1 || true
# Host network: the front binds the public port itself and sees each client's own address.
# NET_BIND_SERVICE: the image's caddy binary carries that file capability, and exec fails with
# "operation not permitted" when the bounding set lacks it (caddyserver/caddy-docker#396).
docker run -d --name "$name" --restart=always --network host \\
  --log-driver json-file --log-opt max-size=10m --log-opt max-file=5 \\
  --cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges \\
  --memory ${FRONT_MEMORY_LIMIT_BYTES} --memory-swap ${FRONT_MEMORY_LIMIT_BYTES} \\
  -v "$config_dir:${input.configMount}:ro" \\
  -v "$data_dir/data:/data" -v "$data_dir/config:/config" \\
  -v "$log_dir:$log_dir" \\
  "$image" caddy run --config ${q(caddyfile)} --adapter caddyfile >/dev/null
printf '%s\n' "$files_hash" > "$applied"
echo "front $name started"
`;
}
