// Admins (token:Manage): the API tokens (GET /api/tokens), a new one for a user (POST; its secret
// is shown once, here), and revoking one (DELETE, after a confirmation).
import { api, forgetOwnerNames } from '../api.js';
import { confirmDialog, fmtTime, h, replace } from '../dom.js';

export function tokensView({ me }) {
  const ctrl = new AbortController();
  const { signal } = ctrl;
  const body = h('tbody', { id: 'tokens-body' });
  const error = h('p', { class: 'error-box', role: 'alert', id: 'tokens-error' });
  const user = h('input', { type: 'text', id: 'token-user', required: true, autocomplete: 'off' });
  const name = h('input', { type: 'text', id: 'token-name', autocomplete: 'off' });
  const expires = h('input', { type: 'text', id: 'token-expires', placeholder: '90d', autocomplete: 'off' });
  const admin = h('input', { type: 'checkbox', id: 'token-admin' });
  const created = h('div', { id: 'token-created', hidden: true, class: 'panel created', role: 'status' });
  const form = h(
    'form',
    { class: 'panel', id: 'token-form', onsubmit: create, novalidate: true },
    h('h2', null, 'New token'),
    h(
      'div',
      { class: 'fields' },
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'token-user' }, 'User ', h('span', { class: 'hint' }, 'created if new')),
        user,
      ),
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'token-name' }, 'Name ', h('span', { class: 'hint' }, 'optional')),
        name,
      ),
      h(
        'div',
        { class: 'field' },
        h(
          'label',
          { for: 'token-expires' },
          'Expires in ',
          h('span', { class: 'hint' }, 'optional: 90d, 12h; empty: never'),
        ),
        expires,
      ),
    ),
    h('label', { class: 'check', for: 'token-admin' }, admin, 'Admin (every permission)'),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', id: 'token-create' }, 'Create token'),
    ),
  );
  const el = h(
    'section',
    { id: 'tokens-view' },
    h('h1', null, 'API tokens'),
    form,
    created,
    error,
    h('h2', null, 'Tokens'),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'jobs', id: 'tokens' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['User', 'Name', 'Role', 'Created', 'Last used', 'Expires', 'State', ''].map((t) =>
              h('th', null, t),
            ),
          ),
        ),
        body,
      ),
    ),
  );

  const cell = (label, ...children) => h('td', { 'data-label': label }, ...children);

  function row(t) {
    const revoked = t.revokedAt !== null;
    const expired = !revoked && t.expiresAt !== null && Date.parse(t.expiresAt) <= Date.now();
    return h(
      'tr',
      { 'data-id': t.id, 'data-state': revoked ? 'revoked' : expired ? 'expired' : 'active' },
      cell('User', t.userName, t.userId === me.userId ? ' (you)' : ''),
      cell('Name', t.name),
      cell('Role', t.role),
      cell('Created', fmtTime(t.createdAt)),
      cell('Last used', fmtTime(t.lastUsedAt) || '—'),
      cell('Expires', fmtTime(t.expiresAt) || 'never'),
      cell('State', revoked ? `revoked ${fmtTime(t.revokedAt)}` : expired ? 'expired' : 'active'),
      h(
        'td',
        { class: 'row-actions' },
        revoked
          ? null
          : h(
              'button',
              { type: 'button', class: 'danger small', 'data-action': 'revoke', onclick: () => revoke(t) },
              'Revoke',
            ),
      ),
    );
  }

  async function load() {
    try {
      replace(body, (await api('tokens', { signal })).items.map(row));
    } catch (err) {
      if (!signal.aborted) error.textContent = err.message;
    }
  }

  async function create(e) {
    e.preventDefault();
    error.textContent = '';
    created.hidden = true;
    if (!user.value.trim()) {
      error.textContent = 'Give the user the token is for.';
      user.focus();
      return;
    }
    try {
      const t = await api('tokens', {
        method: 'POST',
        signal,
        body: {
          user: user.value.trim(),
          ...(name.value.trim() ? { name: name.value.trim() } : {}),
          ...(expires.value.trim() ? { expiresIn: expires.value.trim() } : {}),
          ...(admin.checked ? { admin: true } : {}),
        },
      });
      forgetOwnerNames();
      const secret = h('input', {
        type: 'text',
        id: 'token-secret',
        readonly: true,
        value: t.token,
        class: 'mono',
      });
      replace(
        created,
        h(
          'p',
          null,
          h('strong', null, `Token for ${user.value.trim()} created.`),
          ' Copy it now: it is not shown again.',
        ),
        secret,
      );
      created.hidden = false;
      secret.select();
      form.reset();
      await load();
    } catch (err) {
      if (!signal.aborted) error.textContent = err.message;
    }
  }

  async function revoke(t) {
    const ok = await confirmDialog(
      `Revoke ${t.userName}'s token "${t.name}"? Whatever uses it stops working at once.`,
      { confirm: 'Revoke', cancel: 'Back' },
    );
    if (!ok) return;
    error.textContent = '';
    try {
      await api(`tokens/${encodeURIComponent(t.id)}`, { method: 'DELETE', signal });
      await load();
    } catch (err) {
      if (!signal.aborted) error.textContent = err.message;
    }
  }

  load();
  return { el, dispose: () => ctrl.abort() };
}
