// One job: params, input, progress, result and error, cancel (confirmed) and retry, and its log
// lines live from GET /api/jobs/:id/logs as an event stream (resumed with Last-Event-ID after a
// drop), filtered by level and downloadable. The page outlasts an API outage: the first load is
// tried again with a backoff ("reconnecting…"), and the stream resumes by itself.
import { api, apiPatient, apiStream, ownerNames } from '../api.js';
import {
  confirmDialog,
  fmtBytes,
  fmtClock,
  fmtDuration,
  fmtTime,
  h,
  json,
  ownerLabel,
  progressOf,
  progressText,
  replace,
  statusBadge,
} from '../dom.js';

const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];

export function jobView(id, { me }) {
  const ctrl = new AbortController();
  const { signal } = ctrl;
  const el = h('section', { id: 'job-view' }, h('p', { class: 'muted' }, 'Loading…'));

  let job = null;
  let lastSeq = 0;
  let following = false;
  /** User id → name, once known (owners show by name). */
  let names = new Map([[me.userId, me.name]]);

  const title = h('h1', null);
  const badge = h('span', { id: 'job-status' });
  const cancelBtn = h(
    'button',
    { type: 'button', id: 'cancel', class: 'danger', onclick: () => confirmCancel() },
    'Cancel',
  );
  const retryBtn = h('button', { type: 'button', id: 'retry', onclick: () => act('retry') }, 'Retry');
  const actionError = h('p', { class: 'error-box', role: 'alert', id: 'action-error' });
  const progressBox = h('div', { class: 'progress-row', id: 'job-progress' });
  const meta = h('dl', { class: 'meta', id: 'job-meta' });
  const params = h('pre', { id: 'job-params' });
  const input = h('dl', { class: 'meta', id: 'job-input' });
  const outcome = h('div', { id: 'job-outcome' });
  const outputs = h('div', { id: 'job-outputs' });
  const live = h('span', { class: 'live', id: 'logs-live', 'data-state': 'connecting' }, 'connecting…');
  const logs = h('div', {
    class: 'logs',
    id: 'logs',
    role: 'log',
    'aria-label': 'Log lines',
    'data-level': 'all',
  });
  const logTools = logToolbar();
  const noLogs = h('span', { class: 'muted', id: 'no-logs' }, 'No log lines yet.');
  logs.append(noLogs);

  function render(j) {
    if (job && j.updatedAt < job.updatedAt) return;
    job = j;
    replace(title, `${j.type} `, h('span', { class: 'mono muted' }, j.id));
    replace(badge, statusBadge(j.status));
    cancelBtn.disabled = !(j.status === 'PENDING' || j.status === 'RUNNING');
    retryBtn.disabled = !(j.status === 'FAILED' || j.status === 'CANCELLED');
    const total = j.progress?.total;
    replace(
      progressBox,
      progressOf(j),
      h(
        'span',
        { class: 'muted' },
        progressText(j),
        j.progress && total ? ` (${j.progress.done} of ${total})` : '',
      ),
    );
    const dur = j.startedAt && j.finishedAt ? Date.parse(j.finishedAt) - Date.parse(j.startedAt) : null;
    replace(
      meta,
      ...pair('Id', h('span', { class: 'mono' }, j.id)),
      ...pair('Status', j.status),
      ...pair('Owner', h('span', { id: 'job-owner', title: j.ownerId }, ownerLabel(j.ownerId, names, me))),
      ...pair('Attempts', `${j.attempts} of ${j.maxAttempts}`),
      // Absent from servers older than priorities.
      ...(j.priority !== undefined ? pair('Priority', String(j.priority)) : []),
      ...(j.scheduleId
        ? pair(
            'Schedule',
            h('a', { href: '#/schedules', class: 'mono' }, j.scheduleId),
            ` (tick ${fmtTime(j.scheduleTickAt)})`,
          )
        : []),
      ...pair('Created', fmtTime(j.createdAt)),
      ...(j.runAt ? pair('Runs at', fmtTime(j.runAt)) : []),
      // Where its end is POSTed (README, Webhooks): `jobs webhooks deliveries ID` shows the attempts.
      ...(j.webhookUrl ? pair('Webhook', h('span', { class: 'mono' }, j.webhookUrl)) : []),
      ...pair('Started', fmtTime(j.startedAt) || '—'),
      ...pair('Finished', fmtTime(j.finishedAt) || '—'),
      ...(dur !== null ? pair('Duration', fmtDuration(dur)) : []),
    );
    params.textContent = json(j.params ?? {});
    if (j.input) {
      replace(
        input,
        ...pair('Name', h('span', { id: 'input-name' }, j.input.name)),
        ...pair('Size', `${fmtBytes(j.input.size)} (${j.input.size} bytes)`),
        ...pair('SHA-256', h('span', { class: 'mono' }, j.input.sha256)),
      );
    } else replace(input, h('span', { class: 'muted' }, 'No input file.'));
    renderOutcome(j);
    renderOutputs(j.outputs ?? []);
  }

  /** The error and the result: a failed job may have both (a CSV import's counts, say). */
  function renderOutcome(j) {
    const hasResult = j.result !== null && j.result !== undefined;
    replace(
      outcome,
      j.error ? [h('h2', null, 'Error'), h('pre', { class: 'error panel', id: 'job-error' }, j.error)] : null,
      hasResult
        ? [h('h2', null, 'Result'), h('pre', { class: 'panel', id: 'job-result' }, json(j.result))]
        : null,
    );
  }

  /** Level filter and download, above the lines. */
  function logToolbar() {
    const level = h(
      'select',
      {
        id: 'log-level',
        'aria-label': 'Log level',
        onchange: (e) => (logs.dataset.level = e.target.value),
      },
      h('option', { value: 'all' }, 'All levels'),
      h('option', { value: 'warn' }, 'Warnings and errors'),
      h('option', { value: 'error' }, 'Errors only'),
    );
    const download = h('button', { type: 'button', id: 'logs-download', onclick: downloadLogs }, 'Download');
    download.title = 'Every line as NDJSON (one JSON object a line)';
    return h('div', { class: 'log-tools' }, level, download);
  }

  /**
   * Saves every log line as NDJSON, read page by page from GET /api/jobs/:id/logs: each page
   * becomes one part of the Blob, not one string of the whole log.
   */
  async function downloadLogs(e) {
    const button = e.currentTarget;
    button.disabled = true;
    actionError.textContent = '';
    try {
      const parts = [];
      let after = 0;
      for (;;) {
        const page = await api(`jobs/${encodeURIComponent(id)}/logs`, {
          query: { after, limit: 5000 },
          signal,
        });
        parts.push(page.items.map((l) => JSON.stringify(l) + '\n').join(''));
        if (page.nextAfter === null) break;
        after = page.nextAfter;
      }
      const url = URL.createObjectURL(new window.Blob(parts, { type: 'application/x-ndjson' }));
      const a = h('a', { href: url, download: `job-${id}-logs.ndjson`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      if (!signal.aborted) actionError.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  }

  // The files the handler wrote. A link cannot carry the bearer token, and fetching a large file
  // into the page to save it would hold it all in memory: a click asks the API for a short-lived
  // signed URL (POST …/link: S3's presigned GET, or the API's own signed GET) and navigates to it;
  // the browser then downloads it as an attachment, streaming to disk.
  function renderOutputs(list) {
    if (list.length === 0) return replace(outputs);
    replace(
      outputs,
      h('h2', null, 'Outputs'),
      h(
        'ul',
        { class: 'panel outputs', id: 'outputs-list' },
        ...list.map((o) =>
          h(
            'li',
            { 'data-output': o.name },
            h(
              'a',
              {
                href: '#',
                class: 'download',
                title: `SHA-256 ${o.sha256}`,
                onclick: (e) => {
                  e.preventDefault();
                  download(o.name);
                },
              },
              o.name,
            ),
            h('span', { class: 'muted' }, ` ${fmtBytes(o.size)} · ${o.contentType}`),
          ),
        ),
      ),
    );
  }

  async function download(name) {
    actionError.textContent = '';
    try {
      const { url } = await api(`jobs/${encodeURIComponent(id)}/outputs/${encodeURIComponent(name)}/link`, {
        method: 'POST',
        signal,
      });
      // A path on the API (the directory store) is resolved like every API call: relative to the
      // page, so a dashboard behind a path prefix works too.
      const target = url.startsWith('/api/') ? new URL(url.slice(1), document.baseURI).toString() : url;
      const a = h('a', { href: target, download: name, hidden: '' });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (err) {
      if (!signal.aborted) actionError.textContent = err.message;
    }
  }

  function pair(k, ...v) {
    return [h('dt', null, k), h('dd', null, ...v)];
  }

  // Lines are appended in batches once per frame: a job writing thousands of lines a second must
  // not re-layout the page for each.
  let pending = [];
  let scheduled = false;
  function addLine(line) {
    if (line.seq <= lastSeq) return; // already shown (a resumed stream overlapping)
    lastSeq = line.seq;
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(flush);
    }
  }
  function flush() {
    scheduled = false;
    if (pending.length === 0) return;
    const atBottom = logs.scrollHeight - logs.scrollTop - logs.clientHeight < 40;
    const frag = document.createDocumentFragment();
    for (const l of pending) frag.append(logRow(l));
    pending = [];
    noLogs.remove();
    logs.append(frag);
    if (atBottom) logs.scrollTop = logs.scrollHeight;
  }
  function logRow(l) {
    const level = String(l.level ?? 'info').toLowerCase();
    const hasData =
      l.data !== null &&
      l.data !== undefined &&
      !(typeof l.data === 'object' && Object.keys(l.data).length === 0);
    return h(
      'div',
      { class: `log log-${level}`, 'data-seq': l.seq },
      h('span', { class: 'ts' }, fmtClock(l.ts)),
      h('span', { class: 'lvl' }, level.toUpperCase()),
      h('span', { class: 'msg' }, l.message),
      hasData ? h('span', { class: 'data' }, JSON.stringify(l.data)) : null,
    );
  }

  const setLive = (state, text) => {
    live.dataset.state = state;
    live.textContent = text;
  };

  async function follow() {
    if (following || signal.aborted) return;
    following = true;
    let again = false;
    try {
      const result = await apiStream(`jobs/${encodeURIComponent(id)}/logs`, undefined, {
        signal,
        lastEventId: lastSeq ? String(lastSeq) : '',
        endEvent: 'end',
        onEvent: (ev) => {
          const data = JSON.parse(ev.data);
          if (ev.event === 'log') addLine(data);
          else if (ev.event === 'job' || ev.event === 'end') render(data);
        },
        // After a drop, the job may have moved on while the stream was away: read it again.
        onOpen: () => {
          if (job) refresh();
        },
        onState: (s) => setLive(s, s === 'live' ? 'live' : 'reconnecting…'),
      });
      if (result === 'ended') {
        // Retried while its stream was ending: the job runs again, so follow its new lines.
        if (job && !TERMINAL.includes(job.status)) again = true;
        else setLive('ended', 'ended');
      }
    } catch (err) {
      if (!signal.aborted) {
        setLive('ended', '');
        actionError.textContent = err.message;
      }
    } finally {
      following = false;
      if (again) follow();
    }
  }

  /** The job as it is now (after a reconnect); a failure here is left to the stream to report. */
  function refresh() {
    api(`jobs/${encodeURIComponent(id)}`, { signal })
      .then(render)
      .catch(() => {});
  }

  async function confirmCancel() {
    const running = job?.status === 'RUNNING';
    const ok = await confirmDialog(
      `Cancel this ${job?.type ?? ''} job${running ? ' (it is running: its handler is stopped)' : ''}?`,
      { confirm: 'Cancel job', cancel: 'Keep it' },
    );
    if (ok && !signal.aborted) act('cancel');
  }

  async function act(what) {
    cancelBtn.disabled = retryBtn.disabled = true;
    actionError.textContent = '';
    try {
      render(await api(`jobs/${encodeURIComponent(id)}/${what}`, { method: 'POST', signal }));
      // A retried job runs again: follow its new lines (the finished stream had closed).
      if (what === 'retry') follow();
    } catch (err) {
      if (!signal.aborted) actionError.textContent = err.message;
      if (job) render({ ...job, updatedAt: job.updatedAt });
    }
  }

  function notFound() {
    replace(
      el,
      h(
        'div',
        { class: 'panel notfound', id: 'job-not-found' },
        h('h1', null, 'Job not found'),
        h('p', { class: 'muted' }, 'There is no job with this id, or it belongs to someone else.'),
        h('a', { href: '#/' }, '← Back to your jobs'),
      ),
    );
  }

  /** While the API is unreachable: say so, and keep trying (apiPatient). */
  function waiting(err) {
    replace(
      el,
      h(
        'p',
        { class: 'muted', id: 'job-reconnecting', role: 'status' },
        h('span', { class: 'live', 'data-state': 'reconnecting' }, 'reconnecting…'),
        ` The API cannot be reached (${err.message}); trying again.`,
      ),
    );
  }

  function show(j) {
    render(j);
    replace(
      el,
      h('p', null, h('a', { href: '#/' }, '← Jobs')),
      h('div', { class: 'job-head' }, title, badge, h('div', { class: 'actions' }, cancelBtn, retryBtn)),
      actionError,
      progressBox,
      h(
        'div',
        { class: 'cols' },
        h('div', null, h('h2', null, 'Details'), h('div', { class: 'panel' }, meta)),
        h(
          'div',
          null,
          h('h2', null, 'Params'),
          h('div', { class: 'panel' }, params),
          h('h2', null, 'Input'),
          h('div', { class: 'panel' }, input),
        ),
      ),
      outcome,
      outputs,
      h('div', { class: 'job-head' }, h('h2', null, 'Logs'), live, logTools),
      logs,
    );
    follow();
    ownerNames(me).then((n) => {
      names = n;
      if (job && !signal.aborted) render({ ...job });
    });
  }

  apiPatient(`jobs/${encodeURIComponent(id)}`, { signal }, waiting)
    .then(show)
    .catch((err) => {
      if (signal.aborted) return;
      if (err.status === 404 || err.status === 400) notFound();
      else replace(el, h('p', { class: 'error-box', role: 'alert' }, err.message));
    });

  return { el, dispose: () => ctrl.abort() };
}
