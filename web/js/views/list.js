// The jobs list: counts per status and the last hour at a glance (GET /api/stats), status and
// type filters, search by id, an "all jobs" toggle for admins, newest first, updated live from
// the list's event stream (GET /api/jobs with Accept: text/event-stream); retry and cancel per
// row, for the selected rows, or "retry all failed" of the filter (POST /api/jobs/bulk). Below
// 600 px the rows are cards (style.css).
import { api, apiStream, ownerNames } from '../api.js';
import {
  confirmDialog,
  fmtBytes,
  fmtTime,
  h,
  jobDuration,
  ownerLabel,
  progressOf,
  progressText,
  replace,
  statusBadge,
} from '../dom.js';
import { bulkBar, statsPanel } from './list-tools.js';

const STATUSES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
const PAGE = 50;

export function listView(params, { me }) {
  const ctrl = new AbortController();
  const filter = {
    status: STATUSES.includes(params.get('status')) ? params.get('status') : '',
    type: params.get('type') ?? '',
    all: canReadAll(me) && params.get('all') === '1',
    id: (params.get('id') ?? '').trim(),
  };
  /** User id → name (owners by name), once known. */
  let names = new Map([[me.userId, me.name]]);
  /** Ids of the rows ticked for a bulk action. */
  const selected = new Set();
  /** id → job, and the order shown (newest first). */
  const jobs = new Map();
  let nextCursor = null;

  const setFilter = (patch) => {
    const f = { ...filter, ...patch };
    const q = new URLSearchParams();
    if (f.status) q.set('status', f.status);
    if (f.type) q.set('type', f.type);
    if (f.all) q.set('all', '1');
    if (f.id) q.set('id', f.id);
    const s = q.toString();
    location.hash = s ? `#/?${s}` : '#/';
  };

  const statusButtons = h(
    'div',
    { class: 'filters', role: 'group', 'aria-label': 'Status' },
    ['', ...STATUSES].map((s) =>
      h(
        'button',
        {
          type: 'button',
          'aria-pressed': String(filter.status === s),
          'data-filter': s || 'ALL',
          onclick: () => setFilter({ status: s }),
        },
        s ? s.charAt(0) + s.slice(1).toLowerCase() : 'All',
        ' ',
        h('span', { class: 'count', 'data-count': s || 'ALL' }),
      ),
    ),
  );
  const typeSelect = h(
    'select',
    { id: 'type-filter', 'aria-label': 'Type', onchange: (e) => setFilter({ type: e.target.value }) },
    h('option', { value: '' }, 'All types'),
  );
  if (filter.type) typeSelect.append(h('option', { value: filter.type, selected: true }, filter.type));
  api('job-types', { signal: ctrl.signal })
    .then((types) => {
      for (const t of types) {
        if (t.type !== filter.type) typeSelect.append(h('option', { value: t.type }, t.type));
      }
    })
    .catch(() => {});
  const allToggle = canReadAll(me)
    ? h(
        'label',
        { class: 'check' },
        h('input', {
          type: 'checkbox',
          id: 'all-jobs',
          checked: filter.all,
          onchange: (e) => setFilter({ all: e.target.checked }),
        }),
        'All jobs (every user)',
      )
    : null;
  const idSearch = h(
    'form',
    {
      class: 'search',
      role: 'search',
      onsubmit: (e) => {
        e.preventDefault();
        setFilter({ id: idInput.value.trim() });
      },
    },
    h('input', {
      type: 'search',
      id: 'id-search',
      'aria-label': 'Search by job id',
      placeholder: 'Job id…',
      value: filter.id,
      spellcheck: 'false',
      autocomplete: 'off',
    }),
  );
  const idInput = idSearch.firstChild;
  /** Jobs per status (GET /api/stats) in the filter buttons; "All" has their sum. */
  function showCounts(counts) {
    const total = Object.values(counts).reduce((n, c) => n + c, 0);
    for (const span of statusButtons.querySelectorAll('[data-count]')) {
      const n = span.dataset.count === 'ALL' ? total : (counts[span.dataset.count] ?? 0);
      span.textContent = String(n);
    }
    bulk.setFailedCount(counts.FAILED ?? 0);
  }
  const live = h('span', { class: 'live', id: 'live', 'data-state': 'connecting' }, 'connecting…');
  const stats = statsPanel({ onCounts: showCounts });
  const bulk = bulkBar({ filter, selected, onDone: () => snapshot().catch(() => {}) });
  const selectAll = h('input', {
    type: 'checkbox',
    id: 'select-all',
    'aria-label': 'Select every job shown',
    onchange: (e) => {
      for (const id of jobs.keys()) {
        if (e.target.checked) selected.add(id);
        else selected.delete(id);
      }
      render();
    },
  });
  const body = h('tbody', { id: 'jobs-body' });
  const table = h(
    'table',
    { class: 'jobs', id: 'jobs' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', { class: 'pick' }, selectAll),
        h('th', null, 'Job'),
        h('th', null, 'Type'),
        h('th', null, 'Status'),
        h('th', null, 'Progress'),
        h('th', null, 'Duration'),
        h('th', null, 'Error'),
        h('th', null, 'Input'),
        filter.all ? h('th', null, 'Owner') : null,
        h('th', null, 'Created'),
        h('th', null, h('span', { class: 'visually-hidden' }, 'Actions')),
      ),
    ),
    body,
  );
  const empty = h('div', { class: 'empty panel', id: 'jobs-empty', hidden: true }, 'No jobs here yet.');
  const more = h('button', { type: 'button', onclick: loadMore }, 'Load more');
  const moreRow = h('div', { class: 'more', hidden: true }, more);
  const error = h('p', { class: 'error-box', role: 'alert' });

  const el = h(
    'section',
    { id: 'list-view' },
    h(
      'div',
      { class: 'job-head' },
      h('h1', null, filter.all ? 'All jobs' : 'Your jobs'),
      h('div', { class: 'actions' }, h('a', { href: '#/new', class: 'button primary' }, 'New job')),
    ),
    stats.el,
    h('div', { class: 'toolbar' }, statusButtons, typeSelect, idSearch, allToggle, live),
    bulk.el,
    error,
    h('div', { class: 'table-wrap' }, table),
    empty,
    moreRow,
  );

  const matches = (job) =>
    (!filter.status || job.status === filter.status) &&
    (!filter.type || job.type === filter.type) &&
    (filter.all || job.ownerId === me.userId) &&
    (!filter.id || job.id.replaceAll('-', '').startsWith(filter.id.replaceAll('-', '').toLowerCase()));

  /** A cell, labelled for the card layout (style.css shows data-label before it below 600 px). */
  const cell = (label, props, ...children) => h('td', { ...props, 'data-label': label }, ...children);

  function row(job) {
    const link = h('a', { href: `#/jobs/${encodeURIComponent(job.id)}`, class: 'mono' }, job.id.slice(0, 8));
    link.title = job.id;
    const pick = h('input', {
      type: 'checkbox',
      'aria-label': `Select job ${job.id.slice(0, 8)}`,
      checked: selected.has(job.id),
      onchange: (e) => {
        if (e.target.checked) selected.add(job.id);
        else selected.delete(job.id);
        bulk.update();
      },
    });
    const error = job.error ? h('span', { class: 'err-text', title: job.error }, firstLine(job.error)) : null;
    return h(
      'tr',
      { 'data-id': job.id, 'data-status': job.status },
      h('td', { class: 'pick' }, pick),
      cell('Job', null, link),
      cell(
        'Type',
        null,
        job.type,
        // A job that jumps (or yields) its owner's line says so; most jobs have priority 0.
        job.priority ? h('span', { class: 'muted', title: 'priority' }, ` (priority ${job.priority})`) : null,
      ),
      cell('Status', null, statusBadge(job.status)),
      cell('Progress', null, progressOf(job), ' ', h('span', { class: 'muted' }, progressText(job))),
      cell('Duration', { class: 'duration' }, jobDuration(job) || h('span', { class: 'muted' }, '—')),
      cell('Error', { class: 'error-cell' }, error ?? h('span', { class: 'muted' }, '—')),
      cell(
        'Input',
        { class: 'input-cell' },
        job.input ? `${job.input.name} (${fmtBytes(job.input.size)})` : h('span', { class: 'muted' }, '—'),
      ),
      filter.all ? cell('Owner', { class: 'owner' }, ownerLabel(job.ownerId, names, me)) : null,
      cell('Created', null, fmtTime(job.createdAt)),
      h('td', { class: 'row-actions' }, rowAction(job)),
    );
  }

  /** Retry (FAILED, CANCELLED) or Cancel (PENDING, RUNNING, after a confirmation) for one row. */
  function rowAction(job) {
    const retry = ['FAILED', 'CANCELLED'].includes(job.status);
    const cancel = ['PENDING', 'RUNNING'].includes(job.status);
    if (!retry && !cancel) return null;
    const what = retry ? 'retry' : 'cancel';
    return h(
      'button',
      {
        type: 'button',
        class: cancel ? 'danger small' : 'small',
        'data-action': what,
        'aria-label': `${retry ? 'Retry' : 'Cancel'} job ${job.id.slice(0, 8)}`,
        onclick: async (e) => {
          const button = e.currentTarget;
          if (
            cancel &&
            !(await confirmDialog(`Cancel job ${job.id.slice(0, 8)} (${job.type})?`, {
              confirm: 'Cancel job',
              cancel: 'Keep it',
            }))
          )
            return;
          button.disabled = true;
          error.textContent = '';
          try {
            upsert(
              await api(`jobs/${encodeURIComponent(job.id)}/${what}`, {
                method: 'POST',
                signal: ctrl.signal,
              }),
            );
            render();
          } catch (err) {
            if (!ctrl.signal.aborted) error.textContent = err.message;
            button.disabled = false;
          }
        },
      },
      retry ? 'Retry' : 'Cancel',
    );
  }

  function render() {
    const sorted = [...jobs.values()].sort((a, b) =>
      a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1,
    );
    for (const id of [...selected]) if (!jobs.has(id)) selected.delete(id);
    replace(body, sorted.map(row));
    selectAll.checked = jobs.size > 0 && selected.size === jobs.size;
    empty.hidden = jobs.size > 0;
    table.hidden = jobs.size === 0;
    moreRow.hidden = !nextCursor;
    bulk.update();
  }

  /** Keeps the newer of two versions of a job (events and snapshots may cross). */
  function upsert(job) {
    const old = jobs.get(job.id);
    if (old && old.updatedAt > job.updatedAt) return;
    if (matches(job)) jobs.set(job.id, job);
    else jobs.delete(job.id);
  }

  const query = (cursor) => ({
    status: filter.status || undefined,
    type: filter.type || undefined,
    all: filter.all ? 'true' : undefined,
    idPrefix: filter.id || undefined,
    limit: PAGE,
    cursor,
  });

  let loadedPages = 1;
  async function snapshot() {
    // Refresh what is shown (the first pages), e.g. after a reconnect missed some events.
    const fresh = new Map();
    let cursor;
    for (let i = 0; i < loadedPages; i++) {
      const page = await api('jobs', { query: query(cursor), signal: ctrl.signal });
      for (const j of page.items) fresh.set(j.id, j);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    for (const id of [...jobs.keys()]) if (!fresh.has(id)) jobs.delete(id);
    for (const j of fresh.values()) upsert(j);
    nextCursor = cursor ?? null;
    error.textContent = '';
    render();
    stats.refresh(filter, ctrl.signal);
  }

  async function loadMore() {
    more.disabled = true;
    try {
      const page = await api('jobs', { query: query(nextCursor), signal: ctrl.signal });
      for (const j of page.items) upsert(j);
      nextCursor = page.nextCursor;
      loadedPages++;
      render();
    } catch (err) {
      if (!ctrl.signal.aborted) error.textContent = err.message;
    } finally {
      more.disabled = false;
    }
  }

  const setLive = (state, text) => {
    live.dataset.state = state;
    live.textContent = text;
  };

  function follow() {
    return apiStream(
      'jobs',
      // The stream takes no idPrefix: its events are matched here (`matches`).
      { ...query(), limit: undefined, idPrefix: undefined },
      {
        signal: ctrl.signal,
        // Each (re)connection starts with a fresh snapshot: events missed while the stream was
        // down are in it, and events that cross it are reconciled by updatedAt.
        onOpen: () => snapshot().catch((err) => !ctrl.signal.aborted && (error.textContent = err.message)),
        onEvent: (ev) => {
          if (ev.event !== 'job') return;
          upsert(JSON.parse(ev.data));
          render();
          stats.soon(filter, ctrl.signal);
        },
        onState: (s) => setLive(s, s === 'live' ? 'live' : 'reconnecting…'),
      },
    );
  }

  follow().catch((err) => {
    if (!ctrl.signal.aborted) error.textContent = err.message;
  });
  if (filter.all)
    ownerNames(me).then((n) => {
      names = n;
      if (!ctrl.signal.aborted) render();
    });

  return {
    el,
    dispose: () => {
      ctrl.abort();
      stats.dispose();
    },
  };
}

/** The first line of an error, for a table cell (the whole text is its title and on the job page). */
function firstLine(text) {
  const line = text.split('\n')[0];
  return line.length > 120 ? line.slice(0, 119) + '…' : line;
}

/** The All jobs toggle is for tokens that may read every user's jobs (not merely of an admin user). */
function canReadAll(me) {
  return (me.permissions ?? []).includes('job:ReadAll');
}
