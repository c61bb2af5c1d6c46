import { runSimulation } from "@cloud-copilot/iam-simulate";

export const ACCOUNT_ID = "123456789012";
export const USER_ARN = `arn:aws:iam::${ACCOUNT_ID}:user/docker-registry/registry-storage-user`;

export type Decision = "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";

/**
 * Evaluates one request against an identity policy (and optionally a bucket policy) with a real
 * IAM policy evaluator. Throws when the evaluator rejects the request itself (an unknown action,
 * or a resource type the action does not take), so a typo cannot pass as "denied".
 */
export async function decide(
    identityPolicy: unknown,
    action: string,
    resource: string,
    options: { resourcePolicy?: unknown; secureTransport?: boolean } = {},
): Promise<Decision> {
    const response = await runSimulation(
        {
            identityPolicies: [{ name: "registry-storage", policy: identityPolicy as never }],
            serviceControlPolicies: [],
            resourceControlPolicies: [],
            resourcePolicy: options.resourcePolicy as never,
            request: {
                action,
                principal: USER_ARN,
                resource: { accountId: ACCOUNT_ID, resource },
                contextVariables: { "aws:SecureTransport": String(options.secureTransport ?? true) },
            },
        },
        {},
    );
    if (response.resultType === "error") {
        throw new Error(`the simulator rejected ${action} on ${resource}: ${JSON.stringify(response.errors)}`);
    }
    return response.overallResult as Decision;
}
