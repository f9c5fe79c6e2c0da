// The live board page: sign-up/log-in, the project list, a project's board, all live.
import { Api, ApiError, plainWords, normProject } from './api.js';
import { CollabClient } from './client.js';
import { $, Board, COLUMNS, h, statusWord } from './board.js';
import { mountPlan } from './plan.js';
import { Notifications } from './notifications.js';
import { AnalyticsChart } from './analytics.js';
import { mountMyTasks } from './taskfields.js';

const api = new Api();
const ctx = {
  api, client: null, me: null, users: new Map(), board: null, projects: new Map(),
  flash, userName, editTask, refetch: (channel) => refetch(channel),
};
window.collabspace = ctx; // handy in the console and for the end-to-end tests

// ---- messages ------------------------------------------------------------------------------
let flashTimer = null;
function flash(message, kind = 'error') {
  const el = $('#flash');
  el.textContent = message;
  el.className = `flash ${kind}`;
  el.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

function userName(id) {
  if (!id) return 'nobody';
  return ctx.users.get(id)?.name ?? (id === ctx.me?.id ? ctx.me.name : `user ${String(id).slice(0, 8)}`);
}

// ---- session -------------------------------------------------------------------------------
function saveToken(token) {
  api.token = token;
  if (token) sessionStorage.setItem('cs.token', token); else sessionStorage.removeItem('cs.token');
}

async function startSession(token) {
  saveToken(token);
  ctx.me = await api.me();
  await loadUsers();
  $('#whoami').textContent = `${ctx.me.name} (${ctx.me.role})`;
  $('#logout').hidden = false;
  $('#people-card').hidden = !isAdmin();
  ctx.client = new CollabClient({ getTicket: () => api.realtimeTicket().catch(ticketError) });
  ctx.client.on('state', (state) => {
    const el = $('#conn');
    el.dataset.state = state;
    el.textContent = { connected: 'live', reconnecting: 'reconnecting…', resyncing: 'resyncing…', connecting: 'connecting…', closed: 'offline' }[state] ?? state;
  });
  ctx.client.on('event', onEvent);
  ctx.client.on('presence', () => ctx.board?.renderPresence());
  ctx.client.on('message', onMessage);
  ctx.client.on('unsubscribed', (f) => {
    if (ctx.board && f.channel === ctx.board.channel) { flash('You no longer have access to this project.'); location.hash = '#/'; }
  });
  ctx.client.on('closed', ({ reason }) => {
    if (!ctx.noRealtime) flash(`Live updates stopped: ${reason}. Reload the page to try again.`);
  });
  ctx.client.connect();
  ctx.notifications = new Notifications(ctx);
  ctx.notifications.start();
  if (isAdmin()) ctx.client.subscribe('tenant', { onResync: () => refreshProjects() });
  mountPlan(ctx);
  mountMyTasks(ctx);
  await route();
}

function ticketError(err) {
  // A 401 means the access token ended: no ticket will come until the person logs in again.
  if (err instanceof ApiError && err.status === 401) err.fatal = true;
  // No ticket endpoint on this server: it has no live updates; the page still works over REST.
  if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
    err.fatal = true;
    err.message = 'this server offers no live updates';
    ctx.noRealtime = true;
  }
  throw err;
}

api.onUnauthorized = () => {
  logout();
  flash('Your session has ended. Please log in again.');
};

function logout() {
  ctx.notifications?.stop();
  ctx.notifications = null;
  ctx.client?.close();
  ctx.client = null;
  ctx.me = null;
  ctx.board = null;
  saveToken(null);
  $('#logout').hidden = true;
  $('#whoami').textContent = '';
  show('auth');
}

const isAdmin = () => ['owner', 'admin'].includes(ctx.me?.role);

async function loadUsers() {
  try {
    const users = await api.users();
    ctx.users = new Map(users.map((u) => [u.id, u]));
  } catch { ctx.users = new Map([[ctx.me.id, ctx.me]]); }
  $('#people').replaceChildren(...[...ctx.users.values()].map((u) => h('li', {}, `${u.name} — ${u.email} (${u.role})`)));
}

// ---- routing -------------------------------------------------------------------------------
function show(view) {
  for (const v of ['auth', 'projects', 'board']) $(`#view-${v}`).hidden = v !== view;
}

async function route() {
  if (!ctx.me) return show('auth');
  const m = location.hash.match(/^#\/projects\/([0-9a-f-]{36})/i);
  if (m) return openBoard(m[1].toLowerCase());
  closeBoard();
  show('projects');
  await refreshProjects();
}
window.addEventListener('hashchange', () => route().catch((e) => flash(plainWords(e))));

// ---- project list --------------------------------------------------------------------------
function knownProjects() {
  try { return JSON.parse(localStorage.getItem(`cs.projects.${ctx.me.tenant_id}`) ?? '[]'); } catch { return []; }
}
function rememberProject(id) {
  const ids = new Set(knownProjects());
  ids.add(id);
  localStorage.setItem(`cs.projects.${ctx.me.tenant_id}`, JSON.stringify([...ids]));
}

async function refreshProjects() {
  let list = await api.projectList();
  if (list === null) {
    // No project list on this server yet: show the projects this browser has seen.
    const got = await Promise.all(knownProjects().map((id) => api.project(id).catch(() => null)));
    list = { items: got.filter(Boolean).map(normProject), position: null };
  }
  ctx.projects = new Map(list.items.map((p) => [p.id, p]));
  renderProjects();
  if (!isAdmin()) for (const p of list.items) ctx.client?.subscribe(`project:${p.id}`, { onResync: ({ channel, position }) => refetch(channel, position) });
  return list.position;
}

function renderProjects() {
  const rows = [...ctx.projects.values()].map((p) => {
    const pct = p.completion_pct ?? null;
    return h('tr', { dataset: { project: p.id } },
      h('td', {}, h('a', { href: `#/projects/${p.id}` }, p.name)),
      h('td', {}, h('span', { class: 'badge', dataset: { status: p.status } }, statusWord(p.status))),
      h('td', {}, pct == null ? '—' : [h('span', { class: 'progress' }, h('span', { style: `width:${pct}%` })), `${Math.round(pct)}%`]));
  });
  $('#project-rows').replaceChildren(...rows);
  $('#project-empty').hidden = rows.length > 0;
}

let listTimer = null;
function refreshProjectsSoon() {
  clearTimeout(listTimer);
  listTimer = setTimeout(() => refreshProjects().catch(() => {}), 300);
}

// ---- board ---------------------------------------------------------------------------------
async function openBoard(id) {
  if (ctx.board?.id === id) return show('board');
  closeBoard();
  const board = new Board(ctx, id);
  ctx.board = board;
  show('board');
  rememberProject(id);
  let position;
  try {
    position = await board.load();
  } catch (err) {
    flash(plainWords(err));
    location.hash = '#/';
    return;
  }
  ctx.client.subscribe(board.channel, { since: position, onResync: ({ channel, position }) => refetch(channel, position) });
  ctx.analytics = new AnalyticsChart(ctx, id);
  ctx.analytics.load(position);
}

function closeBoard() {
  if (!ctx.board) return;
  const { channel } = ctx.board;
  ctx.board = null;
  ctx.analytics?.stop();
  ctx.analytics = null;
  // Members keep project channels for the list; admins follow everything through `tenant`.
  if (isAdmin() || !ctx.projects.has(channel.slice('project:'.length))) ctx.client?.unsubscribe(channel);
}

/** The resync callback: refetch what the channel feeds, answer the position it reflects. */
async function refetch(channel, position = null) {
  if (ctx.board && channel === ctx.board.channel) return ctx.board.load(position);
  return refreshProjects();
}

function onEvent(ev) {
  if (ev.channel?.startsWith('notifications:')) return; // the bell's own (notifications.js)
  if (ctx.board && ev.project === ctx.board.id) ctx.board.apply(ev);
  ctx.analytics?.onEvent(ev);
  if (!ctx.board || ev.type.startsWith('Project') || ev.type === 'TaskMoved') refreshProjectsSoon();
  if (ev.type === 'UserInvited' || ev.type === 'UserRoleChanged') loadUsers();
}

function onMessage(frame) {
  // Ephemeral broadcasts (issue 6): {type: 'broadcast', channel, user, data: {kind: 'typing', task}}
  const data = frame.data ?? {};
  if (data.kind === 'typing' && ctx.board && frame.channel === ctx.board.channel) ctx.board.onTyping(frame.user ?? data.user, data.task);
}

// ---- task dialog ---------------------------------------------------------------------------
function editTask(task) {
  const dialog = $('#task-dialog');
  const form = $('#task-edit-form');
  form.title.value = task.title;
  form.description.value = task.description;
  ctx.board.editing = task.id;
  dialog.returnValue = '';
  dialog.showModal();
  let last = 0;
  form.oninput = () => {
    if (Date.now() - last < 2000) return;
    last = Date.now();
    ctx.client.broadcast(ctx.board.channel, { kind: 'typing', task: task.id, user: ctx.me.id });
  };
  dialog.onclose = async () => {
    const board = ctx.board;
    if (!board) return;
    board.editing = null;
    const t = board.tasks.get(task.id);
    if (!t) return;
    if (dialog.returnValue === 'save') {
      const title = form.title.value;
      const description = form.description.value;
      await board.run(({ correlation }) => api.editTask(t.id, { title, description }, { correlation, ifMatch: t.version }), () => {
        const before = { title: t.title, description: t.description };
        Object.assign(t, { title, description });
        board.render();
        return () => { Object.assign(t, before); board.render(); };
      });
    } else if (dialog.returnValue === 'archive') {
      await board.run(({ correlation }) => api.archiveTask(t.id, { correlation }));
    }
  };
}

// ---- forms ---------------------------------------------------------------------------------
function onSubmit(selector, handler) {
  $(selector).addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    const button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    try {
      await handler(Object.fromEntries(new FormData(form)), form);
    } catch (err) {
      flash(plainWords(err));
    } finally {
      if (button) button.disabled = false;
    }
  });
}

const cents = (v) => Math.round(Number(v || 0) * 100);

onSubmit('#login-form', async (b) => { const r = await api.login(b); await startSession(r.access_token); });
onSubmit('#signup-form', async (b) => { const r = await api.signup(b); await startSession(r.access_token); });
onSubmit('#project-form', async (b, form) => {
  const r = await api.createProject({ name: b.name, description: b.description, budget_cents: cents(b.budget) });
  form.reset();
  rememberProject(r.id);
  location.hash = `#/projects/${r.id}`;
});
onSubmit('#invite-form', async (b, form) => {
  await api.inviteUser(b);
  form.reset();
  await loadUsers();
  flash(`${b.name} can now log in with ${b.email}.`, 'info');
});
onSubmit('#task-form', async (b, form) => {
  const board = ctx.board;
  const r = await board.run(async ({ correlation }) => {
    const created = await api.createTask(board.id, { title: b.title, description: '', assignee_id: b.assignee_id || null }, { correlation });
    if (form.title.value === b.title) form.title.value = ''; // accepted: ready for the next one
    await board.adopt(created.id).catch(() => {});
    return created;
  });
});
onSubmit('#edit-project-form', async (b) => {
  const board = ctx.board;
  await board.run(({ correlation }) => api.updateProject(board.id, { name: b.name, description: b.description }, { correlation, ifMatch: board.project.version }));
});
onSubmit('#budget-form', async (b) => {
  const board = ctx.board;
  await board.run(({ correlation }) => api.setBudget(board.id, cents(b.budget), { correlation }));
});
onSubmit('#spend-form', async (b, form) => {
  const board = ctx.board;
  await board.run(async ({ correlation }) => {
    const r = await api.recordSpend(board.id, cents(b.amount), '', { correlation });
    form.reset();
    return r;
  });
});
onSubmit('#member-form', async (b) => {
  const board = ctx.board;
  if (!b.user_id) return;
  await board.run(({ correlation }) => api.addMember(board.id, b.user_id, { correlation }));
});
$('#logout').addEventListener('click', logout);

// Keep the project form fields in sync with the board when it opens.
const observer = new MutationObserver(() => {
  const p = ctx.board?.project;
  const form = $('#edit-project-form');
  if (p && !form.contains(document.activeElement)) { form.name.value = p.name; form.description.value = p.description; }
  const budget = $('#budget-form');
  if (p && !budget.contains(document.activeElement)) budget.budget.value = (p.budget_cents / 100).toFixed(2);
});
observer.observe($('#board-name'), { childList: true, characterData: true, subtree: true });

// Drag and drop between columns (the arrow buttons do the same).
for (const col of document.querySelectorAll('.column')) {
  col.addEventListener('dragover', (e) => { e.preventDefault(); col.classList.add('drop'); });
  col.addEventListener('dragleave', () => col.classList.remove('drop'));
  col.addEventListener('drop', (e) => {
    e.preventDefault();
    col.classList.remove('drop');
    const id = e.dataTransfer.getData('text/plain');
    if (id && COLUMNS.includes(col.dataset.status)) ctx.board?.moveTask(id, col.dataset.status);
  });
}

// ---- start ---------------------------------------------------------------------------------
const saved = sessionStorage.getItem('cs.token');
if (saved) startSession(saved).catch(() => { saveToken(null); show('auth'); });
else show('auth');
