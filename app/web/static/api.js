// The REST side of the client library: a small fetch wrapper that turns problem+json into
// ApiError, and the ADAPTERS: every read endpoint name and response shape the page depends on
// lives here, normalised into one shape, so a renamed endpoint is a one-line change.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code ?? null;
    this.field = problem?.field ?? null;
    this.problem = problem ?? {};
  }
}

const FRIENDLY = {
  bad_credentials: 'That e-mail and password do not match an account.',
  too_many_attempts: 'Too many login attempts. Wait a moment and try again.',
  email_taken: 'An account with that e-mail already exists.',
  project_limit_reached: "You've reached your plan's project limit. Archive a project or upgrade the plan to create more.",
  limit_reached: "You've reached a limit of your plan.",
  invalid_status_transition: 'A project cannot move to that status from where it is now.',
  budget_rule: 'Spending can never exceed the budget, and the budget can never be negative or below what has been spent.',
  project_archived: 'This project is archived and can no longer be changed.',
  project_closed: 'Tasks cannot change while the project is not active.',
  task_archived: 'This task is archived and can no longer be changed.',
  comment_not_yours: 'Only the author of a comment can change or delete it.',
  invalid_task_move: 'A task cannot move there from its current column.',
  assignee_not_member: 'Only members of the project can be assigned to its tasks.',
  membership_rule: 'That membership change is not allowed.',
  last_project_manager: 'A project keeps at least one manager: make someone else a manager first.',
  version_conflict: 'Someone else changed this at the same time. The page now shows the latest version; try again.',
  concurrent_modification: 'Someone else changed this at the same time. The page now shows the latest version; try again.',
  project_forbidden: 'You are not allowed to do that in this project.',
  not_allowed: 'Your role does not allow that.',
  forbidden: 'Your role does not allow that.',
};

/** A sentence a person can act on, for any API error. */
export function plainWords(err) {
  if (!(err instanceof ApiError)) return `Cannot reach the server (${err?.message ?? err}). Check the connection and try again.`;
  if (FRIENDLY[err.code]) return FRIENDLY[err.code];
  if (err.status === 422 || err.status === 400) {
    const field = err.field ? `${String(err.field).replace(/_/g, ' ')}: ` : '';
    return `Please check the form. ${field}${err.message}`;
  }
  if (err.status === 409) return `That conflicts with the current state: ${err.message}`;
  if (err.status === 401) return 'Your session has ended. Please log in again.';
  if (err.status === 403) return `Not allowed: ${err.message}`;
  if (err.status === 404) return 'That no longer exists, or you no longer have access to it.';
  if (err.status === 429) return 'Too many requests. Wait a moment and try again.';
  if (err.status >= 500) return 'The server had a problem. Try again in a moment.';
  return err.message;
}

export class Api {
  constructor({ base = '', fetch: f = globalThis.fetch.bind(globalThis), token = null } = {}) {
    this.base = base;
    this.fetch = f;
    this.token = token;
    this.onUnauthorized = null;
  }

  async request(method, path, { body, correlation, ifMatch, allow404 = false } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (correlation) headers['X-Request-Id'] = correlation;
    if (ifMatch != null) headers['If-Match'] = `"${ifMatch}"`;
    const res = await this.fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (res.ok) return data;
    if (allow404 && (res.status === 404 || res.status === 405)) return undefined;
    const err = new ApiError(res.status, data);
    if (res.status === 401 && this.token && this.onUnauthorized) this.onUnauthorized(err);
    throw err;
  }

  get(path, opts) { return this.request('GET', path, opts); }
  post(path, body, opts = {}) { return this.request('POST', path, { ...opts, body }); }

  // ---- auth and realtime
  signup(b) { return this.post('/auth/signup', b); }
  login(b) { return this.post('/auth/login', b); }
  me() { return this.get('/me'); }
  users() { return this.get('/users').then((r) => r.items ?? r); }
  inviteUser(b) { return this.post('/users', b); }

  /** {ticket, url}: a realtime ticket; url defaults to this origin's /ws. */
  async realtimeTicket() {
    const r = await this.post('/auth/realtime-ticket', {});
    return { ticket: r.ticket, url: gatewayUrl(r.url, this.base) };
  }

  // ---- commands (all answer {id, version, position})
  createProject(b, o) { return this.post('/projects', b, o); }
  updateProject(id, b, o) { return this.request('PATCH', `/projects/${id}`, { ...o, body: b }); }
  changeStatus(id, status, o) { return this.post(`/projects/${id}/status`, { status }, o); }
  setBudget(id, budget_cents, o) { return this.request('PUT', `/projects/${id}/budget`, { ...o, body: { budget_cents } }); }
  recordSpend(id, amount_cents, note, o) { return this.post(`/projects/${id}/spend`, { amount_cents, note }, o); }
  addMember(id, user_id, o) { return this.post(`/projects/${id}/members`, { user_id }, o); }
  setMemberRole(id, user_id, role, o) { return this.request('PUT', `/projects/${id}/members/${user_id}`, { ...o, body: { role } }); }
  createTask(projectId, b, o) { return this.post(`/projects/${projectId}/tasks`, b, o); }
  editTask(id, b, o) { return this.request('PATCH', `/tasks/${id}`, { ...o, body: b }); }
  assignTask(id, assignee_id, o) { return this.request('PUT', `/tasks/${id}/assignee`, { ...o, body: { assignee_id } }); }
  moveTask(id, status, o) { return this.post(`/tasks/${id}/move`, { status }, o); }
  archiveTask(id, o) { return this.post(`/tasks/${id}/archive`, {}, o); }
  project(id) { return this.get(`/projects/${id}`); }
  task(id) { return this.get(`/tasks/${id}`); }

  // ---- read side (ADAPTERS). Each answers a normalised shape and the position it reflects.

  /** {items: [project], position}; null when the server has no project list yet. */
  async projectList() {
    const r = await this.get('/projects', { allow404: true });
    if (r === undefined) return null;
    const items = (r.items ?? r.projects ?? r).map(normProject);
    return { items, position: asOf(r) };
  }

  /**
   * Everything the board shows: {project, tasks, activity, position}. Uses the read side's
   * board + dashboard + activity when they exist, else the aggregate and the tasks it knows.
   */
  async boardState(projectId, knownTaskIds = [], minPosition = null) {
    // ?min_position=: the read models first catch up with what the stream already delivered.
    const q = minPosition ? `?min_position=${minPosition}` : '';
    const [board, dash, feed] = await Promise.all([
      this.get(`/projects/${projectId}/board${q}`, { allow404: true }),
      this.get(`/projects/${projectId}/dashboard${q}`, { allow404: true }),
      this.get(`/projects/${projectId}/activity${q}`, { allow404: true }),
    ]);
    const aggregate = await this.project(projectId);
    const project = normProject({ ...aggregate, ...(dash?.project ?? {}), ...pickFigures(dash) });
    let tasks;
    if (board) tasks = boardTasks(board);
    else {
      const got = await Promise.all(knownTaskIds.map((id) => this.task(id).catch(() => null)));
      tasks = got.filter((t) => t && !t.archived).map(normTask);
    }
    const activity = (feed?.items ?? feed?.activity ?? dash?.recent_activity ?? dash?.activity ?? []).map(normActivity);
    const positions = [board, dash, feed].map(asOf).filter((p) => p != null);
    // The state is only as fresh as its stalest part.
    const position = positions.length === 3 || (positions.length && board) ? Math.min(...positions) : null;
    return { project, tasks, activity, position, readSide: !!board };
  }
}

function gatewayUrl(url, base) {
  const origin = base || (typeof location !== 'undefined' ? location.origin : 'http://localhost');
  const http = new URL(url || '/ws', origin);
  if (http.protocol === 'http:') http.protocol = 'ws:';
  if (http.protocol === 'https:') http.protocol = 'wss:';
  return http.toString();
}

function asOf(r) {
  if (!r || typeof r !== 'object') return null;
  return r.as_of_position ?? r.position ?? null;
}

function pickFigures(d) {
  if (!d) return {};
  const out = {};
  for (const k of ['completion_pct', 'completion', 'budget_cents', 'actual_spend_cents', 'spend_cents', 'task_counts', 'counts', 'status', 'name']) {
    if (d[k] !== undefined) out[k] = d[k];
  }
  return out;
}

export function normProject(p) {
  return {
    id: p.id ?? p.project_id,
    name: p.name ?? '',
    description: p.description ?? '',
    status: p.status ?? 'active',
    budget_cents: p.budget_cents ?? 0,
    actual_spend_cents: p.actual_spend_cents ?? p.spend_cents ?? 0,
    members: p.members ?? [],
    managers: p.managers ?? [],
    version: p.version ?? null,
    completion_pct: p.completion_pct ?? p.completion ?? null,
    task_counts: p.task_counts ?? p.counts ?? null,
  };
}

export function normTask(t) {
  return {
    id: t.id ?? t.task_id,
    project_id: t.project_id,
    title: t.title ?? '',
    description: t.description ?? '',
    status: t.status ?? 'todo',
    // The board read model's cards carry {assignee: {user_id, name}}; the aggregate assignee_id.
    assignee_id: t.assignee_id ?? t.assignee?.user_id ?? null,
    assignee_name: t.assignee_name ?? t.assignee?.name ?? null,
    version: t.version ?? null,
    due_at: t.due_at ?? null,
    priority: t.priority ?? 'normal',
    comment_count: t.comment_count ?? 0,
  };
}

function boardTasks(board) {
  if (Array.isArray(board.tasks)) return board.tasks.map(normTask);
  const cols = board.columns ?? board;
  const out = [];
  for (const [status, list] of Object.entries(cols)) {
    if (!Array.isArray(list)) continue;
    for (const t of list) out.push(normTask({ status, ...t }));
  }
  return out;
}

function normActivity(a) {
  return { position: a.position ?? null, type: a.type ?? a.event_type ?? '', time: a.time ?? a.at ?? '', text: a.summary ?? a.text ?? a.description ?? '', user: a.user_name ?? a.actor_name ?? a.user ?? null, data: a.data ?? {} };
}
