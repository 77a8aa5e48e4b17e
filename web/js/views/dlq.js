// Admins (dlq:Manage): the dead letters, jobs given up on after their attempts ran out
// (GET /api/dlq), each sent back to the queue with fresh attempts, or all at once
// (POST /api/dlq/redrive).
import { api } from '../api.js';
import { confirmDialog, fmtTime, h, replace, statusBadge } from '../dom.js';

export function dlqView() {
  const ctrl = new AbortController();
  const { signal } = ctrl;
  const body = h('tbody', { id: 'dlq-body' });
  const table = h(
    'table',
    { class: 'jobs', id: 'dlq' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Job', 'Type', 'Status', 'Error', 'Attempts', 'Dead-lettered', ''].map((t) => h('th', null, t)),
      ),
    ),
    body,
  );
  const empty = h('div', { class: 'empty panel', id: 'dlq-empty', hidden: true }, 'No dead letters.');
  const summary = h('p', { class: 'muted', id: 'dlq-summary' });
  const result = h('p', { role: 'status', id: 'dlq-result', class: 'muted' });
  const error = h('p', { class: 'error-box', role: 'alert', id: 'dlq-error' });
  const all = h('button', { type: 'button', id: 'redrive-all', onclick: () => redrive() }, 'Redrive all');
  const el = h(
    'section',
    { id: 'dlq-view' },
    h('div', { class: 'job-head' }, h('h1', null, 'Dead letters'), h('div', { class: 'actions' }, all)),
    h(
      'p',
      { class: 'muted' },
      'Jobs given up on after their attempts ran out. Redriving puts a job back in the queue with fresh attempts.',
    ),
    summary,
    result,
    error,
    h('div', { class: 'table-wrap' }, table),
    empty,
  );

  const cell = (label, ...children) => h('td', { 'data-label': label }, ...children);

  function row(j) {
    return h(
      'tr',
      { 'data-id': j.id },
      cell(
        'Job',
        h('a', { href: `#/jobs/${encodeURIComponent(j.id)}`, class: 'mono', title: j.id }, j.id.slice(0, 8)),
      ),
      cell('Type', j.type),
      cell('Status', statusBadge(j.status)),
      cell('Error', h('span', { class: 'err-text', title: j.error ?? '' }, j.error ?? '—')),
      cell('Attempts', `${j.attempts} of ${j.maxAttempts}`),
      cell('Dead-lettered', fmtTime(j.deadLetteredAt)),
      h(
        'td',
        { class: 'row-actions' },
        h(
          'button',
          { type: 'button', class: 'small', 'data-action': 'redrive', onclick: () => redrive([j.id]) },
          'Redrive',
        ),
      ),
    );
  }

  async function load() {
    try {
      const list = await api('dlq', { query: { limit: 200 }, signal });
      replace(body, list.items.map(row));
      table.hidden = list.items.length === 0;
      empty.hidden = list.items.length > 0;
      all.disabled = list.total === 0 && list.queueDeadLetters === 0;
      summary.textContent =
        `${list.total} dead-lettered job${list.total === 1 ? '' : 's'}` +
        (list.total > list.items.length ? ` (the newest ${list.items.length} shown)` : '') +
        `; ${list.queueDeadLetters} message${list.queueDeadLetters === 1 ? '' : 's'} in the queue's dead letters.`;
    } catch (err) {
      if (!signal.aborted) error.textContent = err.message;
    }
  }

  async function redrive(ids) {
    if (
      !ids &&
      !(await confirmDialog('Send every dead letter back to the queue?', {
        confirm: 'Redrive all',
        cancel: 'Back',
      }))
    )
      return;
    error.textContent = '';
    try {
      const r = await api('dlq/redrive', { method: 'POST', body: ids ? { ids } : {}, signal });
      result.textContent = `Requeued ${r.requeued.length} job${r.requeued.length === 1 ? '' : 's'}.`;
      await load();
    } catch (err) {
      if (!signal.aborted) error.textContent = err.message;
    }
  }

  load();
  return { el, dispose: () => ctrl.abort() };
}
