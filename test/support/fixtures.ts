import type { DeploymentInput } from "../../components/render/deployment";

/** A complete deployment of plausible values, for tests that render what the droplet gets. */
export function exampleDeploymentInput(overrides: Partial<DeploymentInput> = {}): DeploymentInput {
    return {
        image: "docker.io/library/registry:3.1.2",
        bucket: "team-registry",
        region: "us-east-1",
        accessKeyId: "AKIAEXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        chunkSizeMb: 5,
        redirect: true,
        users: [
            { name: "ci", role: "push", password: "Zq8rT2pLw9XnV4bK7mC1sD6fG3hJ5kQa", salt: "abcdefghijklmnopqrstuv" },
            { name: "deploy", role: "pull", password: "Pm4nB7vC2xZ9lK3jH6gF1dS8aQ5wE0rT", salt: "vutsrqponmlkjihgfedcba" },
        ],
        httpSecret: "h77p5ecr37h77p5ecr37h77p5ecr37h77p5ecr37",
        upstreamLogin: { password: "Fr0nt5ecr37Fr0nt5ecr37Fr0nt5ecr3", salt: "zyxwvutsrqponmlkjihgfe" },
        tls: { kind: "none" },
        healthTimeoutSeconds: 30,
        ...overrides,
    };
}
