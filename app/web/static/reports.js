// CSV downloads: "Download CSV" beside the project list's title and the board's name. The
// reports need the bearer token, which a plain link cannot send, so the file is fetched and
// handed to the browser as a download. Needs only window.collabspace (the api with the token).
import { plainWords, ApiError } from './api.js';
import { $, h } from './board.js';

async function download(path, filename) {
  const { api, flash } = window.collabspace;
  try {
    const res = await fetch(path, { headers: { Authorization: `Bearer ${api.token}` } });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
    const url = URL.createObjectURL(await res.blob());
    const link = h('a', { href: url, download: filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    flash(plainWords(err));
  }
}

function button(id, onclick) {
  return h('button', { id, type: 'button', class: 'secondary csv', onclick }, 'Download CSV');
}

$('#view-projects h2').after(button('projects-csv', () => download('/reports/projects.csv', 'projects.csv')));
$('#board-description').after(button('tasks-csv', () => {
  const id = window.collabspace.board?.id;
  if (id) download(`/projects/${id}/reports/tasks.csv`, 'tasks.csv');
}));
