// Settings: reminders, WhatsApp numbers, the clinic profile, the templates' Content SIDs, doctors and
// their weekly hours, members and roles, and the audit log (owners and admin doctors). What a role may
// not change is shown read-only or not at all; the API's own hints are shown as they come.
import { get, post, put, patch, del, explain, ApiError, session } from './api.js';
import { h, fill, field, notice, setNotice, confirmDialog } from './dom.js';
import { t, language } from './i18n.js';
import { dateTime } from './format.js';

/** The API's own message (it carries the hint: which number, which limit), with a sentence for 403. */
function hint(err) {
  if (err instanceof ApiError && err.status !== 403 && err.message) return err.message;
  return explain(err);
}

const SECTIONS = ['reminders', 'numbers', 'clinic', 'content-sids', 'doctors', 'members', 'sessions', 'audit'];

export function mount(main, params, app) {
  const box = (id) => h('section', { class: 'card', id, 'aria-labelledby': id + '-title' });
  const reminders = h('section', { class: 'card', id: 'reminders', 'aria-labelledby': 'rem-title' });
  const numbers = h('section', { class: 'card', id: 'numbers', 'aria-labelledby': 'num-title' });
  const clinic = box('clinic');
  const sids = box('content-sids');
  const doctors = box('doctors');
  const members = box('members');
  const sessions = box('sessions');
  const audit = app.isAdmin ? h('section', { class: 'card', id: 'audit', 'aria-labelledby': 'audit-title' }) : null;
  // In-page links as buttons: the address is the view's route, so a #fragment would leave Settings.
  const toc = h('nav', { class: 'toc', 'aria-label': t('settings.onThisPage') }, SECTIONS.filter((s) => s !== 'audit' || audit).map((s) =>
    h('button', { type: 'button', class: 'link', 'data-section': s, text: t('settings.section.' + s),
      onclick: () => { const el = main.querySelector('#' + s); if (el) { el.scrollIntoView(); const hd = el.querySelector('h2'); if (hd) { hd.tabIndex = -1; hd.focus(); } } } })));
  fill(main, h('section', { class: 'page settings', 'aria-labelledby': 'settings-title' },
    h('h1', { id: 'settings-title', text: t('nav.settings') }), toc, reminders, numbers, clinic, sids, doctors, members, sessions, audit));
  drawReminders(reminders, app);
  drawNumbers(numbers, app);
  drawClinic(clinic, app);
  drawContentSids(sids, app);
  const redrawDoctors = () => drawDoctors(doctors, app);
  redrawDoctors();
  drawMembers(members, app, redrawDoctors);
  drawSessions(sessions);
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

/** A modal with a choice among `choices` ({value, label, danger}) and Cancel; resolves to the value, or null. */
function chooseDialog(message, choices) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'aria-label': message });
    const done = (v) => { dialog.close(); dialog.remove(); resolve(v); };
    const cancel = h('button', { type: 'button', onclick: () => done(null), text: t('cancel') });
    const buttons = choices.map((c) => h('button', { type: 'button', class: c.danger ? 'danger choice-' + c.value : 'choice-' + c.value,
      onclick: () => done(c.value), text: c.label }));
    dialog.append(h('p', { text: message }), h('div', { class: 'actions' }, cancel, ...buttons));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); done(null); });
    document.body.appendChild(dialog);
    dialog.showModal();
    cancel.focus();
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
    let body;
    if (action === 'deactivate') {
      // What becomes of the number is asked, never assumed: kept by the clinic, or released to Twilio.
      const mode = await chooseDialog(t('settings.deactivateConfirm', { phone: s.phone_number }), [
        { value: 'keep', label: t('settings.deactivateKeep') },
        { value: 'release', label: t('settings.deactivateRelease'), danger: true },
      ]);
      if (!mode) return;
      body = { mode };
    }
    try {
      const r = await post(`/api/whatsapp/senders/${s.id}/${action}`, body);
      const done = r && r.number === 'released' ? t('settings.numberReleased') : r && r.number === 'kept' ? t('settings.numberKept') : t('saved');
      setNotice(status, done, 'ok');
    } catch (err) { setNotice(status, hint(err), 'error'); }
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

/** "Chrome on Linux" from a User-Agent, as a person names their device; the text itself (cut)
 *  when it names no browser we know. */
function deviceName(ua) {
  if (!ua) return '—';
  const browsers = [['Edg/', 'Edge'], ['OPR/', 'Opera'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Safari/', 'Safari']];
  const systems = [['Android', 'Android'], ['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Windows', 'Windows'],
    ['Mac OS X', 'macOS'], ['CrOS', 'ChromeOS'], ['Linux', 'Linux']];
  const browser = browsers.find(([mark]) => ua.includes(mark));
  if (!browser) return ua.length > 60 ? ua.slice(0, 60) + '…' : ua;
  const system = systems.find(([mark]) => ua.includes(mark));
  return system ? t('settings.deviceOn', { browser: browser[1], os: system[1] }) : browser[1];
}

/** The signed-in user's own sessions (any role): where and when, ending one, or all of them. */
async function drawSessions(box) {
  const status = notice('alert');
  const rows = h('tbody', {});
  const everywhere = h('button', { type: 'button', id: 'signout-everywhere', class: 'danger', text: t('settings.signOutEverywhere') });
  fill(box, h('h2', { id: 'sessions-title', text: t('settings.sessions') }), h('p', { class: 'hint', text: t('settings.sessionsHint') }), status,
    h('div', { class: 'table-scroll' }, h('table', { id: 'sessions-list' },
      h('thead', {}, h('tr', {}, h('th', { text: t('settings.device') }), h('th', { text: t('settings.address') }),
        h('th', { text: t('settings.signedIn') }), h('th', { text: t('settings.lastUsed') }), h('th', { text: '' }))),
      rows)), everywhere);
  async function load() {
    try {
      const items = (await get('/api/auth/sessions')).items || [];
      rows.replaceChildren(...items.map((s) => h('tr', { 'data-session': String(s.id) },
        h('td', { text: deviceName(s.user_agent), title: s.user_agent || '' }), h('td', { text: s.address_prefix || '—' }),
        h('td', { text: dateTime(s.created_at) }), h('td', { text: s.last_used_at ? dateTime(s.last_used_at) : '—' }),
        h('td', {}, s.current ? h('span', { class: 'pill ok', text: t('settings.thisSession') })
          : h('button', { type: 'button', class: 'link', text: t('settings.endSession'), onclick: () => end(s.id) })))));
    } catch (err) { setNotice(status, explain(err), 'error'); }
  }
  async function end(id) {
    try { await del('/api/auth/sessions/' + id); setNotice(status, t('settings.sessionEnded'), 'ok'); load(); }
    catch (err) { setNotice(status, explain(err), 'error'); }
  }
  everywhere.addEventListener('click', async () => {
    if (!(await confirmDialog(t('settings.signOutEverywhereConfirm'), t('settings.signOutEverywhere'), t('cancel')))) return;
    try {
      await post('/api/auth/logout-all');
      // This session ended too: back to the sign-in page.
      session.clear();
      location.hash = '';
      location.reload();
    } catch (err) { setNotice(status, explain(err), 'error'); }
  });
  load();
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

const LANGS = ['en', 'es'];

/** Clinic profile: what the bot tells patients, the timezone times are read in, the default language. */
async function drawClinic(box, app) {
  const status = notice('alert');
  fill(box, h('h2', { id: 'clinic-title', text: t('settings.clinicProfile') }), status);
  let c;
  try { c = await get('/api/clinic'); } catch (err) { setNotice(status, explain(err), 'error'); return; }
  const ro = !app.isAdmin;
  const name = h('input', { type: 'text', id: 'clinic-name', required: true, maxlength: 200, disabled: ro });
  const info = h('textarea', { id: 'clinic-info', rows: 3, maxlength: 2000, disabled: ro });
  const address = h('input', { type: 'text', id: 'clinic-address', maxlength: 500, disabled: ro });
  const phone = h('input', { type: 'tel', id: 'clinic-phone', maxlength: 40, placeholder: '+525512340000', disabled: ro });
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const tz = h('input', { type: 'text', id: 'clinic-timezone', required: true, list: 'tz-list', autocomplete: 'off', disabled: ro });
  const lang = h('select', { id: 'clinic-language', disabled: ro }, LANGS.map((l) => h('option', { value: l, text: t('lang.' + l) })));
  const show = (v) => {
    name.value = v.clinic_name || '';
    info.value = v.clinic_info || '';
    address.value = v.address || '';
    phone.value = v.phone || '';
    tz.value = v.timezone || '';
    lang.value = v.default_language || 'es';
  };
  show(c);
  const save = h('button', { type: 'submit', class: 'primary', id: 'clinic-save', text: t('save') });
  const form = h('form', { id: 'clinic-form', novalidate: true },
    field(t('settings.clinicName'), name).row,
    field(t('settings.clinicInfo'), info, t('settings.clinicInfoHint')).row,
    h('div', { class: 'row' }, field(t('settings.address'), address).row, field(t('panel.phone'), phone).row),
    h('div', { class: 'row' }, field(t('settings.timezone'), tz, t('settings.timezoneHint')).row, field(t('settings.defaultLanguage'), lang).row),
    h('datalist', { id: 'tz-list' }, zones.map((z) => h('option', { value: z }))),
    ro ? h('p', { class: 'muted', id: 'clinic-readonly', text: t('settings.readOnly') }) : save);
  box.appendChild(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (ro) return;
    // Empty clears the optional fields; the API trims and checks the rest (its hint is shown as it comes).
    const opt = (el) => el.value.trim() || null;
    save.disabled = true;
    try {
      show(await put('/api/clinic', { clinic_name: name.value.trim(), clinic_info: opt(info), address: opt(address), phone: opt(phone),
        timezone: tz.value.trim(), default_language: lang.value }));
      setNotice(status, t('saved'), 'ok');
    } catch (err) { setNotice(status, hint(err), 'error'); }
    save.disabled = false;
  });
}

/** Meta Content template SIDs per template and language: what sends a template after the 24-hour window. */
async function drawContentSids(box, app) {
  const status = notice('alert');
  fill(box, h('h2', { id: 'content-sids-title', text: t('settings.contentSids') }),
    h('p', { class: 'muted', text: t('settings.contentSidsIntro') }), status);
  let templates;
  try { templates = (await get('/api/whatsapp/templates')).templates || []; } catch (err) { setNotice(status, explain(err), 'error'); return; }
  const ro = !app.isAdmin;
  const list = h('ul', { class: 'plain sid-list', id: 'sid-list' });
  for (const tpl of templates) {
    const label = t('tpl.' + tpl.id, {}, tpl.id);
    const inputs = {};
    const fields = LANGS.map((l) => {
      inputs[l] = h('input', { type: 'text', 'data-lang': l, maxlength: 34, spellcheck: false, autocomplete: 'off', placeholder: 'HX…', disabled: ro });
      inputs[l].value = (tpl.content_sids || {})[l] || '';
      return field(t('settings.sidFor', { lang: t('lang.' + l) }), inputs[l]).row;
    });
    const rowStatus = notice('alert');
    setNotice(rowStatus, '');
    const save = ro ? null : h('button', { type: 'submit', class: 'sid-save', text: t('save'), 'aria-label': t('settings.saveSids', { name: label }) });
    const form = h('form', { class: 'sid-form', 'data-template': tpl.id, novalidate: true },
      h('h3', { text: label }), h('div', { class: 'row' }, fields), rowStatus, save);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (ro) return;
      const body = {};
      for (const l of LANGS) body[l] = inputs[l].value.trim() || null;
      save.disabled = true;
      try {
        const r = await put(`/api/whatsapp/templates/${encodeURIComponent(tpl.id)}/content-sids`, body);
        for (const l of LANGS) inputs[l].value = (r.content_sids || {})[l] || '';
        setNotice(rowStatus, t('saved'), 'ok');
      } catch (err) { setNotice(rowStatus, hint(err), 'error'); }
      save.disabled = false;
    });
    list.appendChild(h('li', {}, form));
  }
  box.append(list);
  if (ro) box.append(h('p', { class: 'muted', id: 'sids-readonly', text: t('settings.readOnly') }));
}

/** Appends the children that are there (Element.append would write "null"). */
function appendPresent(el, ...children) { el.append(...children.filter(Boolean)); }

/** Weekday names in the page's language (0 = Sunday, as the API counts). */
function weekdayName(d) {
  return new Intl.DateTimeFormat(language(), { weekday: 'long', timeZone: 'UTC' }).format(new Date(Date.UTC(2023, 0, 1 + d)));
}

/** Doctors and their weekly hours and time off. Admins edit anyone's; a doctor their own; others read. */
async function drawDoctors(box, app) {
  const status = notice('alert');
  const editor = h('div', { id: 'availability' });
  fill(box, h('h2', { id: 'doctors-title', text: t('settings.doctors') }), status);
  // Members redraw this section when they change: only the latest drawing fills it.
  const drawing = String(Number(box.dataset.drawing || 0) + 1);
  box.dataset.drawing = drawing;
  let doctors;
  try { doctors = (await get('/api/doctors')).items || []; } catch (err) { setNotice(status, explain(err), 'error'); return; }
  if (box.dataset.drawing !== drawing) return;
  if (!doctors.length) {
    box.append(h('p', { class: 'muted', id: 'no-doctors', text: app.role === 'owner' ? t('settings.noDoctorsOwner') : t('settings.noDoctors') }));
    return;
  }
  const me = app.user && app.user.id;
  const label = (d) => (d.name || d.email) + ' · ' + t('role.' + d.role, {}, d.role);
  const pick = h('select', { id: 'doctor-pick' }, doctors.map((d) => h('option', { value: String(d.id), selected: d.id === me, text: label(d) })));
  box.append(field(t('settings.doctor'), pick).row, editor);
  pick.addEventListener('change', () => load());

  async function load() {
    const doctor = doctors.find((d) => String(d.id) === pick.value);
    if (!doctor) return;
    fill(editor, h('p', { class: 'muted', text: t('loading') }));
    let a;
    try { a = await get(`/api/doctors/${doctor.id}/availability`); } catch (err) { fill(editor); setNotice(status, explain(err), 'error'); return; }
    if (pick.value !== String(doctor.id)) return; // another doctor was picked meanwhile
    setNotice(status, '');
    draw(doctor, a);
  }

  function draw(doctor, a) {
    const canEdit = app.isAdmin || (app.role === 'doctor' && doctor.id === me);
    const weekly = h('ul', { class: 'plain ranges', id: 'weekly-rows' });
    const off = h('ul', { class: 'plain ranges', id: 'timeoff-rows' });
    const text = (id, value, attrs = {}) => { const el = h('input', { type: 'text', disabled: !canEdit, ...attrs }); el.value = value || ''; el.dataset.k = id; return el; };
    const removeButton = (li, what) => (canEdit ? h('button', { type: 'button', class: 'link remove-row', text: t('settings.remove'),
      'aria-label': t('settings.removeWhat', { what }), onclick: () => { li.remove(); } }) : null);
    const addWeekly = (w) => {
      const day = h('select', { disabled: !canEdit }, [1, 2, 3, 4, 5, 6, 0].map((d) => h('option', { value: String(d), selected: d === w.weekday, text: weekdayName(d) })));
      day.dataset.k = 'weekday';
      const li = h('li', { class: 'range weekly' });
      appendPresent(li, field(t('settings.weekday'), day).row,
        field(t('settings.from'), text('start', w.start, { placeholder: '09:00', maxlength: 5, inputmode: 'numeric', class: 'time' })).row,
        field(t('settings.to'), text('end', w.end, { placeholder: '13:00', maxlength: 5, inputmode: 'numeric', class: 'time' })).row,
        field(t('settings.slotMinutes'), text('slot', String(w.slot_minutes || 30), { maxlength: 3, inputmode: 'numeric', class: 'time' })).row,
        removeButton(li, weekdayName(w.weekday) + ' ' + (w.start || '')));
      weekly.appendChild(li);
      return li;
    };
    const addOff = (o) => {
      const li = h('li', { class: 'range timeoff' });
      appendPresent(li, field(t('settings.from'), text('from', o.from, { placeholder: '2026-12-24', maxlength: 16 })).row,
        field(t('settings.to'), text('to', o.to, { placeholder: '2026-12-26', maxlength: 16 })).row,
        field(t('settings.reason'), text('reason', o.reason, { maxlength: 200 })).row,
        removeButton(li, o.from || ''));
      off.appendChild(li);
      return li;
    };
    (a.weekly || []).forEach(addWeekly);
    (a.time_off || []).forEach(addOff);
    const empty = (list, key) => (list.children.length ? null : h('p', { class: 'muted', text: t(key) }));
    const formStatus = notice('alert');
    setNotice(formStatus, '');
    const form = h('form', { id: 'availability-form', novalidate: true, 'data-doctor': doctor.id },
      h('p', { class: 'muted', text: t('settings.localTimes', { tz: a.timezone }) }),
      h('h3', { text: t('settings.weeklyHours') }), empty(weekly, canEdit ? 'settings.noHoursEdit' : 'settings.noHours'), weekly,
      canEdit ? h('button', { type: 'button', id: 'add-hours', text: t('settings.addHours'),
        onclick: () => { const li = addWeekly({ weekday: 1, start: '09:00', end: '13:00', slot_minutes: 30 }); li.querySelector('select').focus(); } }) : null,
      h('h3', { text: t('settings.timeOff') }), off,
      canEdit ? h('button', { type: 'button', id: 'add-timeoff', text: t('settings.addTimeOff'),
        onclick: () => { const li = addOff({}); li.querySelector('input').focus(); } }) : null,
      formStatus,
      canEdit ? h('button', { type: 'submit', class: 'primary', id: 'availability-save', text: t('settings.saveHours') })
        : h('p', { class: 'muted', id: 'availability-readonly', text: t('settings.availabilityReadOnly') }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!canEdit) return;
      const val = (li, k) => { const el = li.querySelector(`[data-k="${k}"]`); return el ? el.value.trim() : ''; };
      const body = {
        weekly: [...weekly.children].map((li) => ({ weekday: Number(val(li, 'weekday')), start: val(li, 'start'), end: val(li, 'end'),
          slot_minutes: Number(val(li, 'slot')) || 30 })),
        time_off: [...off.children].map((li) => ({ from: val(li, 'from'), to: val(li, 'to'), reason: val(li, 'reason') || null })),
      };
      const save = form.querySelector('#availability-save');
      save.disabled = true;
      try {
        const r = await put(`/api/doctors/${doctor.id}/availability`, body);
        draw(doctor, r);
        setNotice(editor.querySelector('#availability-form [role=alert]'), t('saved'), 'ok');
      } catch (err) { setNotice(formStatus, hint(err), 'error'); save.disabled = false; }
    });
    fill(editor, form);
  }
  load();
}

const ROLES = ['owner', 'admin_doctor', 'doctor', 'staff'];

/** Members and their roles: everyone reads; the owner adds, changes roles and removes. */
async function drawMembers(box, app, changed) {
  const status = notice('alert');
  const rows = h('tbody', {});
  const owner = app.role === 'owner';
  fill(box, h('h2', { id: 'members-title', text: t('settings.members') }), status,
    h('div', { class: 'table-scroll' }, h('table', { id: 'members-table' },
      h('thead', {}, h('tr', {}, h('th', { text: t('panel.name') }), h('th', { text: t('signin.email') }), h('th', { text: t('settings.role') }),
        owner ? h('th', { text: t('settings.actions') }) : null)),
      rows)));
  const me = app.user && app.user.id;
  async function load() {
    let items;
    try { items = (await get('/api/members')).items || []; } catch (err) { setNotice(status, explain(err), 'error'); return; }
    fill(rows, items.map((m) => {
      const self = m.user_id === me;
      let roleCell = h('td', { class: 'role', 'data-role': m.role, text: t('role.' + m.role, {}, m.role) });
      if (owner && !self) {
        const select = h('select', { class: 'member-role', 'aria-label': t('settings.roleOf', { name: m.name || m.email }) },
          ROLES.map((r) => h('option', { value: r, selected: r === m.role, text: t('role.' + r) })));
        select.addEventListener('change', async () => {
          try {
            await patch(`/api/members/${m.user_id}`, { role: select.value });
            setNotice(status, t('settings.roleChanged', { name: m.name || m.email, role: t('role.' + select.value) }), 'ok');
            changed();
          } catch (err) { setNotice(status, hint(err), 'error'); }
          load();
        });
        roleCell = h('td', { class: 'role', 'data-role': m.role }, select);
      }
      return h('tr', { 'data-id': m.user_id, 'data-email': m.email },
        h('td', { text: m.name || '—' }), h('td', { text: m.email }), roleCell,
        owner ? h('td', { class: 'actions' }, self ? h('span', { class: 'muted', text: t('settings.you') }) :
          h('button', { type: 'button', class: 'danger remove-member', text: t('settings.remove'), 'aria-label': t('settings.removeWhat', { what: m.email }),
            onclick: async () => {
              if (!(await confirmDialog(t('settings.removeMemberConfirm', { email: m.email }), t('settings.remove'), t('cancel')))) return;
              try { await del(`/api/members/${m.user_id}`); setNotice(status, t('settings.memberRemoved', { email: m.email }), 'ok'); changed(); } catch (err) { setNotice(status, hint(err), 'error'); }
              load();
            } })) : null);
    }));
  }
  await load();
  if (!owner) return;
  const email = h('input', { type: 'email', id: 'member-email', required: true, autocomplete: 'off' });
  const name = h('input', { type: 'text', id: 'member-name', maxlength: 200, autocomplete: 'off' });
  const role = h('select', { id: 'member-role' }, ROLES.map((r) => h('option', { value: r, selected: r === 'doctor', text: t('role.' + r) })));
  // The link is shown once, here: MedSync sends no email, the owner passes it on.
  const linkBox = h('div', { class: 'invite-link', id: 'invite-link', hidden: true });
  const form = h('form', { class: 'subform', id: 'member-form', novalidate: true }, h('h3', { text: t('settings.addMember') }),
    h('p', { class: 'muted', text: t('settings.inviteIntro') }),
    h('div', { class: 'row' }, field(t('signin.email'), email).row, field(t('panel.name'), name).row),
    h('div', { class: 'row' }, field(t('settings.role'), role).row),
    h('button', { type: 'submit', id: 'member-add', text: t('settings.addMemberButton') }), linkBox);
  const invitations = h('tbody', {});
  const invitationsBox = h('div', { class: 'subform', id: 'invitations' }, h('h3', { text: t('settings.invitations') }),
    h('div', { class: 'table-scroll' }, h('table', { id: 'invitations-table' },
      h('thead', {}, h('tr', {}, h('th', { text: t('signin.email') }), h('th', { text: t('settings.role') }),
        h('th', { text: t('settings.inviteExpires') }), h('th', { text: t('settings.actions') }))),
      invitations)));
  async function loadInvitations() {
    let items;
    try { items = (await get('/api/invitations')).items || []; } catch (err) { setNotice(status, explain(err), 'error'); return; }
    fill(invitations, items.length ? items.map((i) => h('tr', { 'data-id': i.id, 'data-email': i.email },
      h('td', { text: i.email }), h('td', { text: t('role.' + i.role, {}, i.role) }),
      h('td', { class: i.status === 'expired' ? 'muted' : '', text: i.status === 'expired' ? t('settings.inviteExpired') : dateTime(i.expires_at) }),
      h('td', { class: 'actions' }, h('button', { type: 'button', class: 'danger revoke-invitation', text: t('settings.revoke'),
        'aria-label': t('settings.revokeWhat', { email: i.email }),
        onclick: async () => {
          try { await del(`/api/invitations/${i.id}`); setNotice(status, t('settings.inviteRevoked', { email: i.email }), 'ok'); } catch (err) { setNotice(status, hint(err), 'error'); }
          loadInvitations();
        } }))))
      : [h('tr', {}, h('td', { colspan: 4, class: 'muted', text: t('settings.noInvitations') }))]);
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { email: email.value.trim(), role: role.value };
    if (name.value.trim()) body.name = name.value.trim();
    try {
      const r = await post('/api/members', body);
      form.reset();
      role.value = 'doctor';
      const url = location.origin + location.pathname + r.invite_path.replace(/^\//, '');
      const input = h('input', { type: 'text', id: 'invite-url', readonly: true, value: url, 'aria-label': t('settings.inviteLink') });
      const copy = h('button', { type: 'button', id: 'invite-copy', text: t('settings.copyLink'),
        onclick: async () => {
          input.select();
          try { await navigator.clipboard.writeText(url); setNotice(status, t('settings.linkCopied'), 'ok'); } catch (err) { /* selected: the owner copies it */ }
        } });
      fill(linkBox, h('p', { text: t('settings.inviteCreated', { email: r.invitation.email }) }), h('div', { class: 'row' }, input, copy));
      linkBox.hidden = false;
      setNotice(status, t('settings.memberInvited', { email: r.invitation.email }), 'ok');
      input.focus();
      input.select();
    } catch (err) { setNotice(status, hint(err), 'error'); }
    loadInvitations();
  });
  box.appendChild(form);
  box.appendChild(invitationsBox);
  loadInvitations();
}
