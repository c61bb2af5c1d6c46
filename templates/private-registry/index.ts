import * as pulumi from "@pulumi/pulumi";
import { deploymentNotices, loadStackArgs, PrivateRegistry, type PrivateRegistryArgs, SettingsError, stackOutputs, unknownKeyWarnings } from "pulumi-private-registry";

// Settings are read from this project's own namespace, so renaming the project renames its keys.
const namespace = pulumi.getProject();
for (const warning of unknownKeyWarnings(Object.keys(pulumi.runtime.allConfig()), namespace)) {
    void pulumi.log.warn(warning);
}

/** Validation runs first and throws before any resource is declared. */
function argsOrExplain(): PrivateRegistryArgs {
    try {
        return loadStackArgs(new pulumi.Config(), new pulumi.Config("aws"), process.env, namespace);
    } catch (e) {
        // A RunError prints its message once, without the stack trace of an unhandled exception.
        throw e instanceof SettingsError ? new pulumi.RunError(e.message) : e;
    }
}

const registry = new PrivateRegistry("registry", argsOrExplain());
for (const notice of deploymentNotices(registry.settings)) {
    void (notice.level === "warn" ? pulumi.log.warn(notice.text) : pulumi.log.info(notice.text));
}

export const {
    registryHost,
    registryUrl,
    registryUsername,
    registryPassword,
    dockerConfigJson,
    registryUsers,
    dockerConfigJsons,
    caCertificate,
    serving,
    bucketName,
    bucketRegion,
    dropletIp,
    sshPrivateKey,
    sshHostPublicKey,
    sshTunnelCommand,
    maintenanceCommand,
    metricsTunnelCommand,
    registryImage,
    estimatedMonthlyCostUsd,
} = stackOutputs(registry);
