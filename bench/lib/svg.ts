// Hand-written SVG bar charts for docs/benchmarks.md: one file per scenario, one panel per metric,
// one horizontal bar per subject with its min–max whisker, and dashed lines at reference values
// (1× for ratios, or the target). Pure: numbers in, markup out; no charting dependency.

export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly min?: number;
  readonly max?: number;
  /** Drawn in the accent colour (Errand's own bars). */
  readonly highlight?: boolean;
}

export interface Reference {
  readonly value: number;
  readonly label: string;
}

export interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly bars: readonly Bar[];
  readonly references?: readonly Reference[];
}

const WIDTH = 900;
const LABEL_WIDTH = 270;
const VALUE_WIDTH = 200;
const BAR_HEIGHT = 18;
const BAR_GAP = 8;
const PANEL_TITLE = 26;
const PANEL_GAP = 18;
const TOP = 36;
const PLOT_WIDTH = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20;

/** Escapes text for SVG character data and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

/** Three significant digits, thousands grouped: 12 345, 1.23, 0.0123. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US').replaceAll(',', '\u2009');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(3);
}

const px = (n: number): string => (Math.round(n * 10) / 10).toString();

/** The largest value a panel must show: its bars and references, never 0. Whiskers are not
 *  counted (one outlier round would squash every bar); a whisker past the edge is cut there. */
export function panelScale(panel: Panel): number {
  const values = [...panel.bars.map((b) => b.value), ...(panel.references ?? []).map((r) => r.value)].filter(
    (v) => Number.isFinite(v) && v > 0,
  );
  return values.length === 0 ? 1 : Math.max(...values) * 1.15;
}

function renderPanel(panel: Panel, y0: number): { markup: string; height: number } {
  const scale = panelScale(panel);
  const x = (v: number) => LABEL_WIDTH + (Math.min(scale, Math.max(0, v)) / scale) * PLOT_WIDTH;
  const parts: string[] = [];
  parts.push(
    `<text x="10" y="${px(y0 + 16)}" class="panel">${escapeXml(panel.title)} (${escapeXml(panel.unit)})</text>`,
  );
  const top = y0 + PANEL_TITLE;
  const plotHeight = panel.bars.length * (BAR_HEIGHT + BAR_GAP);
  parts.push(
    `<line x1="${LABEL_WIDTH}" y1="${px(top - 4)}" x2="${LABEL_WIDTH}" y2="${px(top + plotHeight)}" class="axis"/>`,
  );
  panel.bars.forEach((bar, i) => {
    const y = top + i * (BAR_HEIGHT + BAR_GAP);
    const mid = y + BAR_HEIGHT / 2;
    parts.push(
      `<text x="${LABEL_WIDTH - 8}" y="${px(mid + 4)}" text-anchor="end">${escapeXml(bar.label)}</text>`,
    );
    if (Number.isFinite(bar.value)) {
      const w = x(bar.value) - LABEL_WIDTH;
      parts.push(
        `<rect x="${LABEL_WIDTH}" y="${px(y)}" width="${px(w)}" height="${BAR_HEIGHT}" class="${bar.highlight ? 'bar accent' : 'bar'}"/>`,
      );
      if (bar.min !== undefined && bar.max !== undefined && Number.isFinite(bar.min) && bar.max > bar.min) {
        const cut = bar.max > scale;
        parts.push(
          `<line x1="${px(x(bar.min))}" y1="${px(mid)}" x2="${px(x(bar.max))}" y2="${px(mid)}" class="whisker"/>`,
          `<line x1="${px(x(bar.min))}" y1="${px(y + 4)}" x2="${px(x(bar.min))}" y2="${px(y + BAR_HEIGHT - 4)}" class="whisker"/>`,
          cut
            ? `<path d="M${px(x(bar.max) - 6)} ${px(y + 4)} L${px(x(bar.max))} ${px(mid)} L${px(x(bar.max) - 6)} ${px(y + BAR_HEIGHT - 4)}" class="whisker cut"/>`
            : `<line x1="${px(x(bar.max))}" y1="${px(y + 4)}" x2="${px(x(bar.max))}" y2="${px(y + BAR_HEIGHT - 4)}" class="whisker"/>`,
        );
      }
    }
    const range =
      bar.min !== undefined && bar.max !== undefined && Number.isFinite(bar.min)
        ? ` (${formatNumber(bar.min)}–${formatNumber(bar.max)})`
        : '';
    parts.push(
      `<text x="${WIDTH - VALUE_WIDTH}" y="${px(mid + 4)}">${escapeXml(formatNumber(bar.value) + range)}</text>`,
    );
  });
  for (const ref of panel.references ?? []) {
    if (!Number.isFinite(ref.value) || ref.value <= 0) continue;
    const rx = x(ref.value);
    parts.push(
      `<line x1="${px(rx)}" y1="${px(top - 4)}" x2="${px(rx)}" y2="${px(top + plotHeight)}" class="ref"/>`,
      `<text x="${px(rx + 3)}" y="${px(top + plotHeight + 11)}" class="small">${escapeXml(ref.label)}</text>`,
    );
  }
  return { markup: parts.join('\n'), height: PANEL_TITLE + plotHeight + PANEL_GAP };
}

/** One chart: a title, then the panels stacked. */
export function renderChart(title: string, panels: readonly Panel[], footnote?: string): string {
  let y = TOP;
  const body: string[] = [];
  for (const panel of panels) {
    const r = renderPanel(panel, y);
    body.push(r.markup);
    y += r.height;
  }
  if (footnote !== undefined) {
    body.push(`<text x="10" y="${px(y + 4)}" class="small">${escapeXml(footnote)}</text>`);
    y += 16;
  }
  const height = Math.ceil(y + 6);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${escapeXml(title)}">`,
    '<style>text{font:12px sans-serif;fill:#222}.title{font-size:15px;font-weight:bold}.panel{font-weight:bold}' +
      '.small{font-size:10px;fill:#555}.bar{fill:#9aa5b1}.accent{fill:#d9822b}.axis{stroke:#444}' +
      '.whisker{stroke:#222;stroke-width:1.2;fill:none}.ref{stroke:#c0392b;stroke-dasharray:4 3}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" class="title">${escapeXml(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
