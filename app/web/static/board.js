// The board of one project: its state (REST snapshot + live events), rendering, and actions.
import { normTask as normTaskOut, plainWords } from './api.js';
import { applyTaskField, cardExtras } from './taskfields.js';
import { renderRoles } from './members.js';

export const COLUMNS = ['todo', 'in_progress', 'done'];
export const TRANSITIONS = {
  active: ['on_hold', 'completed', 'cancelled'],
  on_hold: ['active', 'cancelled'],
  completed: ['archived'],
  cancelled: ['archived'],
  archived: [],
};
const STATUS_WORDS = { active: 'Active', on_hold: 'On hold', completed: 'Completed', cancelled: 'Cancelled', archived: 'Archived' };
const ACTION_WORDS = { active: 'Resume', on_hold: 'Put on hold', completed: 'Complete', cancelled: 'Cancel', archived: 'Archive' };
const COLUMN_WORDS = { todo: 'To do', in_progress: 'In progress', done: 'Done' };

export const $ = (sel, root = document) => root.querySelector(sel);
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
export const money = (cents) => (cents == null ? '—' : (cents / 100).toLocaleString(undefined, { style: 'currency', currency: 'USD' }));
export const statusWord = (s) => STATUS_WORDS[s] ?? s;

/** Tasks this browser knows of per project, for servers without the read side's board. */
function knownTasks(projectId) {
  try { return JSON.parse(localStorage.getItem(`cs.tasks.${projectId}`) ?? '[]'); } catch { return []; }
}
function rememberTask(projectId, taskId, forget = false) {
  const ids = new Set(knownTasks(projectId));
  if (forget) ids.delete(taskId); else ids.add(taskId);
  try { localStorage.setItem(`cs.tasks.${projectId}`, JSON.stringify([...ids])); } catch { /* full or disabled */ }
}

export class Board {
  constructor(ctx, projectId) {
    this.ctx = ctx; // {api, client, users: Map, me, flash(msg), userName(id)}
    this.id = projectId;
    this.channel = `project:${projectId}`;
    this.project = null;
    this.tasks = new Map();
    this.activity = [];
    this.pending = new Set();
    this.typing = new Map(); // task id -> {user, until}
    this.editing = null;
  }

  async load(minPosition = null) {
    const s = await this.ctx.api.boardState(this.id, knownTasks(this.id), minPosition);
    this.project = s.project;
    this.tasks = new Map(s.tasks.map((t) => [t.id, t]));
    for (const t of s.tasks) rememberTask(this.id, t.id);
    this.activity = s.activity;
    this.readSide = s.readSide;
    this.render();
    return s.position;
  }

  // ---- live events ------------------------------------------------------------------------
  apply(ev) {
    const d = ev.data ?? {};
    const p = this.project;
    const t = d.task_id ? this.tasks.get(d.task_id) : null;
    switch (ev.type) {
      case 'TaskCreated':
        this.tasks.set(d.task_id, { id: d.task_id, project_id: this.id, title: d.title ?? '', description: d.description ?? '', status: 'todo', assignee_id: d.assignee_id ?? null, version: ev.version });
        rememberTask(this.id, d.task_id);
        break;
      case 'TaskEdited': if (t) Object.assign(t, { title: d.title ?? t.title, description: d.description ?? t.description }); break;
      case 'TaskAssigned': if (t) t.assignee_id = d.assignee_id; break;
      case 'TaskUnassigned': if (t) t.assignee_id = null; break;
      case 'TaskMoved': if (t) t.status = d.to_status ?? d.status ?? t.status; break;
      case 'TaskArchived': this.tasks.delete(d.task_id); rememberTask(this.id, d.task_id, true); break;
      case 'ProjectRenamed': p.name = d.name; break;
      case 'ProjectDescribed': p.description = d.description; break;
      case 'ProjectStatusChanged': p.status = d.to_status ?? d.status; break;
      case 'ProjectBudgetChanged': p.budget_cents = d.budget_cents; break;
      case 'ProjectSpendRecorded': p.actual_spend_cents = d.actual_spend_cents ?? p.actual_spend_cents + (d.amount_cents ?? 0); break;
      case 'ProjectMemberAdded':
        if (!p.members.includes(d.user_id)) p.members.push(d.user_id);
        if (d.role === 'manager') p.managers = [...p.managers, d.user_id];
        break;
      case 'ProjectMemberRemoved':
        p.members = p.members.filter((m) => m !== d.user_id);
        p.managers = p.managers.filter((m) => m !== d.user_id);
        break;
      case 'ProjectMemberRoleChanged':
        p.managers = p.managers.filter((m) => m !== d.user_id).concat(d.role === 'manager' ? [d.user_id] : []);
        break;
      default: if (t) applyTaskField(this, t, ev); break;
    }
    if (t && ev.stream === `task-${t.id}`) t.version = ev.version;
    if (ev.stream === `project-${this.id}`) p.version = ev.version;
    if (!this.activity.some((a) => a.position === ev.position)) {
      this.activity.unshift({ position: ev.position, type: ev.type, time: ev.time, text: this.describe(ev), user: null, data: d });
      this.activity.length = Math.min(this.activity.length, 50);
    }
    this.render();
  }

  describe(ev) {
    const d = ev.data ?? {};
    const task = d.task_id ? `“${this.tasks.get(d.task_id)?.title ?? d.title ?? 'a task'}”` : '';
    const who = (id) => this.ctx.userName(id);
    switch (ev.type) {
      case 'TaskCreated': return `Task ${task} created`;
      case 'TaskEdited': return `Task ${task} edited`;
      case 'TaskAssigned': return `Task ${task} assigned to ${who(d.assignee_id)}`;
      case 'TaskUnassigned': return `Task ${task} unassigned`;
      case 'TaskMoved': return `Task ${task} moved to ${COLUMN_WORDS[d.to_status] ?? d.to_status}`;
      case 'TaskArchived': return `Task ${task} archived`;
      case 'TaskCommentAdded': return `${who(d.author_id)} commented on ${task}`;
      case 'TaskCommentEdited': return `A comment on ${task} edited`;
      case 'TaskCommentDeleted': return `A comment on ${task} deleted`;
      case 'TaskDueDateChanged': return d.due_at ? `Task ${task} due ${new Date(d.due_at).toLocaleString()}` : `Task ${task} has no due date`;
      case 'TaskPriorityChanged': return `Task ${task} priority ${d.priority}`;
      case 'ProjectCreated': return `Project created`;
      case 'ProjectRenamed': return `Project renamed to “${d.name}”`;
      case 'ProjectDescribed': return 'Description changed';
      case 'ProjectStatusChanged': return `Status changed to ${statusWord(d.to_status)}`;
      case 'ProjectBudgetChanged': return `Budget set to ${money(d.budget_cents)}`;
      case 'ProjectSpendRecorded': return `Spend of ${money(d.amount_cents)} recorded${d.note ? ` (${d.note})` : ''}`;
      case 'ProjectMemberAdded': return `${who(d.user_id)} joined the project`;
      case 'ProjectMemberRemoved': return `${who(d.user_id)} left the project`;
      case 'ProjectMemberRoleChanged': return `${who(d.user_id)} is now a ${d.role === 'manager' ? 'manager' : 'member'}`;
      default: return ev.type;
    }
  }

  /** A task the API just created: shown at once, whether or not its event came yet. */
  async adopt(taskId) {
    rememberTask(this.id, taskId);
    if (this.tasks.has(taskId)) return;
    const t = normTaskOut(await this.ctx.api.task(taskId));
    if (!this.tasks.has(taskId)) { this.tasks.set(taskId, t); this.render(); }
  }

  // ---- actions ------------------------------------------------------------------------------
  async run(request, apply) {
    try {
      return await this.ctx.client.mutate({ channel: this.channel, apply, request });
    } catch (err) {
      this.ctx.flash(plainWords(err));
      if (err.status === 409 || err.status === 404) this.ctx.refetch(this.channel);
      return null;
    }
  }

  moveTask(taskId, to) {
    const t = this.tasks.get(taskId);
    if (!t || t.status === to) return;
    return this.run(({ correlation }) => this.ctx.api.moveTask(taskId, to, { correlation }), () => {
      const before = t.status;
      t.status = to;
      this.pending.add(taskId);
      this.render();
      return () => { t.status = before; this.pending.delete(taskId); this.render(); };
    }).finally(() => { this.pending.delete(taskId); this.render(); });
  }

  assign(taskId, userId) {
    const t = this.tasks.get(taskId);
    return this.run(({ correlation }) => this.ctx.api.assignTask(taskId, userId || null, { correlation }), () => {
      const before = t.assignee_id;
      t.assignee_id = userId || null;
      return () => { t.assignee_id = before; this.render(); };
    });
  }

  changeStatus(to) {
    const p = this.project;
    return this.run(({ correlation }) => this.ctx.api.changeStatus(this.id, to, { correlation, ifMatch: p.version }), () => {
      const before = p.status;
      p.status = to;
      this.render();
      return () => { p.status = before; this.render(); };
    });
  }

  // ---- rendering ------------------------------------------------------------------------------
  completion() {
    const tasks = [...this.tasks.values()];
    if (!tasks.length) return this.project?.completion_pct ?? 0;
    return Math.round((100 * tasks.filter((t) => t.status === 'done').length) / tasks.length);
  }

  render() {
    const p = this.project;
    if (!p || this.ctx.board !== this) return;
    $('#board-name').textContent = p.name;
    $('#board-description').textContent = p.description;
    const badge = $('#board-status');
    badge.textContent = statusWord(p.status);
    badge.dataset.status = p.status;
    $('#status-actions').replaceChildren(...(TRANSITIONS[p.status] ?? []).map((to) =>
      h('button', { class: 'secondary', dataset: { to }, onclick: () => this.changeStatus(to) }, ACTION_WORDS[to])));
    $('#fig-completion').textContent = `${this.completion()}%`;
    $('#fig-budget').textContent = money(p.budget_cents);
    $('#fig-spend').textContent = money(p.actual_spend_cents);
    const member = (m) => this.ctx.userName(m) + (p.managers.includes(m) ? ' (manager)' : '');
    $('#board-members').textContent = p.members.map(member).join(', ') || 'none';
    renderRoles(this);
    const options = () => [h('option', { value: '' }, 'Unassigned'), ...p.members.map((m) => h('option', { value: m }, this.ctx.userName(m)))];
    for (const sel of document.querySelectorAll('.assignee-select')) {
      const v = sel.value;
      sel.replaceChildren(...options());
      sel.value = v;
    }
    const others = [...this.ctx.users.values()].filter((u) => !p.members.includes(u.id) && u.active !== false);
    $('#member-select').replaceChildren(...others.map((u) => h('option', { value: u.id }, `${u.name} <${u.email}>`)));
    for (const status of COLUMNS) {
      const list = $(`ul.tasks[data-status="${status}"]`);
      const tasks = [...this.tasks.values()].filter((t) => t.status === status).sort((a, b) => a.title.localeCompare(b.title));
      list.replaceChildren(...tasks.map((t) => this.card(t, options)));
    }
    $('#activity').replaceChildren(...this.activity.slice(0, 20).map((a) =>
      h('li', {}, a.text || a.type, a.time ? h('time', { datetime: a.time }, new Date(a.time).toLocaleTimeString()) : null)));
    this.renderPresence();
  }

  card(t, options) {
    const i = COLUMNS.indexOf(t.status);
    const sel = h('select', { 'aria-label': 'Assignee', onchange: (e) => this.assign(t.id, e.target.value) }, options());
    sel.value = t.assignee_id ?? '';
    const typing = this.typing.get(t.id);
    return h('li', { class: `task${this.pending.has(t.id) ? ' pending' : ''}`, draggable: 'true', dataset: { task: t.id, title: t.title },
      ondragstart: (e) => e.dataTransfer.setData('text/plain', t.id) },
      h('div', { class: 'title', onclick: () => this.ctx.editTask(t) }, t.title),
      h('div', { class: 'meta' },
        i > 0 ? h('button', { class: 'move-left', title: `Move to ${COLUMN_WORDS[COLUMNS[i - 1]]}`, onclick: () => this.moveTask(t.id, COLUMNS[i - 1]) }, '←') : null,
        sel,
        i < COLUMNS.length - 1 ? h('button', { class: 'move-right', title: `Move to ${COLUMN_WORDS[COLUMNS[i + 1]]}`, onclick: () => this.moveTask(t.id, COLUMNS[i + 1]) }, '→') : null),
      cardExtras(this, t),
      typing && typing.until > Date.now() ? h('p', { class: 'typing' }, `${this.ctx.userName(typing.user)} is typing…`) : null);
  }

  renderPresence() {
    const el = $('#presence');
    const members = this.ctx.client.presence(this.channel);
    if (!members.length) {
      el.textContent = this.ctx.client.supports('presence') ? 'just you' : 'not reported by this server yet';
      return;
    }
    el.textContent = members.map((m) => this.ctx.userName(m.user ?? m)).join(', ');
  }

  onTyping(userId, taskId) {
    if (userId === this.ctx.me?.id) return;
    this.typing.set(taskId, { user: userId, until: Date.now() + 4000 });
    this.render();
    setTimeout(() => this.render(), 4100);
  }
}
