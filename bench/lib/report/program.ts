/** The program's settings a run measured, and how the report names them and the tuning variants. */
import { HTPASSWD_BCRYPT_COST } from "../../../components/render/htpasswd";
import { REGISTRY_CONTAINER_ENV } from "../../../components/render/scripts";
import { DEFAULTS } from "../../../components/settings";
import type { ProgramSettings, Results, TuningVariant } from "../results";

/** What the program deploys today: the settings a new run measures as "the program's". */
export const PROGRAM_SETTINGS: ProgramSettings = { chunkMb: DEFAULTS.s3ChunkSizeMb, bcryptCost: HTPASSWD_BCRYPT_COST, env: { ...REGISTRY_CONTAINER_ENV } };

/** The program settings a run measured (recorded in its results). */
export function programOf(results: Results): ProgramSettings {
    if (!results.meta.program) {
        throw new Error("these results predate the recorded program settings (meta.program): rerun the benchmark instead of re-rendering them");
    }
    return results.meta.program;
}

/** "GOMEMLIMIT=150MiB", or "no GOMEMLIMIT". */
export function limitText(p: ProgramSettings): string {
    return p.env.GOMEMLIMIT ? `GOMEMLIMIT=${p.env.GOMEMLIMIT}` : "no GOMEMLIMIT";
}

export function variantOf(results: Results, kind: NonNullable<TuningVariant["kind"]>): TuningVariant[] {
    return results.tuning?.variants.filter((v) => v.kind === kind) ?? [];
}

/** How to name the GOMEMLIMIT variant in a sentence: "without the limit (`GOMEMLIMIT=off`)". */
export function memVariantText(mem: TuningVariant): string {
    return mem.goMemLimit === "off" ? "without the limit (`GOMEMLIMIT=off`)" : `with \`${mem.name}\` instead`;
}
