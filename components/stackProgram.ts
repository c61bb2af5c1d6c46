import * as pulumi from "@pulumi/pulumi";
import { deploymentNotices, unknownKeyWarnings } from "./notices";
import { stackOutputs, type StackOutputs } from "./outputs";
import { PrivateRegistry } from "./privateRegistry";
import { PrivateRegistryArgs } from "./privateRegistryArgs";
import { SettingsError } from "./settings";
import { loadStackArgs } from "./stackConfig";

/**
 * The whole program of a stack that is one registry: the stack's settings, read from the
 * project's own namespace (so renaming the project renames its keys) and checked before any
 * resource is declared, the registry, the deploy's notices, and the stack outputs CI reads. This
 * repository's index.ts and the template's are this call and the exports.
 */
export function runPrivateRegistryProgram(): StackOutputs {
    const namespace = pulumi.getProject();
    for (const warning of unknownKeyWarnings(Object.keys(pulumi.runtime.allConfig()), namespace)) {
        void pulumi.log.warn(warning);
    }
    const registry = new PrivateRegistry("registry", argsOrExplain(namespace));
    for (const notice of deploymentNotices(registry.settings)) {
        void (notice.level === "warn" ? pulumi.log.warn(notice.text) : pulumi.log.info(notice.text));
    }
    return stackOutputs(registry);
}

function argsOrExplain(namespace: string): PrivateRegistryArgs {
    try {
        return loadStackArgs(new pulumi.Config(), new pulumi.Config("aws"), process.env, namespace);
    } catch (e) {
        // A RunError prints its message once, without the stack trace of an unhandled exception.
        throw e instanceof SettingsError ? new pulumi.RunError(e.message) : e;
    }
}
