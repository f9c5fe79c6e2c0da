// A project's daily series as a hand-drawn SVG chart: open tasks (the burndown line), tasks
// completed per day (bars), and the figures behind them. Days are UTC dates.
import { plainWords } from './api.js';
import { $, h, money } from './board.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 640, H = 180, PAD = { left: 32, right: 8, top: 10, bottom: 22 };
const DAYS = 30;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const hours = (seconds) => (seconds == null ? '—' : seconds < 3600 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`);

export class AnalyticsChart {
  constructor(ctx, projectId) {
    this.ctx = ctx;
    this.projectId = projectId;
    this.series = null;
    this.timer = null;
  }

  async load(minPosition = null) {
    const query = minPosition ? `?min_position=${minPosition}` : '';
    try {
      this.series = await this.ctx.api.get(`/projects/${this.projectId}/analytics${query}`);
    } catch (e) {
      $('#analytics').replaceChildren(h('p', { class: 'muted' }, plainWords(e)));
      return;
    }
    this.render();
  }

  /** A task or spend event of this project: redraw soon (one fetch for a burst of events). */
  onEvent(ev) {
    if (ev.project !== this.projectId || !/^(Task|ProjectSpend)/.test(ev.type)) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(ev.position), 300);
  }

  stop() { clearTimeout(this.timer); }

  render() {
    const { days, totals } = this.series;
    const n = days.length || DAYS;
    const top = Math.max(1, ...days.map((d) => Math.max(d.open, d.completed)));
    const x = (i) => PAD.left + (i + 0.5) * ((W - PAD.left - PAD.right) / n);
    const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
    const barW = Math.max(2, (W - PAD.left - PAD.right) / n - 3);
    const svg = s('svg', { id: 'analytics-chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Open tasks and completions per day' });
    svg.append(s('line', { x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0), class: 'axis' }));
    svg.append(s('text', { x: 4, y: y(top) + 4, class: 'tick' }, top), s('text', { x: 4, y: y(0), class: 'tick' }, 0));
    days.forEach((d, i) => {
      if (d.completed > 0) {
        const bar = s('rect', { x: x(i) - barW / 2, y: y(d.completed), width: barW, height: y(0) - y(d.completed), class: 'bar completed', 'data-day': d.day });
        bar.append(s('title', {}, `${d.day}: ${d.completed} completed`));
        svg.append(bar);
      }
    });
    const points = days.map((d, i) => `${x(i).toFixed(1)},${y(d.open).toFixed(1)}`).join(' ');
    svg.append(s('polyline', { points, class: 'line open' }));
    days.forEach((d, i) => {
      const dot = s('circle', { cx: x(i), cy: y(d.open), r: 2.5, class: 'dot open', 'data-day': d.day, 'data-open': d.open });
      dot.append(s('title', {}, `${d.day}: ${d.open} open, ${d.created} created, ${d.throughput_7d} done in 7 days`));
      svg.append(dot);
    });
    for (const i of [0, Math.floor((n - 1) / 2), n - 1]) {
      if (days[i]) svg.append(s('text', { x: x(i), y: H - 6, class: 'tick', 'text-anchor': 'middle' }, days[i].day.slice(5)));
    }
    const last = days.at(-1) ?? { open: 0, throughput_7d: 0 };
    $('#analytics').replaceChildren(
      h('h3', {}, 'Analytics ', h('span', { class: 'muted small' }, `last ${n} days, UTC`)),
      svg,
      h('p', { class: 'legend' },
        h('span', { class: 'key open' }, 'open tasks'), ' ', h('span', { class: 'key completed' }, 'completed per day')),
      h('dl', { class: 'analytics-figures' },
        h('dt', {}, 'Open now'), h('dd', { id: 'an-open' }, last.open),
        h('dt', {}, 'Created'), h('dd', { id: 'an-created' }, totals.created),
        h('dt', {}, 'Completed'), h('dd', { id: 'an-completed' }, totals.completed),
        h('dt', {}, 'Done in the last 7 days'), h('dd', { id: 'an-throughput' }, last.throughput_7d),
        h('dt', {}, 'Median cycle time'), h('dd', { id: 'an-cycle' }, hours(totals.median_cycle_seconds)),
        h('dt', {}, 'Spend'), h('dd', { id: 'an-spend' }, money(totals.spend_cents))));
  }
}
