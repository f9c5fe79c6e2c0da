// Project roles on the board (docs/permissions.md): tenant owners and admins and the project's
// managers make a member a manager, or a plain member again. The change shows at once (the
// optimistic apply of client.mutate, undone if the API refuses) and its
// ProjectMemberRoleChanged event updates every board open on the project, live. Kept apart
// from board.js, which only calls renderRoles.
import { $, h } from './board.js';

/** May the signed-in user change project roles here? The same rule as the API's. */
export function mayManage(board) {
  const me = board.ctx.me;
  return !!me && (['owner', 'admin'].includes(me.role) || board.project.managers.includes(me.id));
}

/** The roles list (`#member-roles`): one row per member, with its control; hidden otherwise. */
export function renderRoles(board) {
  const list = $('#member-roles');
  if (!list) return;
  const p = board.project;
  if (!mayManage(board)) {
    list.hidden = true;
    list.replaceChildren();
    return;
  }
  list.hidden = false;
  list.replaceChildren(...p.members.map((m) => {
    const manager = p.managers.includes(m);
    // The API refuses to demote the last manager (409 last_project_manager): say so up front.
    const last = manager && p.managers.length === 1;
    return h('li', { dataset: { member: m, role: manager ? 'manager' : 'member' } },
      h('span', { class: 'member-name' }, board.ctx.userName(m)),
      h('span', { class: 'member-role muted' }, manager ? 'manager' : 'member'),
      h('button', {
        type: 'button',
        class: 'secondary role-toggle',
        disabled: last,
        title: last ? 'A project keeps at least one manager: make someone else a manager first' : null,
        onclick: () => setRole(board, m, manager ? 'member' : 'manager'),
      }, manager ? 'Revoke manager' : 'Make manager'));
  }));
}

/** PUT /projects/{id}/members/{user} with the new role, shown before the answer. */
export function setRole(board, userId, role) {
  const p = board.project;
  return board.run(({ correlation }) => board.ctx.api.setMemberRole(board.id, userId, role, { correlation }), () => {
    const before = p.managers;
    p.managers = p.managers.filter((m) => m !== userId).concat(role === 'manager' ? [userId] : []);
    board.render();
    return () => { p.managers = before; board.render(); };
  });
}
