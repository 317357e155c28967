// Settings: reminders, WhatsApp numbers, the audit log (owners and admin doctors), and the places
// the clinic settings will fill when their routes exist.
import { get, post, put, explain, ApiError } from './api.js';
import { h, fill, field, notice, setNotice, confirmDialog } from './dom.js';
import { t } from './i18n.js';
import { dateTime } from './format.js';

/** The API's own message (it carries the hint: which number, which limit), with a sentence for 403. */
function hint(err) {
  if (err instanceof ApiError && err.status !== 403 && err.message) return err.message;
  return explain(err);
}

export function mount(main, params, app) {
  const reminders = h('section', { class: 'card', id: 'reminders', 'aria-labelledby': 'rem-title' });
  const numbers = h('section', { class: 'card', id: 'numbers', 'aria-labelledby': 'num-title' });
  const audit = app.isAdmin ? h('section', { class: 'card', id: 'audit', 'aria-labelledby': 'audit-title' }) : null;
  const later = h('section', { class: 'card muted', id: 'clinic-later', 'aria-labelledby': 'later-title' },
    h('h2', { id: 'later-title', text: t('settings.clinic') }),
    h('ul', {}, ['profile', 'contentSids', 'availability', 'members'].map((k) => h('li', { 'data-section': k, text: t('settings.later.' + k) }))),
    h('p', { class: 'small', text: t('settings.laterNote') }));
  fill(main, h('section', { class: 'page settings', 'aria-labelledby': 'settings-title' },
    h('h1', { id: 'settings-title', text: t('nav.settings') }), reminders, numbers, audit, later));
  drawReminders(reminders, app);
  drawNumbers(numbers, app);
  if (audit) drawAudit(audit);
  return null;
}

async function drawReminders(box, app) {
  const status = notice('alert');
  fill(box, h('h2', { id: 'rem-title', text: t('settings.reminders') }), status);
  let s, templates;
  try {
    [s, templates] = await Promise.all([get('/api/whatsapp/reminder-settings'), get('/api/whatsapp/templates').then((r) => r.templates || [])]);
  } catch (err) { setNotice(status, explain(err), 'error'); return; }
  const ro = !app.isAdmin;
  const enabled = h('input', { type: 'checkbox', id: 'rem-enabled', checked: s.enabled, disabled: ro });
  const hours = h('input', { type: 'number', id: 'rem-hours', min: 1, max: 72, step: 1, required: true, value: String(s.hours_before), disabled: ro });
  const isCustom = s.template_key === 'custom';
  const modeTpl = h('input', { type: 'radio', name: 'rem-mode', id: 'rem-mode-template', value: 'template', checked: !isCustom, disabled: ro });
  const modeCustom = h('input', { type: 'radio', name: 'rem-mode', id: 'rem-mode-custom', value: 'custom', checked: isCustom, disabled: ro });
  const tpl = h('select', { id: 'rem-template', disabled: ro },
    templates.filter((x) => x.id !== 'custom').map((x) => h('option', { value: x.id, selected: x.id === s.template_key, text: t('tpl.' + x.id, {}, x.id) })));
  const custom = h('textarea', { id: 'rem-custom', rows: 3, maxlength: 1000, disabled: ro });
  custom.value = s.custom_message || '';
  const lang = h('select', { id: 'rem-language', disabled: ro },
    ['en', 'es'].map((l) => h('option', { value: l, selected: l === s.language, text: t('lang.' + l) })));
  const tplRow = field(t('settings.template'), tpl).row;
  const customRow = field(t('settings.custom'), custom, t('settings.customHint')).row;
  const sync = () => { tplRow.hidden = modeCustom.checked; customRow.hidden = !modeCustom.checked; };
  modeTpl.addEventListener('change', sync);
  modeCustom.addEventListener('change', sync);
  sync();
  const save = h('button', { type: 'submit', class: 'primary', id: 'rem-save', text: t('save') });
  const form = h('form', { id: 'rem-form', novalidate: true },
    h('div', { class: 'check' }, enabled, h('label', { for: 'rem-enabled', text: t('settings.enabled') })),
    field(t('settings.hours'), hours, t('settings.hoursHint')).row,
    h('fieldset', {}, h('legend', { text: t('settings.what') }),
      h('div', { class: 'check' }, modeTpl, h('label', { for: 'rem-mode-template', text: t('settings.useTemplate') })),
      h('div', { class: 'check' }, modeCustom, h('label', { for: 'rem-mode-custom', text: t('settings.useCustom') }))),
    tplRow, customRow, field(t('composer.language'), lang).row,
    ro ? h('p', { class: 'muted', id: 'rem-readonly', text: t('settings.readOnly') }) : save);
  box.appendChild(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const n = Number(hours.value);
    if (!Number.isInteger(n) || n < 1 || n > 72) { setNotice(status, t('settings.hoursHint'), 'error'); hours.focus(); return; }
    const body = { enabled: enabled.checked, hours_before: n, language: lang.value,
      template_key: modeCustom.checked ? 'custom' : tpl.value, custom_message: modeCustom.checked ? custom.value : '' };
    save.disabled = true;
    try {
      await put('/api/whatsapp/reminder-settings', body);
      setNotice(status, t('saved'), 'ok');
    } catch (err) { setNotice(status, hint(err), 'error'); }
    save.disabled = false;
  });
}

async function drawNumbers(box, app) {
  const status = notice('alert');
  const table = h('tbody', {});
  fill(box, h('h2', { id: 'num-title', text: t('settings.numbers') }), status,
    h('table', { class: 'senders', id: 'senders' },
      h('thead', {}, h('tr', {}, h('th', { text: t('settings.number') }), h('th', { text: t('settings.displayName') }),
        h('th', { text: t('bundle.status') }), app.isAdmin ? h('th', { text: t('settings.actions') }) : null)),
      table));
  async function load() {
    try {
      const r = await get('/api/whatsapp/senders');
      fill(table, (r.items || []).map((s) => h('tr', { 'data-id': s.id },
        h('td', { text: s.phone_number }), h('td', { text: s.display_name || '' }),
        h('td', {}, h('span', { class: 'pill ' + (s.is_active ? 'ok' : 'closed'), text: s.is_active ? t('settings.active') : t('settings.inactive') }),
          s.is_primary ? h('span', { class: 'pill', text: t('settings.primary') }) : null),
        app.isAdmin ? h('td', { class: 'actions' },
          s.is_active && !s.is_primary ? h('button', { type: 'button', class: 'make-primary', onclick: () => act(s, 'make-primary'), text: t('settings.makePrimary') }) : null,
          s.is_active ? h('button', { type: 'button', class: 'danger deactivate', onclick: () => act(s, 'deactivate'), text: t('settings.deactivate') }) : null) : null)));
    } catch (err) { setNotice(status, explain(err), 'error'); }
  }
  async function act(s, action) {
    if (action === 'deactivate' && !(await confirmDialog(t('settings.deactivateConfirm', { phone: s.phone_number }), t('settings.deactivate'), t('cancel')))) return;
    try { await post(`/api/whatsapp/senders/${s.id}/${action}`); setNotice(status, t('saved'), 'ok'); } catch (err) { setNotice(status, hint(err), 'error'); }
    load();
  }
  await load();
  if (!app.isAdmin) return;

  const phone = h('input', { type: 'tel', id: 'link-phone', required: true, placeholder: '+15550001000' });
  const display = h('input', { type: 'text', id: 'link-name' });
  const sub = h('input', { type: 'text', id: 'link-sub', autocomplete: 'off', placeholder: 'AC…' });
  const subToken = h('input', { type: 'password', id: 'link-token', autocomplete: 'off' });
  const link = h('form', { class: 'subform', id: 'link-form' }, h('h3', { text: t('settings.link') }),
    field(t('settings.number'), phone).row, field(t('settings.displayName'), display).row,
    h('details', {}, h('summary', { text: t('settings.subaccount') }), field(t('settings.subSid'), sub).row, field(t('settings.subToken'), subToken).row),
    h('button', { type: 'submit', text: t('settings.linkButton') }));
  link.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { phone_number: phone.value.trim() };
    if (display.value.trim()) body.display_name = display.value.trim();
    if (sub.value.trim()) { body.twilio_subaccount_sid = sub.value.trim(); body.twilio_subaccount_token = subToken.value; }
    try { await post('/api/whatsapp/link-existing', body); link.reset(); setNotice(status, t('saved'), 'ok'); } catch (err) { setNotice(status, hint(err), 'error'); }
    load();
  });
  const clinic = h('input', { type: 'text', id: 'prov-name', required: true, value: app.workspace ? app.workspace.name : '' });
  const country = h('input', { type: 'text', id: 'prov-country', maxlength: 2, placeholder: 'US' });
  const area = h('input', { type: 'text', id: 'prov-area', inputmode: 'numeric', maxlength: 5 });
  const provision = h('form', { class: 'subform', id: 'provision-form' }, h('h3', { text: t('settings.provision') }),
    field(t('settings.clinicName'), clinic).row, h('div', { class: 'row' }, field(t('settings.country'), country).row, field(t('settings.areaCode'), area).row),
    h('button', { type: 'submit', text: t('settings.provisionButton') }));
  provision.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { clinic_name: clinic.value.trim() };
    if (country.value.trim()) body.country = country.value.trim().toUpperCase();
    if (area.value.trim()) body.area_code = area.value.trim();
    setNotice(status, t('loading'), 'info');
    try { await post('/api/whatsapp/provision', body); setNotice(status, t('saved'), 'ok'); } catch (err) { setNotice(status, hint(err), 'error'); }
    load();
  });
  box.append(h('div', { class: 'two' }, link, provision));
}

async function drawAudit(box) {
  const status = notice('alert');
  const rows = h('tbody', {});
  const more = h('button', { type: 'button', class: 'link', hidden: true, text: t('conv.more') });
  fill(box, h('h2', { id: 'audit-title', text: t('settings.audit') }), status,
    h('div', { class: 'table-scroll' }, h('table', { id: 'audit-log' },
      h('thead', {}, h('tr', {}, h('th', { text: t('settings.when') }), h('th', { text: t('settings.who') }), h('th', { text: t('settings.action') }), h('th', { text: t('bundle.detail') }))),
      rows)), more);
  let before = null;
  async function load() {
    try {
      const r = await get('/api/whatsapp/audit-log?limit=50' + (before ? '&before=' + before : ''));
      const items = r.items || [];
      rows.append(...items.map((a) => h('tr', {}, h('td', { text: dateTime(a.created_at) }), h('td', { text: a.user_email || '—' }),
        h('td', { text: a.action }), h('td', { text: [a.target_type, a.target_id].filter(Boolean).join(' ') + ' ' +
          Object.entries(a.details || {}).map(([k, v]) => k + '=' + v).join(', ') }))));
      before = items.length ? items[items.length - 1].id : null;
      more.hidden = items.length < 50;
    } catch (err) { setNotice(status, explain(err), 'error'); }
  }
  more.addEventListener('click', load);
  load();
}
