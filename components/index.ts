/**
 * The library entry point: what another Pulumi program imports. This repository's own program
 * (the top-level index.ts) is one such consumer.
 *
 *     import { PrivateRegistry } from "pulumi-private-registry";
 *     const registry = new PrivateRegistry("registry", { awsRegion: "us-east-1" });
 *     export const host = registry.registryHost;
 */
export { PrivateRegistry } from "./privateRegistry";
export type { PrivateRegistryArgs } from "./privateRegistryArgs";
export { stackOutputs, renderDockerConfigJson } from "./outputs";
export type { StackOutputs } from "./outputs";
export { runPrivateRegistryProgram } from "./stackProgram";
export { loadStackArgs, loadSettings } from "./stackConfig";
export type { ConfigSource } from "./stackConfig";
export { DEFAULTS, SettingsError } from "./settings";
export type { ExposureMode, ResolvedTls, Settings, TlsMode } from "./settings";
export { deploymentNotices, unknownKeyWarnings } from "./notices";
export { REGISTRY_VERSION } from "./versions";
