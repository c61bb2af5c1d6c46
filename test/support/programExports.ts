/** The stack outputs a program's index.ts exports: the names in its `export const { ... } = ...`. */
export function exportedOutputs(indexSource: string): string[] {
    const block = /^export const \{([^}]*)\}/m.exec(indexSource);
    return (block?.[1] ?? "").split(",").map((name) => name.trim()).filter((name) => name !== "");
}
