import * as pulumi from "@pulumi/pulumi";
import { PrivateRegistry } from "./components/privateRegistry";
import { deploymentNotices, loadSettings } from "./components/settings";
import { stackOutputs } from "./components/outputs";

// Validation runs first and throws before any resource is declared.
const settings = loadSettings(new pulumi.Config(), new pulumi.Config("aws"), process.env);
const registry = new PrivateRegistry("registry", settings);
for (const notice of deploymentNotices(settings)) {
    void (notice.level === "warn" ? pulumi.log.warn(notice.text) : pulumi.log.info(notice.text));
}

const outputs = stackOutputs(registry, settings);
export const registryHost = outputs.registryHost;
export const registryUrl = outputs.registryUrl;
export const registryUsername = outputs.registryUsername;
export const registryPassword = outputs.registryPassword;
export const dockerConfigJson = outputs.dockerConfigJson;
export const caCertificate = outputs.caCertificate;
export const serving = outputs.serving;
export const bucketName = outputs.bucketName;
export const bucketRegion = outputs.bucketRegion;
export const dropletIp = outputs.dropletIp;
export const sshPrivateKey = outputs.sshPrivateKey;
export const sshHostPublicKey = outputs.sshHostPublicKey;
export const sshTunnelCommand = outputs.sshTunnelCommand;
export const registryImage = outputs.registryImage;
export const estimatedMonthlyCostUsd = outputs.estimatedMonthlyCostUsd;
