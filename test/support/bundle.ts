/** The files of a start command's stdin bundle (`file NAME BASE64` lines), decoded. */
export function decodeBundleFiles(stdin: string): Record<string, string> {
    const files: Record<string, string> = {};
    for (const line of stdin.split("\n")) {
        const [kind, name, payload] = line.split(" ");
        if (kind === "file") {
            files[name] = Buffer.from(payload, "base64").toString("utf8");
        }
    }
    return files;
}
