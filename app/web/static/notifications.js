// The bell: how many of my notifications are unread, live on my own channel
// (`notifications:<my id>`, docs/protocol.md 7.7), and the list behind it.
import { plainWords } from './api.js';
import { $, h } from './board.js';

const PAGE = 20;
const SVG = 'http://www.w3.org/2000/svg';

/** A bell drawn in SVG: no icon font or emoji font is needed on the machine. */
function bellIcon() {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'bell-icon');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', 'M12 2a6 6 0 0 0-6 6v3.6L4.3 15A1 1 0 0 0 5.2 16.5h13.6a1 1 0 0 0 .9-1.5L18 11.6V8a6 6 0 0 0-6-6zm-2.5 16a2.5 2.5 0 0 0 5 0z');
  svg.append(path);
  return svg;
}

export class Notifications {
  constructor(ctx) {
    this.ctx = ctx;
    this.unread = 0;
    this.items = [];
    this.nextBefore = null;
    this.open = false;
    this.unsubscribe = null;
    this.wanted = null; // the newest position a live event asked the count to reflect
    this.refreshing = null;
    this.onDocumentClick = (e) => { if (this.open && !$('#notifications').contains(e.target)) this.toggle(false); };
  }

  get channel() { return `notifications:${this.ctx.me.id}`; }

  async start() {
    this.render();
    document.addEventListener('click', this.onDocumentClick);
    const position = await this.refresh().catch(() => null);
    // `since`: the gateway replays what arrived after the fetch (or answers resync, and the
    // client then calls onResync to refetch, holding what arrives meanwhile): nothing between
    // the fetch and the ack is lost.
    this.unsubscribe = this.ctx.client?.subscribe(this.channel, {
      since: position ?? 0,
      onEvent: (ev) => this.refreshSoon(ev.position),
      onResync: ({ position: p }) => this.refresh(p),
    }) ?? null;
  }

  stop() {
    this.unsubscribe?.();
    document.removeEventListener('click', this.onDocumentClick);
    $('#notifications').replaceChildren();
  }

  /** A burst of events (a resume replays every missed notification at once) costs one
   * refetch in flight and at most one after it, at the newest position asked for. */
  refreshSoon(position) {
    this.wanted = Math.max(this.wanted ?? 0, position);
    if (this.refreshing) return;
    this.refreshing = (async () => {
      while (this.wanted) {
        const p = this.wanted;
        this.wanted = null;
        await this.refresh(p).catch(() => {});
      }
      this.refreshing = null;
    })();
  }

  /** Refetch the count (and the open list) at least as fresh as `minPosition`. */
  async refresh(minPosition = null) {
    const query = minPosition ? `?min_position=${minPosition}` : '';
    const r = await this.ctx.api.get(`/notifications/unread-count${query}`);
    this.unread = r.unread;
    if (this.open) await this.loadList(minPosition);
    this.render();
    return r.as_of_position;
  }

  async loadList(minPosition = null, more = false) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (minPosition) params.set('min_position', String(minPosition));
    if (more && this.nextBefore) params.set('before', String(this.nextBefore));
    const r = await this.ctx.api.get(`/notifications?${params}`);
    this.items = more ? [...this.items, ...r.items] : r.items;
    this.nextBefore = r.next_before;
    this.unread = r.unread;
  }

  async toggle(open = !this.open) {
    this.open = open;
    if (open) await this.loadList().catch((e) => this.ctx.flash(plainWords(e)));
    this.render();
  }

  async markRead(item) {
    try {
      const r = await this.ctx.api.post(`/notifications/${item.id}/read`);
      await this.refresh(r.position);
    } catch (e) { this.ctx.flash(plainWords(e)); }
  }

  async markAllRead() {
    try {
      const r = await this.ctx.api.post('/notifications/read-all', {});
      await this.refresh(r.position);
    } catch (e) { this.ctx.flash(plainWords(e)); }
  }

  render() {
    const slot = $('#notifications');
    if (!slot) return;
    const label = this.unread === 1 ? '1 unread notification' : `${this.unread} unread notifications`;
    const bell = h('button', { id: 'bell', class: 'bell', type: 'button', 'aria-label': label, title: label, 'aria-expanded': String(this.open), onclick: (e) => { e.stopPropagation(); this.toggle(); } },
      bellIcon(), h('span', { id: 'bell-count', class: 'bell-count', hidden: this.unread === 0 }, String(this.unread)));
    const children = [bell];
    if (this.open) {
      const rows = this.items.map((n) => h('li', { class: n.read ? 'read' : 'unread', dataset: { id: String(n.id) } },
        h('span', { class: 'text' }, n.text),
        h('time', { datetime: n.occurred_at, class: 'muted' }, new Date(n.occurred_at).toLocaleString()),
        n.read ? null : h('button', { class: 'link', type: 'button', onclick: () => this.markRead(n) }, 'Mark read')));
      children.push(h('div', { id: 'notification-panel', class: 'notification-panel', role: 'dialog', 'aria-label': 'Notifications' },
        h('div', { class: 'panel-head' }, h('strong', {}, 'Notifications'),
          h('button', { id: 'mark-all-read', class: 'link', type: 'button', disabled: this.unread === 0, onclick: () => this.markAllRead() }, 'Mark all read')),
        rows.length ? h('ul', { id: 'notification-list', class: 'plain' }, rows) : h('p', { class: 'muted' }, 'Nothing yet.'),
        this.nextBefore ? h('button', { class: 'link', type: 'button', onclick: async () => { await this.loadList(null, true); this.render(); } }, 'Older…') : null));
    }
    slot.replaceChildren(...children);
  }
}
