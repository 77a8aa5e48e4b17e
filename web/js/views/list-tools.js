// The list's overview and bulk actions: the last hour at a glance (GET /api/stats, with the
// counts per status handed to the filter buttons), and retry / cancel of the selected rows or of
// every failed job of the filter (POST /api/jobs/bulk).
import { api } from '../api.js';
import { confirmDialog, h, replace } from '../dom.js';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** While events pour in, the stats are read again at most this often (each read is two aggregates). */
const REFRESH_MS = 3000;

/**
 * "Last hour: 120 completed, 3 failed, 2.4% failure rate" and a bar per minute. `refresh` reads
 * the stats now; `soon` at most once every REFRESH_MS while events pour in.
 */
export function statsPanel({ onCounts }) {
  const completed = h('strong', { id: 'stats-completed' }, '–');
  const failed = h('strong', { id: 'stats-failed' }, '–');
  const rate = h('strong', { id: 'stats-failure-rate' }, '–');
  const chart = svg('svg', {
    id: 'stats-chart',
    viewBox: '0 0 120 24',
    preserveAspectRatio: 'none',
    role: 'img',
    class: 'spark',
  });
  const el = h(
    'section',
    { class: 'stats panel', id: 'stats', 'aria-label': 'The last hour' },
    h(
      'p',
      { class: 'stats-text' },
      h('span', { class: 'muted' }, 'Last hour: '),
      completed,
      ' completed, ',
      failed,
      ' failed, ',
      rate,
      ' failure rate',
    ),
    chart,
  );
  let timer;

  function show(s) {
    onCounts(s.counts);
    completed.textContent = String(s.lastHour.completed);
    failed.textContent = String(s.lastHour.failed);
    rate.textContent = s.lastHour.failureRate === null ? '—' : pct(s.lastHour.failureRate);
    const max = Math.max(1, ...s.minutes.map((m) => m.completed + m.failed));
    const bars = s.minutes.flatMap((m, i) => {
      const hc = (22 * m.completed) / max;
      const hf = (22 * m.failed) / max;
      return [
        svg('rect', { x: i * 2, y: 24 - hc, width: 1.6, height: hc, class: 'bar-completed' }),
        svg('rect', { x: i * 2, y: 24 - hc - hf, width: 1.6, height: hf, class: 'bar-failed' }),
      ];
    });
    chart.replaceChildren(...bars);
    chart.setAttribute(
      'aria-label',
      `Completed and failed jobs per minute over the last hour: ${s.lastHour.completed} completed, ${s.lastHour.failed} failed`,
    );
    el.dataset.loaded = 'true';
  }

  async function refresh(filter, signal) {
    clearTimeout(timer);
    timer = undefined;
    try {
      show(await api('stats', { query: { all: filter.all ? 'true' : undefined }, signal }));
    } catch {
      // The counts are a convenience: the list's own error line tells of an outage.
    }
  }

  function soon(filter, signal) {
    timer ??= setTimeout(() => refresh(filter, signal), REFRESH_MS);
  }

  return { el, refresh, soon, dispose: () => clearTimeout(timer) };
}

function pct(x) {
  return `${(100 * x).toFixed(x === 0 || x === 1 ? 0 : 1)}%`;
}

/**
 * "N selected · Retry selected · Cancel selected · Retry all failed", and what the last bulk
 * action did. `update()` after the selection or the rows changed.
 */
export function bulkBar({ filter, selected, onDone }) {
  const count = h('span', { id: 'bulk-count', class: 'muted' });
  const retrySel = h(
    'button',
    { type: 'button', id: 'bulk-retry', onclick: () => runIds('retry') },
    'Retry selected',
  );
  const cancelSel = h(
    'button',
    { type: 'button', id: 'bulk-cancel', class: 'danger', onclick: () => runIds('cancel') },
    'Cancel selected',
  );
  const retryFailed = h(
    'button',
    { type: 'button', id: 'retry-all-failed', onclick: runAllFailed },
    'Retry all failed',
  );
  const result = h('p', { id: 'bulk-result', role: 'status', class: 'muted' });
  const el = h(
    'div',
    { class: 'bulk', id: 'bulk' },
    h('div', { class: 'bulk-actions' }, count, retrySel, cancelSel, retryFailed),
    result,
  );

  /** FAILED jobs in the stats' scope (own or all users), once known: none, nothing to retry. */
  let failedCount;
  function update() {
    count.textContent = selected.size ? `${selected.size} selected` : '';
    retrySel.disabled = cancelSel.disabled = selected.size === 0;
    // Failed jobs are in this list only without a status filter, or with FAILED.
    retryFailed.hidden = !['', 'FAILED'].includes(filter.status);
    retryFailed.disabled = failedCount === 0;
  }

  function setFailedCount(n) {
    failedCount = n;
    update();
  }

  async function runIds(action) {
    const n = selected.size;
    if (n === 0) return;
    const ok = await confirmDialog(
      `${action === 'retry' ? 'Retry' : 'Cancel'} ${n} selected job${n === 1 ? '' : 's'}?`,
      {
        confirm: action === 'retry' ? 'Retry' : 'Cancel jobs',
        cancel: 'Back',
      },
    );
    if (ok) await run({ action, ids: [...selected] });
  }

  async function runAllFailed() {
    const scope = [filter.type && `of type ${filter.type}`, filter.id && `with an id starting ${filter.id}`]
      .filter(Boolean)
      .join(' ');
    const ok = await confirmDialog(
      `Retry every failed job${filter.all ? ' of every user' : ''}${scope ? ' ' + scope : ''}? (at most 100 at a time)`,
      { confirm: 'Retry all failed', cancel: 'Back' },
    );
    if (!ok) return;
    await run({
      action: 'retry',
      filter: {
        status: 'FAILED',
        ...(filter.type ? { type: filter.type } : {}),
        ...(filter.all ? { all: true } : {}),
        ...(filter.id ? { idPrefix: filter.id } : {}),
      },
    });
  }

  async function run(body) {
    for (const b of [retrySel, cancelSel, retryFailed]) b.disabled = true;
    replace(result);
    try {
      const out = await api('jobs/bulk', { method: 'POST', body });
      const verb = out.action === 'retry' ? 'Retried' : 'Cancelled';
      const problems = out.results
        .filter((r) => r.error)
        .map((r) => `${r.id.slice(0, 8)}: ${r.error.message}`);
      replace(
        result,
        `${verb} ${out.succeeded} job${out.succeeded === 1 ? '' : 's'}`,
        out.failed
          ? `; ${out.failed} could not be: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`
          : '',
        out.more ? '. More match: run it again for the next ones.' : '.',
      );
      result.dataset.outcome = out.failed ? 'partial' : 'ok';
      selected.clear();
      onDone();
    } catch (err) {
      result.textContent = err.message;
      result.dataset.outcome = 'error';
    } finally {
      update();
    }
  }

  update();
  return { el, update, setFailedCount };
}
