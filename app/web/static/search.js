// The search box in the top bar: GET /search as you type (the last word matches as a prefix),
// the best hits in a list under the box, "More" follows next_cursor. Enter or a click opens the
// project's board. It needs only the page's context (window.collabspace: the api with the token)
// and shows itself while someone is logged in (the Log out button is visible).
import { plainWords } from './api.js';
import { $, h, statusWord } from './board.js';

const DEBOUNCE_MS = 150;
const PAGE = 8;
const TASK_WORDS = { todo: 'To do', in_progress: 'In progress', done: 'Done' };

const form = $('#search-form');
const input = $('#search-q');
const list = $('#search-results');
let timer = null;
let asked = 0; // a later question makes the answers to earlier ones stale
let next = null;
let text = '';

function close() {
  list.hidden = true;
  list.replaceChildren();
  next = null;
}

function hit(item) {
  const where = item.kind === 'task' ? `in ${item.project_name}` : 'project';
  return h('li', { role: 'option', class: 'search-hit', dataset: { kind: item.kind, id: item.id } },
    h('a', { href: `#/projects/${item.project_id}`, onclick: close },
      h('span', { class: 'search-title' }, item.title),
      h('span', { class: 'search-where muted' }, ` ${where} · ${TASK_WORDS[item.status] ?? statusWord(item.status)}`)));
}

function more() {
  return h('li', { class: 'search-more' },
    h('button', { type: 'button', class: 'link', onclick: () => ask(text, next) }, 'More results'));
}

async function ask(q, cursor = null) {
  const mine = ++asked;
  const params = new URLSearchParams({ q, limit: String(PAGE) });
  if (cursor) params.set('cursor', cursor);
  let page;
  try {
    page = await window.collabspace.api.get(`/search?${params}`);
  } catch (err) {
    if (mine === asked) list.replaceChildren(h('li', { class: 'search-empty' }, plainWords(err)));
    list.hidden = false;
    return;
  }
  if (mine !== asked) return;
  list.querySelector('.search-more')?.remove();
  if (!cursor) list.replaceChildren();
  list.append(...page.items.map(hit));
  if (!list.children.length) list.append(h('li', { class: 'search-empty muted' }, `Nothing found for “${q}”.`));
  next = page.next_cursor;
  if (next) list.append(more());
  list.hidden = false;
}

input.addEventListener('input', () => {
  clearTimeout(timer);
  text = input.value;
  if (!text.trim()) { asked++; close(); return; }
  timer = setTimeout(() => ask(text), DEBOUNCE_MS);
});
input.addEventListener('keydown', (e) => { if (e.key === 'Escape') { input.value = ''; asked++; close(); } });
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const first = list.querySelector('.search-hit a');
  if (first) { location.hash = first.getAttribute('href'); close(); }
});
document.addEventListener('click', (e) => { if (!form.contains(e.target)) close(); });

// Shown only while someone is logged in: the page shows the Log out button then.
const logout = $('#logout');
const follow = () => {
  form.hidden = logout.hidden;
  if (form.hidden) { input.value = ''; close(); }
};
new MutationObserver(follow).observe(logout, { attributes: true, attributeFilter: ['hidden'] });
follow();
