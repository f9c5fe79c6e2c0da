// Task fields on the board (issue 16 s.7): due date (overdue in red), priority and comment count
// on each card; a task panel with its comments (add, edit and delete one's own, live) and its
// due date and priority; "My tasks" on the project list. Kept apart from board.js and app.js,
// which only call cardExtras, applyTaskField and mountMyTasks.
import { plainWords } from './api.js';
import { $, h } from './board.js';

const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const COMMENT_EVENTS = new Set(['TaskCommentAdded', 'TaskCommentEdited', 'TaskCommentDeleted']);
let panel = null; // {board, taskId, element}

const when = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const commentWords = (n) => (n === 1 ? '1 comment' : `${n} comments`);
const isOverdue = (t) => !!t.due_at && t.status !== 'done' && new Date(t.due_at) < new Date();

/** The card's extra line: priority, due date (overdue marked), comments (opens the panel). */
export function cardExtras(board, t) {
  const overdue = isOverdue(t);
  return h('div', { class: 'fields' },
    t.priority && t.priority !== 'normal' ? h('span', { class: `priority p-${t.priority}` }, t.priority) : null,
    t.due_at ? h('span', { class: `due${overdue ? ' overdue' : ''}`, title: overdue ? 'Overdue' : 'Due' },
      `${overdue ? 'Overdue' : 'Due'} ${when(t.due_at)}`) : null,
    h('button', { class: 'comments-open secondary', title: 'Comments, due date, priority', onclick: () => openTask(board, t.id) },
      commentWords(t.comment_count ?? 0)));
}

/** A live task event for a task on the board; true if it was one of these fields. */
export function applyTaskField(board, t, ev) {
  const d = ev.data ?? {};
  switch (ev.type) {
    case 'TaskDueDateChanged': t.due_at = d.due_at; break;
    case 'TaskPriorityChanged': t.priority = d.priority; break;
    case 'TaskCommentAdded': t.comment_count = (t.comment_count ?? 0) + 1; break;
    case 'TaskCommentDeleted': t.comment_count = Math.max(0, (t.comment_count ?? 0) - 1); break;
    case 'TaskCommentEdited': break;
    default: return false;
  }
  if (COMMENT_EVENTS.has(ev.type) && panel?.board === board && panel.taskId === t.id) {
    loadComments(ev.position).catch(() => {});
  }
  return true;
}

function openTask(board, taskId) {
  let element = $('#task-panel');
  if (!element) {
    element = h('dialog', { id: 'task-panel' });
    document.body.append(element);
  }
  panel = { board, taskId, element };
  renderPanel();
  if (!element.open) element.showModal?.();
  loadComments().catch((e) => board.ctx.flash(plainWords(e)));
}

function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function renderPanel() {
  const { board, taskId, element } = panel;
  const t = board.tasks.get(taskId);
  if (!t) { element.close?.(); return; }
  const due = h('input', { type: 'datetime-local', name: 'due', value: localInput(t.due_at) });
  const priority = h('select', { name: 'priority' },
    PRIORITIES.map((p) => h('option', { value: p, selected: p === (t.priority ?? 'normal') }, p)));
  const schedule = h('form', { id: 'task-schedule' }, h('label', {}, 'Due ', due), h('label', {}, 'Priority ', priority),
    h('button', { type: 'submit' }, 'Save'));
  schedule.addEventListener('submit', async (e) => {
    e.preventDefault();
    // datetime-local is the browser's local time: sent with its offset, as the API asks.
    const dueAt = due.value ? new Date(due.value).toISOString() : null;
    try {
      await board.ctx.api.request('PATCH', `/tasks/${taskId}`, { body: { due_at: dueAt, priority: priority.value } });
    } catch (err) { board.ctx.flash(plainWords(err)); }
  });
  const text = h('textarea', { name: 'body', rows: 2, maxlength: 5000, placeholder: 'Write a comment' });
  const add = h('form', { id: 'comment-form' }, text, h('button', { type: 'submit' }, 'Comment'));
  add.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await board.ctx.api.post(`/tasks/${taskId}/comments`, { body: text.value });
      text.value = '';
      await loadComments(r.position);
    } catch (err) { board.ctx.flash(plainWords(err)); }
  });
  element.replaceChildren(h('h3', {}, t.title), schedule, h('ol', { id: 'comments', class: 'comments' }), add,
    h('menu', {}, h('button', { class: 'secondary', onclick: () => element.close?.() }, 'Close')));
}

async function loadComments(minPosition = null) {
  if (!panel) return;
  const { board, taskId } = panel;
  const q = minPosition ? `?min_position=${minPosition}&limit=100` : '?limit=100';
  const r = await board.ctx.api.get(`/tasks/${taskId}/comments${q}`);
  if (!panel || panel.taskId !== taskId) return;
  const list = $('#comments', panel.element);
  list.replaceChildren(...r.items.map((c) => h('li', { dataset: { comment: c.comment_id } },
    h('strong', {}, c.author.name ?? 'someone'), ' ', h('time', { datetime: c.created_at }, when(c.created_at)),
    c.edited_at ? h('span', { class: 'muted' }, ' (edited)') : null,
    h('p', {}, c.body),
    c.mine ? h('button', { class: 'secondary comment-edit', onclick: () => editComment(c) }, 'Edit') : null,
    c.mine ? h('button', { class: 'secondary comment-delete', onclick: () => deleteComment(c) }, 'Delete') : null)));
}

async function editComment(c) {
  const body = prompt('Edit the comment', c.body);
  if (body == null || !panel) return;
  try {
    const r = await panel.board.ctx.api.request('PATCH', `/tasks/${panel.taskId}/comments/${c.comment_id}`, { body: { body } });
    await loadComments(r.position);
  } catch (err) { panel.board.ctx.flash(plainWords(err)); }
}

async function deleteComment(c) {
  if (!panel) return;
  try {
    const r = await panel.board.ctx.api.request('DELETE', `/tasks/${panel.taskId}/comments/${c.comment_id}`);
    await loadComments(r.position);
  } catch (err) { panel.board.ctx.flash(plainWords(err)); }
}

/** "My tasks" on the project list: assigned to me, soonest due first; refreshed on task events. */
export function mountMyTasks(ctx) {
  let card = $('#my-tasks-card');
  if (!card) {
    card = h('section', { class: 'card', id: 'my-tasks-card' });
    $('#view-projects').append(card);
  }
  let timer = null;
  const refresh = () => loadMyTasks(ctx, card).catch((e) => ctx.flash(plainWords(e)));
  ctx.client?.on('event', (ev) => {
    if (!ev.type?.startsWith('Task')) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
  refresh();
  return refresh;
}

async function loadMyTasks(ctx, card) {
  const r = await ctx.api.get('/me/tasks?include_done=false&limit=20');
  const items = r.items.map((t) => h('li', { class: t.overdue ? 'overdue' : null, dataset: { task: t.task_id } },
    h('a', { href: `#/projects/${t.project_id}` }, t.title),
    ` · ${ctx.projects?.get(t.project_id)?.name ?? 'a project'}`,
    t.due_at ? h('span', { class: `due${t.overdue ? ' overdue' : ''}` }, ` · ${t.overdue ? 'overdue' : 'due'} ${when(t.due_at)}`) : null));
  card.replaceChildren(h('h2', {}, 'My tasks'),
    items.length ? h('ul', { id: 'my-tasks' }, items) : h('p', { class: 'muted', id: 'my-tasks' }, 'Nothing assigned to you.'));
}
