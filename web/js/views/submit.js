// The submit form: a type from GET /api/job-types, its params as fields generated from the type's
// JSON Schema and/or as JSON, an optional file, sent as multipart/form-data with upload progress.
// The server's validation errors are shown at the field they are about.
import { api, submitJob } from '../api.js';
import { fmtBytes, h, replace } from '../dom.js';

export function submitView() {
  const ctrl = new AbortController();
  const { signal } = ctrl;
  let types = [];
  let fields = []; // [{name, schema, el, read(): value | undefined}]
  let uploading;

  const typeSelect = h('select', {
    id: 'job-type',
    name: 'type',
    required: true,
    onchange: () => showType(),
  });
  const description = h('p', { class: 'muted', id: 'type-description' });
  const fieldsBox = h('div', { class: 'fields', id: 'param-fields' });
  const paramsJson = h('textarea', {
    id: 'params-json',
    name: 'params',
    spellcheck: 'false',
    placeholder: '{"key": "value"}',
  });
  const fileInput = h('input', { type: 'file', id: 'file', name: 'file' });
  const fileLabel = h('label', { for: 'file' }, 'Input file ', h('span', { class: 'hint' }));
  const fileBox = h('div', { id: 'file-box' }, fileLabel, fileInput);
  const submit = h('button', { type: 'submit', class: 'primary', id: 'submit' }, 'Submit job');
  const abort = h(
    'button',
    { type: 'button', hidden: true, onclick: () => uploading?.abort() },
    'Stop upload',
  );
  const error = h('p', { class: 'error-box', role: 'alert', id: 'submit-error' });
  const bar = h('progress', { id: 'upload-progress', max: 1 });
  bar.value = 0;
  const barText = h('span', { class: 'muted', id: 'upload-text' });
  const uploadBox = h('div', { class: 'upload', hidden: true }, bar, barText);

  const form = h(
    'form',
    { class: 'panel', id: 'submit-form', onsubmit: onSubmit, novalidate: true },
    h('label', { for: 'job-type' }, 'Type'),
    typeSelect,
    description,
    fileBox,
    h('h2', null, 'Parameters'),
    fieldsBox,
    h(
      'label',
      { for: 'params-json' },
      'Params as JSON ',
      h('span', { class: 'hint' }, '(optional; the fields above win where both set a key)'),
    ),
    paramsJson,
    uploadBox,
    h('div', { class: 'actions' }, submit, abort),
    error,
  );
  const el = h('section', { id: 'submit-view' }, h('h1', null, 'New job'), form);

  api('job-types', { signal })
    .then((t) => {
      types = t;
      replace(
        typeSelect,
        types.map((x) => h('option', { value: x.type }, x.type)),
      );
      const wanted = new URLSearchParams(location.hash.split('?')[1] ?? '').get('type');
      if (wanted && types.some((x) => x.type === wanted)) typeSelect.value = wanted;
      showType();
    })
    .catch((err) => {
      if (!signal.aborted) error.textContent = err.message;
    });

  function showType() {
    const t = types.find((x) => x.type === typeSelect.value);
    if (!t) return;
    description.textContent = t.description ?? '';
    fileBox.hidden = t.input === 'none';
    fileInput.required = t.input === 'required';
    fileLabel.lastChild.textContent = t.input === 'required' ? '(required)' : '(optional)';
    fields = Object.entries(t.params?.properties ?? {}).map(([name, schema]) => ({
      name,
      ...field(name, schema),
    }));
    replace(
      fieldsBox,
      fields.length ? fields.map((f) => f.el) : h('p', { class: 'muted' }, 'This type takes no parameters.'),
    );
  }

  /** One input for one parameter, by the kind of its schema; empty means "leave it out". */
  function field(name, schema) {
    const id = `param-${name}`;
    const def = schema.default;
    const hint = [schema.description, def !== undefined ? `default ${JSON.stringify(def)}` : null]
      .filter(Boolean)
      .join('; ');
    const label = (extra) =>
      h(
        'label',
        { for: id },
        name,
        ' ',
        h('span', { class: 'hint' }, [extra, hint].filter(Boolean).join(' · ')),
      );
    const kind = Array.isArray(schema.type) ? schema.type.find((x) => x !== 'null') : schema.type;
    if (kind === 'boolean') {
      const input = h('input', { type: 'checkbox', id, checked: def === true, 'data-param': name });
      return {
        el: h(
          'div',
          { class: 'field' },
          h('label', { class: 'check', for: id }, input, name),
          h('span', { class: 'hint' }, hint),
        ),
        read: () => (input.checked === (def === true) ? undefined : input.checked),
      };
    }
    if (kind === 'integer' || kind === 'number') {
      const input = h('input', {
        type: 'number',
        id,
        step: kind === 'integer' ? '1' : 'any',
        min: schema.minimum,
        max: schema.maximum,
        placeholder: def !== undefined ? String(def) : '',
        'data-param': name,
      });
      return {
        el: h('div', { class: 'field' }, label(), input),
        read: () => (input.value === '' ? undefined : Number(input.value)),
      };
    }
    if (Array.isArray(schema.enum) && schema.enum.every((v) => typeof v === 'string')) {
      const input = h(
        'select',
        { id, 'data-param': name },
        h('option', { value: '' }, '—'),
        schema.enum.map((v) => h('option', { value: v }, v)),
      );
      return { el: h('div', { class: 'field' }, label(), input), read: () => input.value || undefined };
    }
    if (kind === 'string') {
      const input = h('input', {
        type: 'text',
        id,
        placeholder: def !== undefined ? String(def) : '',
        'data-param': name,
      });
      return {
        el: h('div', { class: 'field' }, label(), input),
        read: () => (input.value === '' ? undefined : input.value),
      };
    }
    if (kind === 'array' && ['string', undefined].includes(schema.items?.type)) {
      const input = h('input', { type: 'text', id, placeholder: 'a, b, c', 'data-param': name });
      return {
        el: h('div', { class: 'field' }, label('comma-separated'), input),
        read: () => {
          const v = input.value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
          return v.length ? v : undefined;
        },
      };
    }
    // Objects and anything richer: JSON.
    const input = h('textarea', {
      id,
      spellcheck: 'false',
      placeholder: def !== undefined ? JSON.stringify(def) : '{}',
      'data-param': name,
    });
    return {
      el: h('div', { class: 'field' }, label('JSON'), input),
      read: () => {
        if (input.value.trim() === '') return undefined;
        try {
          return JSON.parse(input.value);
        } catch {
          throw new Error(`${name} is not valid JSON`);
        }
      },
    };
  }

  function collectParams() {
    let params = {};
    const text = paramsJson.value.trim();
    if (text) {
      try {
        params = JSON.parse(text);
      } catch {
        throw new Error('Params as JSON is not valid JSON');
      }
      if (params === null || typeof params !== 'object' || Array.isArray(params)) {
        throw new Error('Params as JSON must be an object, like {"key": 1}');
      }
    }
    for (const f of fields) {
      const v = f.read();
      if (v !== undefined) params[f.name] = v;
    }
    return params;
  }

  /** Clears what showFieldErrors marked. */
  function clearFieldErrors() {
    for (const m of form.querySelectorAll('.field-error')) m.remove();
    for (const i of form.querySelectorAll('[aria-invalid]')) {
      i.removeAttribute('aria-invalid');
      i.removeAttribute('aria-describedby');
    }
  }

  /**
   * A validation_failed answer about the params (`details.issues`, paths within the params):
   * each issue goes under its field, marked invalid; issues about no field (a key typed in the
   * JSON box, say) stay in the message. Returns false when the error was not about the params.
   */
  function showFieldErrors(err) {
    const issues = err.details?.issues;
    if (err.code !== 'validation_failed' || !Array.isArray(issues) || !/^params\b/.test(err.message))
      return false;
    const elsewhere = [];
    let first;
    for (const issue of issues) {
      const name = issue.path?.[0];
      const input =
        name === undefined
          ? null
          : fieldsBox.querySelector(`[data-param="${window.CSS.escape(String(name))}"]`);
      if (!input) {
        elsewhere.push(`${['params', ...(issue.path ?? [])].join('.')}: ${issue.message}`);
        continue;
      }
      const mid = `${input.id}-error`;
      if (document.getElementById(mid)) continue; // one message per field
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', mid);
      input.closest('.field').append(h('p', { class: 'field-error', id: mid }, issue.message));
      first ??= input;
    }
    if (!first) return false;
    error.textContent = [
      `Check the highlighted field${form.querySelectorAll('.field-error').length > 1 ? 's' : ''}.`,
      ...elsewhere,
    ].join(' ');
    first.focus();
    return true;
  }

  async function onSubmit(e) {
    e.preventDefault();
    error.textContent = '';
    clearFieldErrors();
    let params;
    try {
      params = collectParams();
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    const file = fileInput.files?.[0];
    if (fileInput.required && !file) {
      error.textContent = 'This type needs an input file.';
      return;
    }
    // The fields first, then the file: the server checks type and params before storing a byte.
    const body = new FormData();
    body.append('type', typeSelect.value);
    body.append('params', JSON.stringify(params));
    if (file && !fileBox.hidden) body.append('file', file, file.name);

    submit.disabled = true;
    abort.hidden = !file;
    uploadBox.hidden = !file;
    bar.max = file?.size || 1;
    bar.value = 0;
    barText.textContent = '';
    const started = performance.now();
    uploading = new AbortController();
    const stopWith = () => uploading?.abort();
    signal.addEventListener('abort', stopWith, { once: true });
    try {
      const job = await submitJob(body, {
        signal: uploading.signal,
        onProgress: (loaded, total) => {
          if (!total) return;
          bar.max = total;
          bar.value = loaded;
          const secs = (performance.now() - started) / 1000;
          barText.textContent =
            loaded >= total
              ? `uploaded ${fmtBytes(total)}; waiting for the server…`
              : `${fmtBytes(loaded)} of ${fmtBytes(total)} (${Math.floor((100 * loaded) / total)}%)${secs > 1 ? `, ${fmtBytes(loaded / secs)}/s` : ''}`;
        },
      });
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (err) {
      if (!signal.aborted && !showFieldErrors(err)) error.textContent = err.message;
    } finally {
      signal.removeEventListener('abort', stopWith);
      uploading = undefined;
      submit.disabled = false;
      abort.hidden = true;
    }
  }

  return { el, dispose: () => ctrl.abort() };
}
