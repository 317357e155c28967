// Bundle messages: recipients from a CSV/XLSX upload or typed numbers, a message with {placeholders}
// and its live preview, the consent confirmation, send, and the per-recipient progress.
import { api, get, post, explain, onceKeys } from './api.js';
import { h, fill, field, notice, setNotice, poll } from './dom.js';
import { t } from './i18n.js';
import { dateTime } from './format.js';

const MAX = 250;

/** +E.164 from what a person types (spaces, dashes, dots, brackets, 00 prefix, a default country code). */
export function normalizePhone(raw, cc) {
  let s = String(raw || '').replace(/[\s\-().]/g, '');
  if (s.startsWith('00')) s = '+' + s.slice(2);
  if (!s.startsWith('+')) {
    const code = String(cc || '').replace(/\D/g, '');
    if (!code) return null;
    s = '+' + code + s.replace(/^0+/, '');
  }
  return /^\+[1-9]\d{7,14}$/.test(s) ? s : null;
}

/** "number[,;tab or space]name" per line → {recipients, rejected}. */
export function parseTyped(text, cc) {
  const recipients = [];
  const rejected = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const s = line.trim();
    if (!s) return;
    const m = s.match(/^([+0-9][0-9\s\-().]*[0-9)])\s*(?:[,;\t]\s*|\s+)?(.*)$/);
    const phone = m && normalizePhone(m[1], cc);
    if (!phone) { rejected.push({ row: i + 1, reason: t('bundle.badNumber'), values: { line: s } }); return; }
    recipients.push({ phone, name: (m[2] || '').trim() || null, language: null, fields: {} });
  });
  return { recipients, rejected };
}

export function placeholders(body) {
  const out = [];
  const re = /\{([^{}]*)\}/g;
  let m;
  while ((m = re.exec(body))) if (m[1] && !out.includes(m[1])) out.push(m[1]);
  return out;
}

export function render(body, r) {
  return body.replace(/\{([^{}]*)\}/g, (whole, k) => {
    if (k === 'name') return r.name || '';
    if (k === 'phone') return r.phone;
    if (k === 'language') return r.language || '';
    return (r.fields && r.fields[k]) || '';
  });
}

export function mount(main, params, app) {
  if (params[0]) return progressView(main, Number(params[0]));
  const state = { uploaded: { recipients: [], rejected: [], merged: 0, fields: [] }, typed: { recipients: [], rejected: [] }, tab: 'upload' };
  const status = notice('alert');
  setNotice(status, '');

  // Tabs: Upload | Type numbers.
  const tabUpload = h('button', { type: 'button', role: 'tab', id: 'tab-upload', 'aria-controls': 'panel-upload', text: t('bundle.upload') });
  const tabType = h('button', { type: 'button', role: 'tab', id: 'tab-type', 'aria-controls': 'panel-type', text: t('bundle.type') });
  const file = h('input', { type: 'file', id: 'bundle-file', accept: '.csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' });
  const cc = h('input', { type: 'text', id: 'country-code', inputmode: 'numeric', maxlength: 4, placeholder: '52', size: 4 });
  const uploadResult = h('div', { id: 'upload-result' });
  const panelUpload = h('div', { role: 'tabpanel', id: 'panel-upload', 'aria-labelledby': 'tab-upload' },
    h('div', { class: 'row' }, field(t('bundle.file'), file, t('bundle.fileHint')).row, field(t('bundle.cc'), cc, t('bundle.ccHint')).row),
    uploadResult);
  const typed = h('textarea', { id: 'typed-numbers', rows: 5, placeholder: '+5215512345678, Ana López\n+14155550101 Bob' });
  const typedResult = h('div', { id: 'typed-result' });
  const panelType = h('div', { role: 'tabpanel', id: 'panel-type', 'aria-labelledby': 'tab-type', hidden: true },
    field(t('bundle.typeLabel'), typed, t('bundle.typeHint')).row, typedResult);
  const setTab = (which) => {
    state.tab = which;
    tabUpload.setAttribute('aria-selected', String(which === 'upload'));
    tabType.setAttribute('aria-selected', String(which === 'type'));
    panelUpload.hidden = which !== 'upload';
    panelType.hidden = which !== 'type';
  };
  tabUpload.addEventListener('click', () => setTab('upload'));
  tabType.addEventListener('click', () => setTab('type'));
  setTab('upload');

  // The message and its preview.
  const body = h('textarea', { id: 'bundle-body', rows: 4, maxlength: 1600 });
  const chips = h('div', { class: 'chips', id: 'placeholder-chips' });
  const unknownNote = h('p', { class: 'error-text', id: 'unknown-placeholders', role: 'alert', hidden: true });
  const preview = h('ul', { class: 'plain preview-list', id: 'bundle-preview', 'aria-live': 'polite' });
  const summary = h('p', { id: 'recipient-summary', class: 'muted' });
  const consent = h('input', { type: 'checkbox', id: 'consent' });
  const send = h('button', { type: 'submit', class: 'primary', id: 'bundle-send', text: t('bundle.send') });
  const canSend = app.isAdmin;
  const form = h('form', { class: 'card', id: 'bundle-form' },
    h('h2', { text: t('bundle.message') }),
    field(t('bundle.body'), body, t('bundle.bodyHint')).row, chips, unknownNote,
    h('h3', { text: t('bundle.preview') }), summary, preview,
    canSend ? h('div', { class: 'check' }, consent, h('label', { for: 'consent', text: t('bundle.consent') })) : null,
    canSend ? send : h('p', { class: 'muted', id: 'bundle-admin-only', text: t('bundle.adminOnly') }));

  const past = h('section', { class: 'card', id: 'past-bundles', 'aria-labelledby': 'past-title' });
  fill(main, h('section', { class: 'page', 'aria-labelledby': 'bundle-title' },
    h('h1', { id: 'bundle-title', text: t('bundle.title') }), status,
    h('div', { class: 'card' }, h('div', { class: 'tablist', role: 'tablist', 'aria-label': t('bundle.recipients') }, tabUpload, tabType), panelUpload, panelType),
    form, past));
  drawPast(past);

  const recipients = () => {
    const all = new Map();
    for (const r of state.uploaded.recipients.concat(state.typed.recipients)) {
      const prev = all.get(r.phone);
      all.set(r.phone, prev ? { ...prev, name: prev.name || r.name } : r);
    }
    return [...all.values()];
  };
  const known = () => {
    const k = new Set(['name', 'phone', 'language']);
    for (const r of recipients()) Object.keys(r.fields || {}).forEach((f) => k.add(f));
    return k;
  };

  function rejectedTable(rows) {
    if (!rows.length) return null;
    return h('table', { class: 'rejected' },
      h('caption', { text: t('bundle.rejected', { n: rows.length }) }),
      h('thead', {}, h('tr', {}, h('th', { text: t('bundle.row') }), h('th', { text: t('bundle.values') }), h('th', { text: t('bundle.reason') }))),
      h('tbody', {}, rows.map((r) => h('tr', {}, h('td', { text: String(r.row) }),
        h('td', { text: Object.values(r.values || {}).join(' · ') }), h('td', { text: r.reason })))));
  }

  function validTable(rows) {
    return h('table', { class: 'valid' },
      h('caption', { text: t('bundle.valid', { n: rows.length }) }),
      h('thead', {}, h('tr', {}, h('th', { text: t('panel.name') }), h('th', { text: t('panel.phone') }), h('th', { text: t('panel.language') }))),
      h('tbody', {}, rows.slice(0, 50).map((r) => h('tr', {}, h('td', { text: r.name || '' }), h('td', { text: r.phone }), h('td', { text: r.language || '' })))));
  }

  function update() {
    const list = recipients();
    const k = known();
    fill(chips, [...k].map((p) => h('button', { type: 'button', class: 'chip', text: '{' + p + '}',
      onclick: () => { body.setRangeText('{' + p + '}', body.selectionStart, body.selectionEnd, 'end'); body.focus(); update(); } })));
    const unknown = placeholders(body.value).filter((p) => !k.has(p));
    unknownNote.hidden = !unknown.length;
    unknownNote.textContent = unknown.length ? t('bundle.unknown', { list: unknown.map((p) => '{' + p + '}').join(', '), known: [...k].map((p) => '{' + p + '}').join(', ') }) : '';
    summary.textContent = t('bundle.summary', { n: list.length, max: MAX });
    fill(preview, list.slice(0, 3).map((r) => h('li', { class: 'bubble' }, h('small', { class: 'muted', text: (r.name ? r.name + ' · ' : '') + r.phone }),
      h('p', { text: render(body.value, r) }))));
    send.disabled = !canSend || !list.length || !body.value.trim() || unknown.length > 0 || list.length > MAX || !consent.checked;
  }

  let uploads = 0;
  async function upload() {
    const f = file.files && file.files[0];
    if (!f) return;
    const mine = ++uploads; // only the latest upload's answer counts
    const data = new FormData();
    data.append('file', f, f.name);
    if (cc.value.trim()) data.append('default_country_code', cc.value.trim());
    fill(uploadResult, h('p', { class: 'muted', text: t('loading') }));
    try {
      const r = await api('POST', '/api/whatsapp/bundle/preview', data);
      if (mine !== uploads) return;
      state.uploaded = { recipients: r.recipients || [], rejected: r.rejected || [], merged: r.duplicates_merged || 0, fields: r.fields || [] };
      fill(uploadResult,
        h('p', { id: 'upload-summary', text: t('bundle.uploadSummary', { rows: r.total_rows, valid: state.uploaded.recipients.length, rejected: state.uploaded.rejected.length, merged: state.uploaded.merged }) }),
        validTable(state.uploaded.recipients), rejectedTable(state.uploaded.rejected),
        state.uploaded.rejected.length ? h('p', { class: 'muted', text: t('bundle.fixHint') }) : null);
    } catch (err) {
      if (mine !== uploads) return;
      state.uploaded = { recipients: [], rejected: [], merged: 0, fields: [] };
      fill(uploadResult, h('p', { class: 'error-text', role: 'alert', text: explain(err) }));
    }
    update();
  }
  file.addEventListener('change', upload);
  cc.addEventListener('change', upload);
  typed.addEventListener('input', () => {
    state.typed = parseTyped(typed.value, cc.value);
    fill(typedResult, state.typed.recipients.length ? validTable(state.typed.recipients) : null, rejectedTable(state.typed.rejected));
    update();
  });
  body.addEventListener('input', update);
  consent.addEventListener('change', update);
  // The same Idempotency-Key while the batch is unchanged: a retried send queues one batch.
  const sendKeys = onceKeys();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (send.disabled) return;
    send.disabled = true;
    try {
      const request = { body: body.value, recipients: recipients(), consent_confirmed: consent.checked };
      const r = await post('/api/whatsapp/bundle/send', request, sendKeys.key(request));
      sendKeys.sent();
      location.hash = '#/bundle/' + r.batch_id;
    } catch (err) { setNotice(status, explain(err), 'error'); update(); }
  });
  update();
  return null;
}

/** Past bundles, newest first, each opening its progress view. */
function drawPast(box) {
  const status = notice('alert');
  setNotice(status, '');
  const rows = h('tbody', {});
  const more = h('button', { type: 'button', class: 'link', id: 'past-more', hidden: true, text: t('conv.more') });
  const empty = h('p', { class: 'muted', id: 'past-empty', hidden: true, text: t('bundle.noPast') });
  fill(box, h('h2', { id: 'past-title', text: t('bundle.past') }), status, empty,
    h('div', { class: 'table-scroll' }, h('table', { id: 'past-list' },
      h('thead', {}, h('tr', {}, h('th', { text: t('bundle.batch') }), h('th', { text: t('settings.when') }), h('th', { text: t('bundle.message') }),
        h('th', { text: t('bundle.status') }), h('th', { text: t('bundle.counts') }))),
      rows)), more);
  let cursor = null;
  async function load() {
    try {
      const r = await get('/api/whatsapp/bundles?limit=20' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      const items = r.items || [];
      rows.append(...items.map((b) => {
        const counts = Object.entries(b.counts || {}).filter(([, n]) => n > 0).map(([k, n]) => t('rstatus.' + k, {}, k) + ': ' + n).join(' · ');
        const excerpt = b.body.length > 80 ? b.body.slice(0, 79) + '…' : b.body;
        return h('tr', { 'data-id': b.id, 'data-status': b.status },
          h('td', {}, h('a', { href: '#/bundle/' + b.id, class: 'open-bundle', text: t('bundle.open', { id: b.id }) })),
          h('td', { text: dateTime(b.created_at) }),
          h('td', { class: 'excerpt', text: excerpt }),
          h('td', {}, h('span', { class: 'pill ' + (b.status === 'completed' ? 'ok' : 'pending'), text: t('bstatus.' + b.status, {}, b.status) })),
          h('td', { text: t('bundle.total', { n: b.total }) + (counts ? ' · ' + counts : '') }));
      }));
      cursor = r.next_cursor || null;
      more.hidden = !cursor;
      empty.hidden = rows.children.length > 0;
    } catch (err) { if (err.status !== 401) setNotice(status, explain(err), 'error'); }
  }
  more.addEventListener('click', load);
  load();
}

function progressView(main, id) {
  const status = notice('alert');
  setNotice(status, '');
  const head = h('div', { id: 'bundle-status' });
  const rows = h('tbody', {});
  fill(main, h('section', { class: 'page', 'aria-labelledby': 'progress-title' },
    h('a', { href: '#/bundle', class: 'button', text: '← ' + t('bundle.new') }),
    h('h1', { id: 'progress-title', text: t('bundle.progress', { id }) }), status, head,
    h('table', { class: 'progress', id: 'bundle-recipients' },
      h('thead', {}, h('tr', {}, h('th', { text: t('panel.name') }), h('th', { text: t('panel.phone') }), h('th', { text: t('bundle.status') }), h('th', { text: t('bundle.detail') }))),
      rows)));
  let stop = null;
  async function load() {
    try {
      const b = await get('/api/whatsapp/bundle/' + id);
      const counts = Object.entries(b.counts || {}).filter(([, n]) => n > 0).map(([k, n]) => t('rstatus.' + k, {}, k) + ': ' + n).join(' · ');
      fill(head,
        h('p', {}, h('span', { class: 'pill ' + (b.status === 'completed' ? 'ok' : 'pending'), id: 'batch-status', 'data-status': b.status, text: t('bstatus.' + b.status, {}, b.status) }),
          ' ', h('span', { id: 'batch-counts', text: counts })),
        h('p', { class: 'muted', text: t('bundle.created', { when: dateTime(b.created_at) }) }),
        h('blockquote', { class: 'bubble', text: b.body }));
      fill(rows, (b.recipients || []).map((r) => h('tr', { 'data-status': r.status },
        h('td', { text: r.name || '' }), h('td', { text: r.phone }),
        h('td', {}, h('span', { class: 'pill r-' + r.status, text: t('rstatus.' + r.status, {}, r.status) })),
        h('td', { text: r.error_message ? r.error_message + (r.error_code ? ' (' + r.error_code + ')' : '') : (r.sent_at ? dateTime(r.sent_at) : '') }))));
      if (b.status === 'completed' && stop) { stop(); stop = null; }
    } catch (err) { if (err.status !== 401) setNotice(status, explain(err), 'error'); }
  }
  load();
  stop = poll(load, 2000);
  return () => { if (stop) stop(); };
}
