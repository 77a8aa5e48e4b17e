// The jobs list: status and type filters, an "all jobs" toggle for admins, newest first, updated
// live from the list's event stream (GET /api/jobs with Accept: text/event-stream).
import { api, apiStream } from '../api.js';
import { fmtBytes, fmtTime, h, progressOf, progressText, replace, statusBadge } from '../dom.js';

const STATUSES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
const PAGE = 50;

export function listView(params, { me }) {
  const ctrl = new AbortController();
  const filter = {
    status: STATUSES.includes(params.get('status')) ? params.get('status') : '',
    type: params.get('type') ?? '',
    all: canReadAll(me) && params.get('all') === '1',
  };
  /** id → job, and the order shown (newest first). */
  const jobs = new Map();
  let nextCursor = null;

  const setFilter = (patch) => {
    const f = { ...filter, ...patch };
    const q = new URLSearchParams();
    if (f.status) q.set('status', f.status);
    if (f.type) q.set('type', f.type);
    if (f.all) q.set('all', '1');
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
  const live = h('span', { class: 'live', id: 'live', 'data-state': 'connecting' }, 'connecting…');
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
        h('th', null, 'Job'),
        h('th', null, 'Type'),
        h('th', null, 'Status'),
        h('th', null, 'Progress'),
        h('th', null, 'Input'),
        filter.all ? h('th', null, 'Owner') : null,
        h('th', null, 'Created'),
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
    h('div', { class: 'toolbar' }, statusButtons, typeSelect, allToggle, live),
    error,
    table,
    empty,
    moreRow,
  );

  const matches = (job) =>
    (!filter.status || job.status === filter.status) &&
    (!filter.type || job.type === filter.type) &&
    (filter.all || job.ownerId === me.userId);

  function row(job) {
    const link = h('a', { href: `#/jobs/${encodeURIComponent(job.id)}`, class: 'mono' }, job.id.slice(0, 8));
    link.title = job.id;
    return h(
      'tr',
      { 'data-id': job.id, 'data-status': job.status },
      h('td', null, link),
      h(
        'td',
        null,
        job.type,
        // A job that jumps (or yields) its owner's line says so; most jobs have priority 0.
        job.priority ? h('span', { class: 'muted', title: 'priority' }, ` (priority ${job.priority})`) : null,
      ),
      h('td', null, statusBadge(job.status)),
      h('td', null, progressOf(job), ' ', h('span', { class: 'muted' }, progressText(job))),
      h(
        'td',
        null,
        job.input ? `${job.input.name} (${fmtBytes(job.input.size)})` : h('span', { class: 'muted' }, '—'),
      ),
      filter.all ? h('td', { class: 'mono' }, job.ownerId.slice(0, 8)) : null,
      h('td', null, fmtTime(job.createdAt)),
    );
  }

  function render() {
    const sorted = [...jobs.values()].sort((a, b) =>
      a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1,
    );
    replace(body, sorted.map(row));
    empty.hidden = jobs.size > 0;
    table.hidden = jobs.size === 0;
    moreRow.hidden = !nextCursor;
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
      { ...query(), limit: undefined },
      {
        signal: ctrl.signal,
        // Each (re)connection starts with a fresh snapshot: events missed while the stream was
        // down are in it, and events that cross it are reconciled by updatedAt.
        onOpen: () => snapshot().catch((err) => !ctrl.signal.aborted && (error.textContent = err.message)),
        onEvent: (ev) => {
          if (ev.event !== 'job') return;
          upsert(JSON.parse(ev.data));
          render();
        },
        onState: (s) => setLive(s, s === 'live' ? 'live' : 'reconnecting…'),
      },
    );
  }

  follow().catch((err) => {
    if (!ctrl.signal.aborted) error.textContent = err.message;
  });

  return { el, dispose: () => ctrl.abort() };
}

/** The All jobs toggle is for tokens that may read every user's jobs (not merely of an admin user). */
function canReadAll(me) {
  return (me.permissions ?? []).includes('job:ReadAll');
}
