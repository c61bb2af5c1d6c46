import { runPrivateRegistryProgram } from "./components/stackProgram";

// Stack outputs are the program's exports: the names CI reads (README, "Outputs for CI").
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
} = runPrivateRegistryProgram();
