import { analyse, type RunAnalysis, waitMs } from '../src/observe/analysis.js';
import { execMs } from '../src/observe/critical-path.js';
import {
  BUILD_PHASES,
  logPath,
  type RunSummary,
  type RunTimeline,
  type TimelineAgent,
  type TimelineBuild,
} from '../src/observe/timeline-types.js';
import { h, pct, secs, table } from './dom.js';
import { Gantt, STATE_COLOURS } from './gantt.js';

/** The dashboard page: the runs list, or one run (live over server-sent events, or a static report). */

type Boot =
  | { readonly mode: 'list' }
  | { readonly mode: 'run'; readonly runId: string }
  | { readonly mode: 'report'; readonly timeline: RunTimeline };

interface Probe {
  ready: boolean;
  /** When the first full render was done, since navigation start (ms). */
  readyAt: number;
  renderMs: number;
  bars: number;
  critical: readonly string[];
  updates: number;
  redraw(zoom: number): number;
}

declare global {
  interface Window {
    m2dash: Probe;
  }
}

const probe: Probe = {
  ready: false,
  readyAt: 0,
  renderMs: 0,
  bars: 0,
  critical: [],
  updates: 0,
  redraw: () => 0,
};
window.m2dash = probe;

const boot = JSON.parse(document.getElementById('m2-boot')?.textContent ?? '{"mode":"list"}') as Boot;
const app = document.getElementById('app')!;

async function runsList(): Promise<void> {
  const runs = (await (await fetch('/api/runs')).json()) as RunSummary[];
  app.replaceChildren(
    h('h1', {}, 'melange2-orch runs'),
    runs.length === 0
      ? h('p', {}, 'No run recorded yet.')
      : table(
          ['run', 'status', 'started', 'wall', 'builds', ...BUILD_PHASES],
          runs.map((r) => [
            h('a', { href: `/runs/${encodeURIComponent(r.runId)}/` }, r.runId),
            r.status,
            new Date(r.startedAt).toLocaleString(),
            secs(r.finishedAt !== undefined ? r.finishedAt - r.startedAt : undefined),
            String(r.builds),
            ...BUILD_PHASES.map((p) => String(r.counts[p] ?? 0)),
          ]),
          'runs',
        ),
  );
  probe.ready = true;
}

async function liveRun(runId: string): Promise<void> {
  const base = `/api/runs/${encodeURIComponent(runId)}`;
  const t = (await (await fetch(base)).json()) as RunTimeline;
  const view = new RunView(t, true);
  view.render();
  if (t.status !== 'running') return;
  const es = new EventSource(`${base}/events`);
  es.addEventListener('update', (ev) => {
    const u = JSON.parse((ev as MessageEvent<string>).data) as {
      builds: TimelineBuild[];
      status: RunTimeline['status'];
      finishedAt?: number;
      agents: TimelineAgent[];
    };
    view.update(u);
    if (u.status !== 'running') es.close();
  });
}

class RunView {
  readonly #t: RunTimeline;
  readonly #served: boolean;
  readonly #byId: Map<string, TimelineBuild>;
  #gantt: Gantt | undefined;
  #frame = 0;
  #filter = '';
  /** The build list's scroll position, kept across re-renders. */
  #scrollTop = 0;
  #lastRender = 0;
  #renderMs = 0;

  constructor(t: RunTimeline, served: boolean) {
    this.#t = t;
    this.#served = served;
    this.#byId = new Map(t.builds.map((b) => [b.id, b]));
  }

  update(u: {
    builds: TimelineBuild[];
    status: RunTimeline['status'];
    finishedAt?: number;
    agents: TimelineAgent[];
  }): void {
    for (const b of u.builds) {
      const old = this.#byId.get(b.id);
      if (old) Object.assign(old, b);
    }
    this.#t.status = u.status;
    if (u.finishedAt !== undefined) this.#t.finishedAt = u.finishedAt;
    this.#t.agents.splice(0, this.#t.agents.length, ...u.agents);
    probe.updates++;
    if (this.#frame) return;
    // A big run re-renders at most every 5 render times (and 4 times a second), so live updates
    // never take more than a fifth of the page's time.
    const wait = Math.max(0, this.#lastRender + Math.max(250, 5 * this.#renderMs) - performance.now());
    this.#frame = window.setTimeout(() => {
      requestAnimationFrame(() => {
        this.#frame = 0;
        this.render();
      });
    }, wait);
  }

  render(): void {
    const t0 = performance.now();
    const t = this.#t;
    const now = Date.now();
    const a = analyse(t, now);
    const wall = (t.finishedAt ?? now) - t.startedAt;
    const section = (id: string, title: string, ...body: (Node | string | undefined)[]) =>
      h('section', { id }, h('h2', {}, title), ...body);
    const gantt = h('div', { class: 'gantt' });
    const links = h(
      'p',
      { class: 'links' },
      this.#served
        ? h(
            'a',
            { href: `/runs/${encodeURIComponent(t.runId)}/trace.json`, download: `${t.runId}.trace.json` },
            'Chrome trace (Perfetto, chrome://tracing)',
          )
        : undefined,
      this.#served ? ' · ' : undefined,
      this.#served
        ? h(
            'a',
            {
              href: `/speedscope/index.html#profileURL=${encodeURIComponent(`${location.origin}/runs/${encodeURIComponent(t.runId)}/trace.json`)}&title=${encodeURIComponent(t.runId)}`,
              id: 'speedscope',
            },
            'open in speedscope',
          )
        : undefined,
      this.#served ? ' · ' : undefined,
      this.#served ? h('a', { href: '/' }, 'all runs') : undefined,
    );
    app.replaceChildren(
      h(
        'header',
        {},
        h('h1', {}, `run ${t.runId}`),
        h(
          'p',
          { id: 'status', 'data-status': t.status },
          `${t.status}${t.status === 'running' && this.#served ? ' (live)' : ''} · ${t.repo} · ${t.builds.length} builds, ${t.upToDate.length} up to date · wall ${secs(wall)} · critical path ${secs(a.critical.ms)} (${a.critical.chain.length} builds)`,
        ),
        links,
      ),
      section('totals', 'Builds per arch and state', this.#totals(a)),
      section('cache', 'Cache', this.#cache(a)),
      section(
        'waits',
        'Queue wait vs execution per arch (ready → started is capacity starvation)',
        this.#waits(a),
      ),
      section('timeline', 'Timeline (one lane per agent slot; critical path outlined in red)', gantt),
      section('critical', 'Critical path', this.#critical(a)),
      h(
        'div',
        { class: 'cols' },
        section('slowest', 'Slowest packages', this.#slowest(a)),
        section('heldup', 'Held up the most dependents', this.#heldUp(a)),
      ),
      section('failures', 'Failures', this.#failures()),
      section('agents', 'Agents', this.#agents(a, now)),
      section('builds', 'Every build', this.#buildList(a)),
    );
    this.#gantt ??= new Gantt();
    const g = this.#gantt;
    g.mount(gantt);
    g.set(t.builds, a.lanes, a.critical.ids, a.span, now);
    g.draw();
    probe.bars = g.bars;
    probe.critical = a.critical.chain;
    probe.redraw = (zoom) => {
      g.zoomBy(zoom);
      return g.lastDrawMs;
    };
    probe.renderMs = performance.now() - t0;
    this.#renderMs = probe.renderMs;
    this.#lastRender = performance.now();
    if (!probe.ready) probe.readyAt = performance.now();
    probe.ready = true;
    document.body.dataset['ready'] = 'true';
  }

  #totals(a: RunAnalysis): HTMLElement {
    const rows = [...a.counts].map(([arch, c]) => [
      arch,
      ...BUILD_PHASES.map((p) =>
        h('span', { class: `n ${p}`, 'data-arch': arch, 'data-state': p }, String(c[p])),
      ),
    ]);
    return table(['arch', ...BUILD_PHASES], rows, 'totals');
  }

  #cache(a: RunAnalysis): HTMLElement {
    const c = a.cache;
    return h(
      'p',
      {},
      `BuildKit vertices cached: ${c.cached} / ${c.total} (${pct(c.cached, c.total)}) · builds up to date (not built): ${c.upToDate} / ${c.builds} (${pct(c.upToDate, c.builds)})`,
    );
  }

  #waits(a: RunAnalysis): HTMLElement {
    return table(
      ['arch', 'started', 'wait total', 'exec total', 'wait share', 'wait p50', 'wait p95', 'wait max'],
      a.waits.map((w) => {
        const share = w.waitMs + w.execMs > 0 ? w.waitMs / (w.waitMs + w.execMs) : 0;
        const bar = h(
          'span',
          { class: 'bar' },
          h('span', { class: 'fill', style: `width:${(share * 100).toFixed(1)}%` }),
        );
        return [
          w.arch,
          String(w.started),
          secs(w.waitMs),
          secs(w.execMs),
          h('span', {}, bar, ` ${(share * 100).toFixed(1)}%`),
          secs(w.waitP50),
          secs(w.waitP95),
          secs(w.waitMax),
        ];
      }),
    );
  }

  #critical(a: RunAnalysis): HTMLElement {
    if (a.critical.chain.length === 0) return h('p', {}, 'Nothing ran yet.');
    return h(
      'ol',
      { class: 'chain' },
      ...a.critical.chain.map((id) => {
        const b = this.#byId.get(id)!;
        return h('li', { 'data-id': id }, `${id} ${secs(execMs(b))}`);
      }),
    );
  }

  #slowest(a: RunAnalysis): HTMLElement {
    return table(
      ['build', 'exec', 'wait', 'cached steps'],
      a.slowest.map((b) => [
        b.id,
        secs(execMs(b)),
        secs(waitMs(b)),
        b.steps ? `${b.steps.cached}/${b.steps.total}` : '',
      ]),
    );
  }

  #heldUp(a: RunAnalysis): HTMLElement {
    return table(
      ['build', 'dependents waiting on it', 'time they waited'],
      a.heldUp.map((x) => [x.id, String(x.dependents), secs(x.heldMs)]),
    );
  }

  #logLink(b: TimelineBuild): HTMLElement {
    return h('a', { class: 'log', href: logPath(this.#t.runId, b.arch, b.name) }, 'full log');
  }

  #failures(): HTMLElement {
    const failed = this.#t.builds.filter((b) => b.state === 'failed');
    if (failed.length === 0) return h('p', {}, 'None.');
    return h(
      'div',
      {},
      ...failed.map((b) =>
        h(
          'div',
          { class: 'failure', 'data-id': b.id },
          h('h3', {}, `${b.id} ${b.version} `, this.#logLink(b)),
          h('p', { class: 'reason' }, b.reason ?? ''),
          b.logTail?.length ? h('pre', {}, b.logTail.join('\n')) : undefined,
        ),
      ),
    );
  }

  #agents(a: RunAnalysis, now: number): HTMLElement {
    const wall = Math.max(1, (this.#t.finishedAt ?? now) - this.#t.startedAt);
    return table(
      ['agent', 'arch', 'slots', 'busy', 'utilisation', 'last heartbeat'],
      this.#t.agents.map((x) => {
        const busy = a.agentBusyMs.get(x.id) ?? 0;
        return [
          x.id,
          x.arch,
          String(x.slots),
          secs(busy),
          pct(busy, wall * Math.max(1, x.slots)),
          `${secs(now - x.lastHeartbeat)} ago${x.alive ? '' : ' (left)'}`,
        ];
      }),
    );
  }

  /** Every build as a row: all of them up to 500, else a virtualised list (rows drawn as scrolled). */
  #buildList(a: RunAnalysis): HTMLElement {
    const filter = h('input', {
      type: 'search',
      placeholder: 'filter by name or state',
      value: this.#filter,
    }) as HTMLInputElement;
    const head = h(
      'div',
      { class: 'row head' },
      ...['build', 'state', 'agent', 'wait', 'exec', 'cached', 'reason'].map((x) => h('span', {}, x)),
    );
    const body = h('div', { class: 'rows', id: 'build-rows' });
    const rowOf = (b: TimelineBuild) =>
      h(
        'div',
        { class: `row${a.critical.ids.has(b.id) ? ' crit' : ''}`, 'data-id': b.id, 'data-state': b.state },
        h('span', {}, b.id),
        h('span', { class: 'state', style: `color:${STATE_COLOURS[b.state] ?? '#000'}` }, b.state),
        h('span', {}, b.agent !== undefined ? `${b.agent} #${b.slot ?? 0}` : ''),
        h('span', {}, secs(waitMs(b))),
        h('span', {}, secs(execMs(b) || undefined)),
        h('span', {}, b.steps ? `${b.steps.cached}/${b.steps.total}` : ''),
        h('span', { class: 'reason' }, b.state === 'failed' ? this.#logLink(b) : '', ` ${b.reason ?? ''}`),
      );
    const fill = () => {
      const f = this.#filter.toLowerCase();
      const list = f
        ? this.#t.builds.filter((b) => b.id.toLowerCase().includes(f) || b.state === f)
        : this.#t.builds;
      if (list.length <= 500) {
        body.replaceChildren(...list.map(rowOf));
        body.onscroll = () => {
          this.#scrollTop = body.scrollTop;
        };
        requestAnimationFrame(() => {
          body.scrollTop = this.#scrollTop;
        });
        return;
      }
      const H = 22;
      const spacer = h('div', { style: `height:${list.length * H}px;position:relative` });
      body.replaceChildren(spacer);
      body.classList.add('virtual');
      const draw = () => {
        const first = Math.max(0, Math.floor(body.scrollTop / H) - 10);
        const last = Math.min(list.length, first + Math.ceil(body.clientHeight / H) + 20);
        const rows: HTMLElement[] = [];
        for (let i = first; i < last; i++) {
          const r = rowOf(list[i]!);
          r.style.cssText = `position:absolute;top:${i * H}px;left:0;right:0`;
          rows.push(r);
        }
        spacer.replaceChildren(...rows);
      };
      body.onscroll = () => {
        this.#scrollTop = body.scrollTop;
        draw();
      };
      requestAnimationFrame(() => {
        body.scrollTop = this.#scrollTop;
        draw();
      });
      draw();
    };
    filter.addEventListener('input', () => {
      this.#filter = filter.value;
      fill();
    });
    fill();
    return h('div', {}, filter, head, body);
  }
}

if (boot.mode === 'list') void runsList();
else if (boot.mode === 'report') new RunView(boot.timeline, false).render();
else void liveRun(boot.runId);
