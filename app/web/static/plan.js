// The tenant's plan on the project list (issue 16): its limits, what is in use, and for the
// owner a way to change it. Kept apart from app.js, which only calls mountPlan(ctx) once.
import { plainWords } from './api.js';
import { $, h } from './board.js';

const PLAN_EVENTS = new Set(['TenantPlanChanged', 'TenantProjectAdded', 'TenantProjectReleased']);

export function mountPlan(ctx) {
  let card = $('#plan-card');
  if (!card) {
    card = h('section', { class: 'card', id: 'plan-card' });
    $('#view-projects').append(card);
  }
  const refresh = () => loadPlan(ctx, card).catch((e) => ctx.flash(plainWords(e)));
  // The tenant channel carries the plan's events (owners and admins subscribe to it).
  ctx.client?.on('event', (ev) => { if (PLAN_EVENTS.has(ev.type)) refresh(); });
  refresh();
  return refresh;
}

async function loadPlan(ctx, card) {
  const plan = await ctx.api.get('/tenant/plan');
  const num = (n) => Number(n).toLocaleString('en');
  const limit = (n) => (n == null ? 'no limit' : num(n));
  const rows = [
    h('p', {}, 'Plan: ', h('strong', { id: 'plan-name' }, plan.plan)),
    h('p', { class: 'muted', id: 'plan-usage' },
      `${plan.projects_in_use} of ${limit(plan.project_limit)} projects in use · `,
      `${plan.members_in_use} of ${limit(plan.member_limit)} people`),
  ];
  if (plan.can_change) {
    const select = h('select', { name: 'plan', id: 'plan-select' },
      plan.plans.map((p) => h('option', { value: p.name, selected: p.name === plan.plan },
        `${p.name} (${num(p.project_limit)} projects, ${num(p.member_limit)} people)`)));
    const form = h('form', { id: 'plan-form' }, h('label', {}, 'Change plan ', select),
      h('button', { type: 'submit' }, 'Change'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await ctx.api.request('PUT', '/tenant/plan', { body: { plan: select.value }, ifMatch: plan.version });
        ctx.flash(`The plan is now ${select.value}.`, 'info');
        await loadPlan(ctx, card);
      } catch (err) { ctx.flash(plainWords(err)); }
    });
    rows.push(form);
  }
  card.replaceChildren(h('h2', {}, 'Plan'), ...rows);
}
