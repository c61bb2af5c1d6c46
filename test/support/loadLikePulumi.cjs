// @ts-check
/**
 * Loads index.ts the way `pulumi up` does for a CommonJS TypeScript project: Pulumi's own
 * ts-node registration (the project's typescript, else the vendored one; the vendored ts-node
 * unless the project has one) with the project's tsconfig, then runs it under mocks and prints
 * the stack's export names as JSON. A tsconfig or syntax that only tsx accepts fails here.
 */
"use strict";
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
process.chdir(root);
const tsutils = require(path.join(root, "node_modules/@pulumi/pulumi/tsutils.js"));
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
const tsconfig = path.join(root, "tsconfig.json");
const compilerOptions = tsutils.loadTypeScriptCompilerOptions(tsconfig);
// The same options cmd/run/run.js passes for a non-ESM project on TypeScript >= 4.7.
require(tsnodeRequire).register({
    compiler: typescriptRequire,
    transpileOnly: compilerOptions.noCheck,
    project: tsconfig,
    skipProject: false,
    compilerOptions: { target: "ES2020", module: "nodenext", moduleResolution: "nodenext", sourceMap: "true", ...compilerOptions },
});

const pulumi = require("@pulumi/pulumi");
const { installMocks, settle } = require(path.join(root, "test/support/mocks.ts"));
const recorded = installMocks();
pulumi.runtime.setAllConfig({ "aws:region": "us-east-1" });
const program = require(path.join(root, "index.ts"));
settle(recorded).then(() => {
    process.stdout.write(JSON.stringify({ exports: Object.keys(program), resources: recorded.length }) + "\n");
});
