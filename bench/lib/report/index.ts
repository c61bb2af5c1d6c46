/**
 * Turns a benchmark run's results into the console table, docs/BENCHMARKS.md and the SVG charts.
 * Pure: results in, text out (the numbers are never typed by hand). One module per section of
 * the document, in the order it prints them.
 */
import type { Results } from "../results";
import { concurrencySection } from "./concurrency";
import { filesystemSection } from "./filesystem";
import { goalsSection } from "./goals";
import { introSection, type ResultsSource } from "./intro";
import { methodSection } from "./method";
import { pullSection } from "./pull";
import { pushSection } from "./push";
import { recommendationsSection } from "./recommendations";
import { reproduceSection } from "./reproduce";
import { requestsSection } from "./requests";
import { sweepSection } from "./sweep";
import { timeSection } from "./time";
import { variantsSection } from "./variants";

export { renderCharts } from "./charts";
export { chooseChunk } from "./chooseChunk";
export { renderTable } from "./consoleTable";
export { evaluateGoals } from "./evaluateGoals";
export { PROGRAM_SETTINGS, programOf } from "./program";
export type { ResultsSource } from "./intro";

export function renderMarkdown(results: Results, chartFiles: string[], source?: ResultsSource): string {
    return [
        ...introSection(results, source),
        ...goalsSection(results),
        ...recommendationsSection(results),
        ...methodSection(results),
        ...pushSection(results),
        ...pullSection(results),
        ...sweepSection(results, chartFiles),
        ...concurrencySection(results, chartFiles),
        ...variantsSection(results),
        ...filesystemSection(results, chartFiles),
        ...timeSection(results),
        ...requestsSection(results),
        ...reproduceSection(results),
    ].join("\n");
}
