import { PUBLIC_PORT } from "./deployment";

/**
 * The DigitalOcean load balancer in front of replicas: what it forwards and how it tells a
 * replica that serves from one that does not. Pure values, shared by the program and by the
 * rehearsal's stand-in balancer, so the two cannot drift apart.
 */

/**
 * Replicas a stack may run; 1 is the single droplet with no balancer. At most 10, the most either
 * DigitalOcean part takes by droplet id: "You can add up to 10 backend Droplets by name" to a load
 * balancer (https://docs.digitalocean.com/products/networking/load-balancers/details/limits/), and
 * "a maximum of 10 Droplets per firewall" for the firewall that admits the balancer
 * (https://docs.digitalocean.com/products/networking/firewalls/details/limits/). Neither the API
 * spec nor the provider checks the count (openapi `attributes.yml` `droplet_ids` has no
 * maxItems), so more would fail at the API, mid-deploy; past 10 both would need tags instead.
 */
export const MIN_REPLICAS = 1;
export const MAX_REPLICAS = 10;

/**
 * TLS passes through on 443 as TCP: each replica's front terminates it with the stack's one key
 * pair, and the balancer prepends a PROXY v1 header naming the client (proxyProtocol.ts). The
 * balancer then cannot read or alter a request, which is what keeps the logins end to end.
 */
export const BALANCER_FORWARDING_RULE = {
    entryPort: PUBLIC_PORT,
    entryProtocol: "tcp",
    targetPort: PUBLIC_PORT,
    targetProtocol: "tcp",
} as const;

/**
 * The health check: the front's `/`, which answers 200 without a login while the registry's
 * storage health check passes and 503 once it fails (front.ts, registryConfig.ts `health`).
 * DigitalOcean counts a 2xx-3xx answer as up, and sends the PROXY header on its checks too.
 *
 * Every number is set: the provider's defaults (unhealthy 3, healthy 5) differ from the API's
 * (5 and 3), so leaving one out would depend on which applies. Ranges: interval and timeout
 * 3-300 s, thresholds 2-10 (terraform-provider-digitalocean resource_loadbalancer.go).
 * A replica that stops answering leaves the pool within {@link balancerDetectionSeconds}, and
 * rejoins after interval × healthyThreshold of answers ({@link balancerDrain}).
 */
export const BALANCER_HEALTH_CHECK = {
    protocol: "https",
    port: PUBLIC_PORT,
    path: "/",
    checkIntervalSeconds: 5,
    responseTimeoutSeconds: 3,
    unhealthyThreshold: 2,
    healthyThreshold: 3,
} as const;

/**
 * The balancer's idle timeout, at the API's maximum (30-600 s, default 60: DigitalOcean API
 * load_balancer_base.yml `http_idle_timeout_seconds`). A blob's final PUT is silent while the
 * registry moves it into place in the bucket, which for a large layer can outlast 60 s; the API
 * describes the setting for HTTP requests, so on a TCP rule it may not apply, but it costs
 * nothing.
 */
export const BALANCER_IDLE_TIMEOUT_SECONDS = 600;

/** Seconds a failing replica may still receive new connections: the balancer's detection time. */
export function balancerDetectionSeconds(check: Pick<typeof BALANCER_HEALTH_CHECK, "checkIntervalSeconds" | "responseTimeoutSeconds" | "unhealthyThreshold"> = BALANCER_HEALTH_CHECK): number {
    return check.checkIntervalSeconds * check.unhealthyThreshold + check.responseTimeoutSeconds;
}

/**
 * What a deploy waits for around a replica's restart: the balancer's detection time after `/`
 * turns 503, with one more interval for a check already under way; and its healthy threshold's
 * checks after `/` answers 200 again, with one more interval and a timeout to spare.
 */
export function balancerDrain(check: typeof BALANCER_HEALTH_CHECK = BALANCER_HEALTH_CHECK): { leaveSeconds: number; rejoinSeconds: number } {
    return {
        leaveSeconds: balancerDetectionSeconds(check) + check.checkIntervalSeconds,
        rejoinSeconds: check.checkIntervalSeconds * (check.healthyThreshold + 1) + check.responseTimeoutSeconds,
    };
}

/** The resource names of replica `index` (0-based): the first keeps a single droplet's names. */
export function replicaName(base: string, index: number): string {
    return index === 0 ? base : `${base}-${index + 1}`;
}
