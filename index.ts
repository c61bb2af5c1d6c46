import * as pulumi from "@pulumi/pulumi";
import { PrivateRegistry } from "./components/privateRegistry";
import { deploymentNotices, unknownKeyWarnings } from "./components/notices";
import { PrivateRegistryArgs } from "./components/privateRegistryArgs";
import { SettingsError } from "./components/settings";
import { loadStackArgs } from "./components/stackConfig";
import { stackOutputs } from "./components/outputs";

// Keys are read from the project's own namespace, whatever the project is called.
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

const outputs = stackOutputs(registry);
export const registryHost = outputs.registryHost;
export const registryUrl = outputs.registryUrl;
export const registryUsername = outputs.registryUsername;
export const registryPassword = outputs.registryPassword;
export const dockerConfigJson = outputs.dockerConfigJson;
export const registryUsers = outputs.registryUsers;
export const dockerConfigJsons = outputs.dockerConfigJsons;
export const caCertificate = outputs.caCertificate;
export const serving = outputs.serving;
export const bucketName = outputs.bucketName;
export const bucketRegion = outputs.bucketRegion;
export const dropletIp = outputs.dropletIp;
export const sshPrivateKey = outputs.sshPrivateKey;
export const sshHostPublicKey = outputs.sshHostPublicKey;
export const sshTunnelCommand = outputs.sshTunnelCommand;
export const maintenanceCommand = outputs.maintenanceCommand;
export const metricsTunnelCommand = outputs.metricsTunnelCommand;
export const registryImage = outputs.registryImage;
export const estimatedMonthlyCostUsd = outputs.estimatedMonthlyCostUsd;
