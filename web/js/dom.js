// DOM helpers. Everything the dashboard shows is built with createElement and text nodes: data
// (log lines, params, file names, errors) is never parsed as HTML. The page's CSP also requires
// Trusted Types with no policy, so `innerHTML = string` would throw rather than render.

const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'max', 'min', 'multiple']);

/**
 * h('a', {href: '#/', class: 'x', onclick: fn}, 'text', childNode…). Strings become text nodes;
 * null, undefined and false children are skipped; arrays are flattened.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) {
      // Handlers are functions only: a string here would be an inline script (and blocked by CSP).
      if (typeof v !== 'function') throw new TypeError(`${k} must be a function`);
      el.addEventListener(k.slice(2), v);
    } else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function statusBadge(status) {
  return h('span', { class: `status status-${status}`, 'data-status': status }, status);
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** HH:MM:SS.mmm, local time, as the CLI prints log lines. */
export function fmtClock(iso) {
  const d = new Date(iso);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function fmtDuration(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function json(v) {
  return JSON.stringify(v, null, 2);
}

/** A <progress> for a job's {done,total}; indeterminate while the total is unknown. */
export function progressOf(job) {
  const p = job.progress;
  const el = h('progress', { max: 1 });
  if (job.status === 'COMPLETED') el.value = 1;
  else if (p && p.total) {
    el.max = p.total;
    el.value = Math.min(p.done, p.total);
  } else if (job.status !== 'RUNNING') el.value = 0;
  else el.removeAttribute('value');
  return el;
}

export function progressText(job) {
  const p = job.progress;
  if (job.status === 'COMPLETED') return '100%';
  if (!p) return job.status === 'PENDING' ? 'queued' : '';
  if (!p.total) return `${p.done}`;
  return `${Math.floor((100 * Math.min(p.done, p.total)) / p.total)}%`;
}

/**
 * Asks before something that cannot be undone, in a modal <dialog> (focus kept inside, Escape
 * answers no). Resolves true when confirmed.
 *
 * @example if (await confirmDialog('Cancel job 1a2b3c4d?', { confirm: 'Cancel job', cancel: 'Keep it' })) …
 */
export function confirmDialog(message, { confirm = 'Yes', cancel = 'No' } = {}) {
  return new Promise((resolve) => {
    const dlg = h(
      'dialog',
      { id: 'confirm', class: 'panel', 'aria-labelledby': 'confirm-text' },
      h(
        'form',
        { method: 'dialog' },
        h('p', { id: 'confirm-text' }, message),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'submit', value: 'yes', class: 'danger', id: 'confirm-yes' }, confirm),
          h('button', { type: 'submit', value: 'no', id: 'confirm-no', autofocus: true }, cancel),
        ),
      ),
    );
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'yes');
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** An owner as a person reads it: "alice", "alice (you)", or a short id when the name is unknown. */
export function ownerLabel(ownerId, names, me) {
  const name = names?.get(ownerId);
  const label = name ?? ownerId.slice(0, 8);
  return ownerId === me.userId ? `${label} (you)` : label;
}

/** How long a job ran (or has been running), or '' before it started. */
export function jobDuration(job, now = Date.now()) {
  if (!job.startedAt) return '';
  const end = job.finishedAt ? Date.parse(job.finishedAt) : now;
  return fmtDuration(Math.max(0, end - Date.parse(job.startedAt)));
}
