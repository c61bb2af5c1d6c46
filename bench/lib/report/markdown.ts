/** Markdown table rows. */

export function row(cells: (string | number)[]): string {
    return `| ${cells.join(" | ")} |`;
}

/** The separator row: the first column left-aligned, the rest `align`. */
export function sep(n: number, align = "---:"): string {
    return row(Array.from({ length: n }, (_, i) => (i === 0 ? "---" : align)));
}
