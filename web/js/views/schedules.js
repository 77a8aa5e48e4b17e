// The schedules list (#/schedules): the caller's cron schedules (every user's for admins with
// job:ReadAll), their next and last runs and last error, with pause/resume. Read from
// GET /api/schedules; pause and resume are PATCH /api/schedules/:id {paused}.
import { api } from '../api.js';
import { fmtTime, h, replace } from '../dom.js';

export function schedulesView(params, { me }) {
  const ctrl = new AbortController();
  const all = me.permissions.includes('job:ReadAll') && params.get('all') === '1';
  const error = h('p', { class: 'error-box', role: 'alert', id: 'schedules-error' });
  const body = h('tbody', { id: 'schedules-body' });
  const table = h(
    'table',
    { class: 'jobs', id: 'schedules' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        [
          'Name',
          'Cron',
          'Time zone',
          'Type',
          'State',
          'Next run',
          'Last run',
          'Last job',
          'Last error',
          '',
        ].map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    body,
  );
  const empty = h(
    'p',
    { class: 'muted', id: 'schedules-empty', hidden: true },
    'No schedules. ',
    h('code', null, 'jobs schedules create --cron "*/5 * * * *" --type T'),
    ' makes one.',
  );

  const row = (s) => {
    const toggle = h(
      'button',
      {
        type: 'button',
        class: 'link',
        'data-action': s.paused ? 'resume' : 'pause',
        onclick: async () => {
          toggle.disabled = true;
          error.textContent = '';
          try {
            const changed = await api(`schedules/${encodeURIComponent(s.id)}`, {
              method: 'PATCH',
              body: { paused: !s.paused },
              signal: ctrl.signal,
            });
            tr.replaceWith(row(changed));
          } catch (err) {
            if (err.name !== 'AbortError') error.textContent = err.message;
            toggle.disabled = false;
          }
        },
      },
      s.paused ? 'Resume' : 'Pause',
    );
    const tr = h(
      'tr',
      { dataset: { id: s.id } },
      h('td', null, s.name ?? ''),
      h('td', null, h('code', null, s.cron)),
      h('td', null, s.timezone),
      h('td', null, s.type),
      h('td', null, s.paused ? 'paused' : 'active'),
      h('td', null, fmtTime(s.nextRunAt)),
      h('td', null, fmtTime(s.lastRunAt)),
      h(
        'td',
        null,
        s.lastJobId
          ? h('a', { href: `#/jobs/${encodeURIComponent(s.lastJobId)}` }, s.lastJobId.slice(0, 8))
          : '',
      ),
      h('td', { class: 'error' }, s.lastError ?? ''),
      h('td', null, toggle),
    );
    return tr;
  };

  api('schedules', { query: { all: all ? 'true' : undefined, limit: 1000 }, signal: ctrl.signal })
    .then(({ items }) => {
      replace(body, items.map(row));
      empty.hidden = items.length > 0;
    })
    .catch((err) => {
      if (err.name !== 'AbortError') error.textContent = err.message;
    });

  const el = h('section', { class: 'panel' }, h('h1', null, 'Schedules'), error, table, empty);
  return { el, dispose: () => ctrl.abort() };
}
