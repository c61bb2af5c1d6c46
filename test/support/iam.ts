import { runSimulation } from "@cloud-copilot/iam-simulate";

export const ACCOUNT_ID = "123456789012";
export const USER_ARN = `arn:aws:iam::${ACCOUNT_ID}:user/docker-registry/registry-storage-user`;

export type Decision = "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";

export interface SimulationOptions {
    /** A bucket policy evaluated alongside the identity policy (e.g. the TLS-only policy). */
    resourcePolicy?: unknown;
    /** Request context keys, e.g. `{ "aws:SecureTransport": "true" }`. */
    context?: Record<string, string>;
    principal?: string;
}

/**
 * Evaluates one request against an identity policy (and optionally a bucket policy) with a real
 * IAM policy evaluator. Returns the decision, or `Error: ...` when the evaluator rejects the
 * request itself (an unknown action, or a resource type the action does not take).
 */
export async function simulate(identityPolicy: unknown, action: string, resource: string, options: SimulationOptions = {}): Promise<Decision | `Error: ${string}`> {
    const response = await runSimulation(
        {
            identityPolicies: [{ name: "registry-storage", policy: identityPolicy as never }],
            serviceControlPolicies: [],
            resourceControlPolicies: [],
            resourcePolicy: options.resourcePolicy as never,
            request: {
                action,
                principal: options.principal ?? USER_ARN,
                resource: { accountId: ACCOUNT_ID, resource },
                contextVariables: options.context ?? {},
            },
        },
        {},
    );
    return response.resultType === "error" ? `Error: ${JSON.stringify(response.errors)}` : (response.overallResult as Decision);
}

/** {@link simulate} over TLS unless told otherwise, throwing on an evaluator error so a typo cannot pass as "denied". */
export async function decide(
    identityPolicy: unknown,
    action: string,
    resource: string,
    options: { resourcePolicy?: unknown; secureTransport?: boolean } = {},
): Promise<Decision> {
    const result = await simulate(identityPolicy, action, resource, {
        resourcePolicy: options.resourcePolicy,
        context: { "aws:SecureTransport": String(options.secureTransport ?? true) },
    });
    if (result.startsWith("Error: ")) {
        throw new Error(`the simulator rejected ${action} on ${resource}: ${result}`);
    }
    return result as Decision;
}
