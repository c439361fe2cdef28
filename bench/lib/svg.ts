// Hand-written SVG bar charts for docs/benchmarks.md: one file per scenario, one panel per metric,
// one horizontal bar per subject with its min–max whisker, and dashed lines at reference values
// (1× for ratios, or the target); a time series (memory sampled each second) is a line instead.
// Pure: numbers in, markup out; no charting dependency.

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

/** A value sampled over time: one line, x in seconds. */
export interface LinePanel {
  readonly kind: 'line';
  readonly title: string;
  readonly unit: string;
  readonly points: readonly (readonly [number, number])[];
}

const WIDTH = 900;
const LINE_HEIGHT = 150;
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

/** A line from 0 to the largest value (y) over the sampled seconds (x), labelled at its start, its
 *  end and a peak above the end: enough to see a level and a trend at a glance. */
function renderLinePanel(panel: LinePanel, y0: number): { markup: string; height: number } {
  const parts = [
    `<text x="10" y="${px(y0 + 16)}" class="panel">${escapeXml(panel.title)} (${escapeXml(panel.unit)})</text>`,
  ];
  const top = y0 + PANEL_TITLE;
  const bottom = top + LINE_HEIGHT;
  const left = 60;
  const right = WIDTH - 120;
  const finite = panel.points.filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v));
  const tMax = Math.max(1, ...finite.map(([t]) => t));
  const vMax = Math.max(...finite.map(([, v]) => v), 0) * 1.15 || 1;
  const x = (t: number) => left + (t / tMax) * (right - left);
  const y = (v: number) => bottom - (Math.max(0, v) / vMax) * LINE_HEIGHT;
  parts.push(
    `<line x1="${left}" y1="${px(top)}" x2="${left}" y2="${px(bottom)}" class="axis"/>`,
    `<line x1="${left}" y1="${px(bottom)}" x2="${right}" y2="${px(bottom)}" class="axis"/>`,
    `<text x="${left - 6}" y="${px(bottom + 4)}" text-anchor="end">0</text>`,
    `<text x="${left}" y="${px(bottom + 15)}" class="small">0 s</text>`,
    `<text x="${right}" y="${px(bottom + 15)}" text-anchor="end" class="small">${tMax} s</text>`,
  );
  if (finite.length > 0) {
    parts.push(
      `<polyline points="${finite.map(([t, v]) => `${px(x(t))},${px(y(v))}`).join(' ')}" class="line"/>`,
    );
    const peak = finite.reduce((a, b) => (b[1] > a[1] ? b : a));
    const [first, last] = [finite[0], finite.at(-1)] as [
      readonly [number, number],
      readonly [number, number],
    ];
    const note = ([t, v]: readonly [number, number], what: string, dy: number) =>
      `<text x="${px(Math.min(x(t) + 4, right - 140))}" y="${px(y(v) + dy)}" class="small">${escapeXml(`${what} ${formatNumber(v)} at ${t} s`)}</text>`;
    parts.push(
      note(first, 'start', -4),
      `<text x="${right + 6}" y="${px(y(last[1]) + 4)}">${escapeXml(`${formatNumber(last[1])} ${panel.unit}`)}</text>`,
    );
    // The level at the end is labelled already; a peak above it is worth its own label.
    if (peak[1] > last[1] * 1.01) parts.push(note(peak, 'peak', -6));
  }
  return { markup: parts.join('\n'), height: PANEL_TITLE + LINE_HEIGHT + 20 + PANEL_GAP };
}

/** One chart: a title, then the panels stacked. */
export function renderChart(
  title: string,
  panels: readonly (Panel | LinePanel)[],
  footnote?: string,
): string {
  let y = TOP;
  const body: string[] = [];
  for (const panel of panels) {
    const r = 'kind' in panel ? renderLinePanel(panel, y) : renderPanel(panel, y);
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
      '.whisker{stroke:#222;stroke-width:1.2;fill:none}.ref{stroke:#c0392b;stroke-dasharray:4 3}' +
      '.line{stroke:#d9822b;stroke-width:2;fill:none}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" class="title">${escapeXml(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
