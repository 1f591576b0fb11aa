import type { Lane } from '../src/observe/analysis.js';
import type { TimelineBuild } from '../src/observe/timeline-types.js';

/**
 * The Gantt chart on one canvas: a lane per agent slot, a bar per build that ran, the critical
 * path outlined. Drawing is O(bars) per frame with no DOM per bar, so 6,800 builds stay fast;
 * wheel zooms around the pointer, dragging pans, hovering names the build.
 */

export const STATE_COLOURS: Readonly<Record<string, string>> = {
  queued: '#9aa5b1',
  running: '#3b82f6',
  succeeded: '#22a06b',
  failed: '#d64545',
  skipped: '#c9a227',
  'up-to-date': '#7c8b99',
  cancelled: '#a855f7',
};
const LANE_H = 16;
const AXIS_H = 20;
const LABEL_W = 150;

interface Bar {
  readonly b: TimelineBuild;
  readonly lane: number;
}

export class Gantt {
  readonly canvas: HTMLCanvasElement;
  readonly #tip: HTMLElement;
  #bars: Bar[] = [];
  #lanes: readonly Lane[] = [];
  #critical: ReadonlySet<string> = new Set();
  #from = 0;
  #to = 1;
  /** The visible window, as fractions of [from, to]. */
  #view = { a: 0, b: 1 };
  #frame = 0;
  #now = Date.now();
  lastDrawMs = 0;

  constructor() {
    this.canvas = document.createElement('canvas');
    this.canvas.id = 'gantt';
    this.#tip = document.createElement('div');
    this.#tip.className = 'tip';
    this.canvas.addEventListener('wheel', (e) => this.#zoom(e), { passive: false });
    let drag: { x: number; a: number; b: number } | undefined;
    this.canvas.addEventListener('mousedown', (e) => {
      drag = { x: e.clientX, ...this.#view };
    });
    window.addEventListener('mouseup', () => {
      drag = undefined;
    });
    this.canvas.addEventListener('mousemove', (e) => {
      if (drag) {
        const w = this.canvas.clientWidth - LABEL_W;
        const d = ((e.clientX - drag.x) / w) * (drag.b - drag.a);
        this.#setView(drag.a - d, drag.b - d);
      } else this.#hover(e);
    });
    this.canvas.addEventListener('mouseleave', () => {
      this.#tip.style.display = 'none';
    });
    window.addEventListener('resize', () => this.draw());
  }

  /** Puts the chart into `parent` (a re-rendered page has a new one). */
  mount(parent: HTMLElement): void {
    parent.append(this.canvas, this.#tip);
  }

  get bars(): number {
    return this.#bars.length;
  }

  set(
    builds: readonly TimelineBuild[],
    lanes: readonly Lane[],
    critical: ReadonlySet<string>,
    span: { from: number; to: number },
    now: number,
  ): void {
    this.#lanes = lanes;
    this.#critical = critical;
    this.#from = span.from;
    this.#to = Math.max(span.to, span.from + 1);
    this.#now = now;
    const index = new Map(lanes.map((l, i) => [l.key, i]));
    this.#bars = [];
    for (const b of builds) {
      if (b.startedAt === undefined || b.agent === undefined) continue;
      const lane = index.get(`${b.agent}#${b.slot ?? 0}`);
      if (lane !== undefined) this.#bars.push({ b, lane });
    }
    this.canvas.dataset['bars'] = String(this.#bars.length);
    this.canvas.dataset['critical'] = String(this.#bars.filter((x) => critical.has(x.b.id)).length);
    this.schedule();
  }

  /** Zooms in or out by `factor` around the middle (the bench's responsiveness figure uses it). */
  zoomBy(factor: number): void {
    const mid = (this.#view.a + this.#view.b) / 2;
    const half = ((this.#view.b - this.#view.a) * factor) / 2;
    this.#setView(mid - half, mid + half);
    this.draw();
  }

  schedule(): void {
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.draw();
    });
  }

  draw(): void {
    const t0 = performance.now();
    // A frame already asked for would only draw the same again.
    if (this.#frame) cancelAnimationFrame(this.#frame);
    this.#frame = 0;
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.parentElement?.clientWidth ?? 800;
    const h = AXIS_H + Math.max(1, this.#lanes.length) * LANE_H;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    }
    const g = c.getContext('2d');
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'middle';
    const plotW = w - LABEL_W;
    const { t0: v0, t1: v1 } = this.#window();
    const x = (ms: number) => LABEL_W + ((ms - v0) / (v1 - v0)) * plotW;
    // Axis: about 8 ticks, in seconds or minutes.
    g.fillStyle = '#555';
    const step = niceStep((v1 - v0) / 8);
    for (let s = Math.ceil((v0 - this.#from) / step) * step; this.#from + s <= v1; s += step) {
      const px = x(this.#from + s);
      g.fillRect(px, AXIS_H - 4, 1, h);
      g.fillText(fmtOffset(s), px + 2, 8);
    }
    // Lanes.
    this.#lanes.forEach((l, i) => {
      const y = AXIS_H + i * LANE_H;
      if (i % 2 === 0) {
        g.fillStyle = '#f4f6f8';
        g.fillRect(LABEL_W, y, plotW, LANE_H);
      }
      g.fillStyle = '#333';
      g.fillText(`${l.arch} ${l.agent} #${l.slot}`.slice(0, 26), 2, y + LANE_H / 2);
    });
    g.save();
    g.beginPath();
    g.rect(LABEL_W, 0, plotW, h);
    g.clip();
    const crit: Bar[] = [];
    for (const bar of this.#bars) {
      const b = bar.b;
      const end = b.finishedAt ?? this.#now;
      if (end < v0 || b.startedAt! > v1) continue;
      const x0 = x(b.startedAt!);
      const bw = Math.max(1, x(end) - x0);
      const y = AXIS_H + bar.lane * LANE_H + 2;
      g.fillStyle = STATE_COLOURS[b.state] ?? '#888';
      g.fillRect(x0, y, bw, LANE_H - 4);
      if (bw > 40) {
        g.fillStyle = '#fff';
        g.fillText(b.name, x0 + 3, y + (LANE_H - 4) / 2, bw - 6);
      }
      if (this.#critical.has(b.id)) crit.push(bar);
    }
    g.strokeStyle = '#b00020';
    g.lineWidth = 2;
    for (const bar of crit) {
      const b = bar.b;
      const x0 = x(b.startedAt!);
      g.strokeRect(
        x0,
        AXIS_H + bar.lane * LANE_H + 1,
        Math.max(2, x(b.finishedAt ?? this.#now) - x0),
        LANE_H - 2,
      );
    }
    g.restore();
    this.lastDrawMs = performance.now() - t0;
  }

  #window(): { t0: number; t1: number } {
    const span = this.#to - this.#from;
    return { t0: this.#from + this.#view.a * span, t1: this.#from + this.#view.b * span };
  }

  #setView(a: number, b: number): void {
    const width = Math.min(1, Math.max(1e-5, b - a));
    let na = Math.max(0, Math.min(1 - width, a));
    if (!Number.isFinite(na)) na = 0;
    this.#view = { a: na, b: na + width };
    this.schedule();
  }

  #zoom(e: WheelEvent): void {
    e.preventDefault();
    const w = this.canvas.clientWidth - LABEL_W;
    const f = Math.min(1, Math.max(0, (e.offsetX - LABEL_W) / w));
    const at = this.#view.a + f * (this.#view.b - this.#view.a);
    const k = e.deltaY > 0 ? 1.25 : 0.8;
    this.#setView(at - (at - this.#view.a) * k, at + (this.#view.b - at) * k);
  }

  #hover(e: MouseEvent): void {
    const lane = Math.floor((e.offsetY - AXIS_H) / LANE_H);
    const { t0, t1 } = this.#window();
    const at = t0 + ((e.offsetX - LABEL_W) / (this.canvas.clientWidth - LABEL_W)) * (t1 - t0);
    const hit = this.#bars.find(
      (x) => x.lane === lane && x.b.startedAt! <= at && (x.b.finishedAt ?? this.#now) >= at,
    );
    if (!hit) {
      this.#tip.style.display = 'none';
      return;
    }
    const b = hit.b;
    const dur = ((b.finishedAt ?? this.#now) - b.startedAt!) / 1000;
    this.#tip.textContent = `${b.id} ${b.version} · ${b.state} · ${dur.toFixed(1)} s${this.#critical.has(b.id) ? ' · critical path' : ''}`;
    this.#tip.style.display = 'block';
    this.#tip.style.left = `${e.offsetX + 12}px`;
    this.#tip.style.top = `${e.offsetY + 12}px`;
  }
}

function niceStep(ms: number): number {
  for (const s of [
    100, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000,
  ])
    if (s >= ms) return s;
  return 7_200_000;
}

function fmtOffset(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return m < 60 ? `${m}m${s ? `${s}s` : ''}` : `${Math.floor(m / 60)}h${m % 60}m`;
}
