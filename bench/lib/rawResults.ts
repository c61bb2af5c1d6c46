import * as fs from "node:fs";
import * as path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "..", "..");

/**
 * A bench's raw results: measured and written to `jsonPath`, or with `--render` read back from
 * the committed file, so the report can be regenerated and checked without measuring.
 */
export async function measureOrLoad<T>(jsonPath: string, measure: () => Promise<T>, log: (message: string) => void): Promise<T> {
    if (process.argv.includes("--render")) {
        log(`rendering ${path.relative(REPO_ROOT, jsonPath)}`);
        return JSON.parse(fs.readFileSync(jsonPath, "utf8")) as T;
    }
    const results = await measure();
    fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
    fs.writeFileSync(jsonPath, `${JSON.stringify(results, null, 1)}\n`);
    log(`raw results: ${path.relative(REPO_ROOT, jsonPath)}`);
    return results;
}
