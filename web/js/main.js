// The dashboard's shell: sign-in, the header, and a hash router (#/, #/jobs/ID, #/new,
// #/schedules, and for admins #/dlq and #/tokens), so the server serves one static page and every
// view is a link that can be shared or reloaded.
import { api, apiPatient, forgetOwnerNames, session } from './api.js';
import { h, replace } from './dom.js';
import { listView } from './views/list.js';
import { jobView } from './views/job.js';
import { submitView } from './views/submit.js';
import { schedulesView } from './views/schedules.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const whoName = document.getElementById('who-name');

/** The signed-in user ({userId, name, role, permissions}) or null. */
let me = null;
/** Disposes the current view (closes its streams, aborts its requests). */
let dispose = () => {};

function signInView(message) {
  const input = h('input', {
    type: 'password',
    id: 'token',
    name: 'token',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    placeholder: 'jobs_…',
  });
  const error = h('p', { class: 'error-box', role: 'alert', id: 'signin-error' }, message ?? '');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'panel signin', id: 'signin', onsubmit: onSubmit },
    h('h1', null, 'Sign in'),
    h(
      'p',
      { class: 'muted' },
      'Paste an API token. The first ',
      h('code', null, 'jobs server'),
      ' start saves the admin token in ',
      h('code', null, '~/.config/jobs/config.json'),
      '; admins create more with ',
      h('code', null, 'jobs tokens create'),
      '.',
    ),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('div', { class: 'actions' }, button),
    error,
  );
  async function onSubmit(e) {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    error.textContent = '';
    try {
      me = await api('me', { token });
      session.set(token);
      showUser();
      route();
    } catch (err) {
      error.textContent = err.status === 401 ? 'That token is not valid (or was revoked).' : err.message;
    } finally {
      button.disabled = false;
    }
  }
  return form;
}

/** Admins' views, loaded when first opened (most visits never need them). */
const ADMIN_VIEWS = {
  '/dlq': () => import('./views/dlq.js').then((m) => m.dlqView),
  '/tokens': () => import('./views/tokens.js').then((m) => m.tokensView),
};

/** A view whose module loads on demand: "Loading…" until then. */
function lazyView(load, ctx) {
  const el = h('section', null, h('p', { class: 'muted' }, 'Loading…'));
  let disposed = false;
  let inner = () => {};
  load()
    .then((view) => {
      if (disposed) return;
      const v = view(ctx);
      replace(el, v.el);
      inner = v.dispose;
    })
    .catch((err) => replace(el, h('p', { class: 'error-box', role: 'alert' }, err.message)));
  return {
    el,
    dispose: () => {
      disposed = true;
      inner();
    },
  };
}

function showUser() {
  nav.hidden = !me;
  who.hidden = !me;
  for (const a of nav.querySelectorAll('[data-needs]'))
    a.hidden = !(me?.permissions ?? []).includes(a.dataset.needs);
  whoName.textContent = me ? `${me.name}${me.role === 'admin' ? ' (admin)' : ''}` : '';
}

function signOut(message) {
  dispose();
  dispose = () => {};
  session.clear();
  forgetOwnerNames();
  me = null;
  showUser();
  replace(main, signInView(message));
  document.getElementById('token')?.focus();
}

function route() {
  dispose();
  dispose = () => {};
  if (!me) {
    replace(main, signInView());
    return;
  }
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  for (const a of nav.querySelectorAll('a')) a.classList.remove('active');
  let view;
  const jobMatch = /^\/jobs\/([^/]+)$/.exec(path);
  if (jobMatch) {
    view = jobView(decodeURIComponent(jobMatch[1]), { me });
  } else if (path === '/schedules') {
    nav.querySelector('[data-nav="schedules"]').classList.add('active');
    view = schedulesView(params, { me });
  } else if (ADMIN_VIEWS[path]) {
    nav.querySelector(`[data-nav="${path.slice(1)}"]`).classList.add('active');
    view = lazyView(ADMIN_VIEWS[path], { me });
  } else if (path === '/new') {
    nav.querySelector('[data-nav="new"]').classList.add('active');
    view = submitView({ me });
  } else {
    nav.querySelector('[data-nav="list"]').classList.add('active');
    view = listView(params, { me });
  }
  replace(main, view.el);
  dispose = view.dispose;
  window.scrollTo(0, 0);
}

document.getElementById('sign-out').addEventListener('click', () => {
  signOut();
  history.replaceState(null, '', location.pathname);
});
window.addEventListener('hashchange', route);
window.addEventListener('jobs:unauthorized', () =>
  signOut('Your session ended: the token is no longer valid.'),
);

async function start() {
  if (session.token) {
    try {
      // A reload while the API is down (or restarting) waits for it rather than failing.
      me = await apiPatient('me', {}, (err) =>
        replace(
          main,
          h(
            'p',
            { class: 'muted', id: 'app-reconnecting', role: 'status' },
            h('span', { class: 'live', 'data-state': 'reconnecting' }, 'reconnecting…'),
            ` The API cannot be reached (${err.message}); trying again.`,
          ),
        ),
      );
    } catch (err) {
      session.clear();
      me = null;
      showUser();
      replace(main, signInView(err.status === 401 ? undefined : err.message));
      return;
    }
  }
  showUser();
  route();
}

start();
