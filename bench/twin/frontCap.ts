/**
 * A PROPOSED change to components/render/front.ts, which bench/twin/manifests.ts measures by
 * rewriting the rendered Caddyfile (front.ts itself is not changed here).
 */

/**
 * The proposed front.ts change, applied to the rendered Caddyfile: a cap on the requests the
 * front holds at the registry. Caddy v2.11.9 modules/caddyhttp/reverseproxy: the Caddyfile's
 * `unhealthy_request_count` (caddyfile.go) becomes each upstream's MaxRequests
 * (reverseproxy.go Provision); an upstream with that many requests in flight is not Available
 * (hosts.go Full), so no upstream is selected and the request retries every lb_try_interval
 * until lb_try_duration has passed, whatever its method (reverseproxy.go tryAgain retries
 * errNoUpstream), then gets 503. The count lives in the Host shared by every handler that
 * proxies to the same address (hosts.go fillHost), so it caps both reverse_proxy blocks together.
 */
export function proposeFrontCap(caddyfile: string, cap: number): string {
    const marked = caddyfile.replace(/^(\s*)lb_try_interval (.*)$/gm, (line, indent: string) => `${line}\n${indent}unhealthy_request_count ${cap}`);
    if (marked === caddyfile) {
        throw new Error("the rendered Caddyfile has no lb_try_interval to put the cap beside");
    }
    return marked;
}
