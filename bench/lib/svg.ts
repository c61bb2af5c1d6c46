/**
 * Hand-rolled SVG grouped bar charts with min–max whiskers. Pure: data in, SVG text out.
 */

export interface Bar {
    series: string;
    median: number;
    min?: number;
    max?: number;
    /** Text above the bar; defaults to the median with one decimal. */
    label?: string;
}

export interface BarGroup {
    label: string;
    bars: Bar[];
}

export interface BarChart {
    title: string;
    subtitle?: string;
    yLabel: string;
    groups: BarGroup[];
    /** Series name -> fill colour, in legend order. */
    series: Record<string, string>;
    /** A horizontal reference line, e.g. a budget. */
    reference?: { value: number; label: string };
    width?: number;
    height?: number;
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A "nice" axis maximum and tick step above `value`. */
export function niceScale(value: number, ticks = 5): { max: number; step: number } {
    if (!Number.isFinite(value) || value <= 0) {
        return { max: 1, step: 0.2 };
    }
    const raw = value / ticks;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
    return { max: Math.ceil(value / step) * step, step };
}

export function renderBarChart(chart: BarChart): string {
    const width = chart.width ?? 720;
    // Legend items (series, then the reference line), wrapped into rows that fit the width.
    const legendItems = [...Object.keys(chart.series).map((name) => ({ name, ref: false })), ...(chart.reference ? [{ name: chart.reference.label, ref: true }] : [])];
    const legendRows: { name: string; ref: boolean; x: number }[][] = [[]];
    let cursor = 64;
    for (const item of legendItems) {
        const w = 28 + item.name.length * 6.6;
        if (cursor + w > width - 10 && legendRows[legendRows.length - 1].length > 0) {
            legendRows.push([]);
            cursor = 64;
        }
        legendRows[legendRows.length - 1].push({ ...item, x: cursor });
        cursor += w;
    }
    const height = (chart.height ?? 400) + (legendRows.length - 1) * 18;
    const m = { top: chart.subtitle ? 64 : 48, right: 20, bottom: 46 + legendRows.length * 18, left: 64 };
    const plotW = width - m.left - m.right;
    const plotH = height - m.top - m.bottom;
    const seriesNames = Object.keys(chart.series);

    const highest = Math.max(
        ...chart.groups.flatMap((g) => g.bars.map((b) => Math.max(b.median, b.max ?? b.median))),
        chart.reference?.value ?? 0,
    );
    const { max, step } = niceScale(highest * 1.08);
    const y = (v: number) => m.top + plotH - (Math.max(0, v) / max) * plotH;

    const out: string[] = [];
    out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
    out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
    out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(chart.title)}</text>`);
    if (chart.subtitle) {
        out.push(`<text x="${width / 2}" y="40" text-anchor="middle" font-size="11" fill="#555">${esc(chart.subtitle)}</text>`);
    }
    // Grid and y axis.
    for (let v = 0; v <= max + step / 1e6; v += step) {
        const yy = y(v).toFixed(1);
        out.push(`<line x1="${m.left}" y1="${yy}" x2="${m.left + plotW}" y2="${yy}" stroke="#e3e3e3"/>`);
        out.push(`<text x="${m.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="#333">${Number(v.toPrecision(6))}</text>`);
    }
    out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + plotH}" stroke="#333"/>`);
    out.push(`<line x1="${m.left}" y1="${m.top + plotH}" x2="${m.left + plotW}" y2="${m.top + plotH}" stroke="#333"/>`);
    out.push(`<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(chart.yLabel)}</text>`);

    // Bars.
    const groupW = plotW / Math.max(1, chart.groups.length);
    const barW = Math.min(48, (groupW * 0.8) / Math.max(1, seriesNames.length));
    chart.groups.forEach((g, gi) => {
        const gx = m.left + gi * groupW + groupW / 2;
        const startX = gx - (barW * seriesNames.length) / 2;
        seriesNames.forEach((name, si) => {
            const bar = g.bars.find((b) => b.series === name);
            if (!bar || !Number.isFinite(bar.median)) {
                return;
            }
            const x = startX + si * barW;
            const top = y(bar.median);
            out.push(`<rect x="${(x + 2).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${(m.top + plotH - top).toFixed(1)}" fill="${chart.series[name]}"><title>${esc(`${g.label} ${name}: ${bar.label ?? bar.median.toFixed(1)}`)}</title></rect>`);
            if (bar.min !== undefined && bar.max !== undefined && bar.max > bar.min) {
                const cx = (x + barW / 2).toFixed(1);
                out.push(`<line x1="${cx}" y1="${y(bar.min).toFixed(1)}" x2="${cx}" y2="${y(bar.max).toFixed(1)}" stroke="#222"/>`);
                for (const v of [bar.min, bar.max]) {
                    out.push(`<line x1="${(x + barW / 2 - 5).toFixed(1)}" y1="${y(v).toFixed(1)}" x2="${(x + barW / 2 + 5).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#222"/>`);
                }
            }
            const labelY = Math.min(top, bar.max !== undefined ? y(bar.max) : top) - 4;
            out.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${labelY.toFixed(1)}" text-anchor="middle" font-size="10" fill="#222">${esc(bar.label ?? bar.median.toFixed(1))}</text>`);
        });
        out.push(`<text x="${gx.toFixed(1)}" y="${m.top + plotH + 18}" text-anchor="middle" fill="#333">${esc(g.label)}</text>`);
    });

    if (chart.reference) {
        const ry = y(chart.reference.value).toFixed(1);
        out.push(`<line x1="${m.left}" y1="${ry}" x2="${m.left + plotW}" y2="${ry}" stroke="#c0392b" stroke-dasharray="6 4"/>`);
    }

    // Legend.
    legendRows.forEach((items, r) => {
        const ly = height - 14 - (legendRows.length - 1 - r) * 18;
        for (const item of items) {
            if (item.ref) {
                out.push(`<line x1="${item.x}" y1="${ly - 4}" x2="${item.x + 14}" y2="${ly - 4}" stroke="#c0392b" stroke-dasharray="4 3" stroke-width="2"/>`);
            } else {
                out.push(`<rect x="${item.x}" y="${ly - 10}" width="12" height="12" fill="${chart.series[item.name]}"/>`);
            }
            out.push(`<text x="${item.x + 18}" y="${ly}" fill="#333">${esc(item.name)}</text>`);
        }
    });
    out.push("</svg>");
    return out.join("\n") + "\n";
}
