// One conversation: messages (oldest first, live through `since`), the composer, actions, the patient panel.
import { get, post, patch, del, qs, explain, onceKeys } from './api.js';
import { h, fill, field, notice, setNotice, poll, confirmDialog } from './dom.js';
import { t } from './i18n.js';
import { when, dateTime, windowLabel, windowOpen, tick, patientName, sinceFrom } from './format.js';

let templatesCache = null;
async function templates() {
  if (!templatesCache) templatesCache = get('/api/whatsapp/templates').then((r) => r.templates || []).catch((e) => { templatesCache = null; throw e; });
  return templatesCache;
}

function parseMedia(text) {
  try {
    const m = JSON.parse(text || '[]');
    return Array.isArray(m) ? m.filter((x) => x && typeof x.url === 'string') : [];
  } catch (e) { return []; }
}

function mediaNode(m) {
  let url;
  try { url = new URL(m.url, location.href); } catch (e) { return null; }
  if (!['http:', 'https:'].includes(url.protocol)) return null;
  const type = String(m.content_type || '');
  // Images from our own origin show inline; others are links (the CSP allows only 'self').
  if (type.startsWith('image/') && url.origin === location.origin) {
    return h('img', { class: 'media', src: url.href, alt: t('thread.image') });
  }
  return h('a', { class: 'media-link', href: url.href, target: '_blank', rel: 'noopener noreferrer', text: t('thread.attachment', { type: type || '?' }) });
}

function messageNode(m) {
  const out = m.direction === 'outbound';
  const failed = m.status === 'failed' || m.status === 'undelivered';
  return h('li', { class: 'msg ' + (out ? 'out' : 'in') + (failed ? ' failed' : ''), 'data-id': m.id, 'data-status': m.status },
    m.body ? h('p', { class: 'body', text: m.body }) : null,
    parseMedia(m.media).map(mediaNode),
    h('div', { class: 'meta' },
      m.template_key ? h('span', { class: 'muted', text: t('thread.template', { name: m.template_key }) }) : null,
      h('time', { text: when(m.created_at), title: dateTime(m.created_at) }),
      out ? h('span', { class: 'tick', 'data-status': m.status, title: t('status.' + m.status, {}, m.status), 'aria-label': t('status.' + m.status, {}, m.status) }, tick(m.status)) : null),
    failed ? h('p', { class: 'error-text', role: 'note',
      text: t('thread.failed', { reason: m.error_message || t('thread.noReason'), code: m.error_code != null ? m.error_code : '—' }) }) : null);
}

export function mount(pane, panel, id, app, { changed, layout }) {
  const state = { conv: null, messages: new Map(), next: null, since: null, composerFor: null };
  // One Idempotency-Key per composed message, the same on a retry: a retried send is delivered once.
  const sendKeys = onceKeys();
  const list = h('ol', { class: 'messages', id: 'messages', 'aria-live': 'polite', 'aria-label': t('thread.messages') });
  const older = h('button', { type: 'button', class: 'link', id: 'older', hidden: true, text: t('thread.older') });
  const head = h('div', { class: 'pane-head thread-head' });
  const status = notice('alert');
  setNotice(status, '');
  const composer = h('div', { class: 'composer', id: 'composer' });
  fill(pane, head, status, h('div', { class: 'scroll', id: 'thread-scroll' }, older, list), composer);
  fill(panel, h('p', { class: 'muted', text: t('loading') }));

  function drawMessages(stick) {
    const scroll = pane.querySelector('#thread-scroll');
    const atBottom = stick || (scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 40);
    const items = [...state.messages.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id));
    fill(list, items.map(messageNode));
    if (!items.length) list.appendChild(h('li', { class: 'muted empty', text: t('thread.empty') }));
    older.hidden = !state.next;
    if (atBottom) scroll.scrollTop = scroll.scrollHeight;
  }

  function drawHead() {
    const c = state.conv;
    const open = windowOpen(c.window);
    const handoff = c.state === 'handoff';
    fill(head,
      h('a', { href: '#/conversations', class: 'back button', text: '← ' + t('thread.back') }),
      h('div', { class: 'who' },
        h('h2', { id: 'thread-title', text: patientName(c.patient) }),
        h('span', { class: 'pill ' + (open ? 'ok' : 'closed'), id: 'window-badge', 'data-window': open ? 'open' : 'closed', text: windowLabel(c.window) }),
        h('span', { class: 'pill ' + (handoff ? 'handoff' : 'bot'), id: 'state-badge', 'data-state': c.state, text: handoff ? t('conv.handoff') : t('conv.bot') })),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'panel-toggle', text: t('panel.show'), 'aria-controls': 'patient-panel',
          onclick: () => layout.classList.toggle('show-panel') }),
        handoff
          ? h('button', { type: 'button', id: 'resume-bot', onclick: () => setState('resume-bot'), text: t('thread.resume') })
          : h('button', { type: 'button', id: 'handoff', onclick: () => setState('handoff'), text: t('thread.handoff') }),
        h('button', { type: 'button', class: 'danger', id: 'delete-conv', onclick: remove, text: t('thread.delete') })));
  }

  async function setState(action) {
    try {
      state.conv = await post(`/api/whatsapp/conversations/${id}/${action}`);
      drawHead();
      changed();
    } catch (err) { setNotice(status, explain(err), 'error'); }
  }

  async function remove() {
    const ok = await confirmDialog(t('thread.deleteConfirm', { name: patientName(state.conv.patient) }), t('thread.delete'), t('cancel'));
    if (!ok) return;
    try {
      await del(`/api/whatsapp/conversations/${id}`);
      location.hash = '#/conversations';
    } catch (err) { setNotice(status, explain(err), 'error'); }
  }

  // The patient panel: name, phone, language and consent (language and consent editable, as the API
  // allows), and the upcoming appointments — awaiting review or confirmed.
  const patientURL = () => `/api/patients/${state.conv.patient.id}`;
  let panelStatus = null;
  let facts = null;
  let appts = null;

  function drawFacts(p) {
    const lang = h('select', { id: 'patient-language' },
      h('option', { value: '', selected: !p.preferred_language, text: '—' }),
      ['en', 'es'].map((l) => h('option', { value: l, selected: l === p.preferred_language, text: t('lang.' + l) })));
    const consent = h('input', { type: 'checkbox', id: 'patient-consent-input', checked: !!p.consent_whatsapp });
    const change = async (body) => {
      lang.disabled = consent.disabled = true;
      try {
        let r;
        try { r = await patch(patientURL(), body); } catch (err) {
          // A patient who replied STOP is opted back in only when staff confirm they asked for it.
          if (err.code !== 'consent_confirmation_required') throw err;
          if (!(await confirmDialog(t('panel.optInConfirm', { name: patientName(p) }), t('panel.optIn'), t('cancel')))) { drawFacts(p); return; }
          r = await patch(patientURL(), { ...body, consent_confirmed: true });
        }
        Object.assign(state.conv.patient, { preferred_language: r.preferred_language, consent_whatsapp: r.consent_whatsapp, name: r.name });
        drawFacts(r);
        setNotice(panelStatus, t('saved'), 'ok');
      } catch (err) { drawFacts(p); setNotice(panelStatus, explain(err), 'error'); }
    };
    lang.addEventListener('change', () => change({ preferred_language: lang.value || null }));
    consent.addEventListener('change', () => change({ consent_whatsapp: consent.checked }));
    fill(facts,
      h('dl', { class: 'facts' },
        h('dt', { text: t('panel.name') }), h('dd', { id: 'patient-name', text: p.name || '—' }),
        h('dt', { text: t('panel.phone') }), h('dd', { id: 'patient-phone', text: p.phone })),
      field(t('panel.language'), lang).row,
      h('div', { class: 'check' }, consent, h('label', { for: 'patient-consent-input', text: t('panel.consentLabel') })),
      h('p', { class: 'muted small', id: 'patient-consent', 'data-consent': String(!!p.consent_whatsapp),
        text: (p.consent_whatsapp ? t('panel.consentOn') : p.opted_out ? t('panel.optedOut') : t('panel.consentOff')) +
          (p.consent_updated_at ? ' ' + t('panel.since', { when: dateTime(p.consent_updated_at) }) : '') }));
  }

  function drawAppointments(items) {
    fill(appts, items.map((a) => h('li', { class: 'appt', 'data-id': a.id, 'data-status': a.status },
      h('strong', { text: dateTime(a.starts_at) }), ' ', h('span', { text: a.doctor_name || '' }), ' ',
      a.status === 'pending_review'
        ? [h('span', { class: 'pill pending', text: t('pending.awaiting') }), ' ', h('a', { href: '#/pending', text: t('pending.review') })]
        : h('span', { class: 'pill ok', text: t('astatus.' + a.status, {}, a.status) }))));
    if (!items.length) appts.appendChild(h('li', { class: 'muted', text: t('panel.noAppointments') }));
  }

  async function loadPatient(withFacts) {
    try {
      const r = await get(patientURL());
      if (withFacts) drawFacts(r.patient || state.conv.patient);
      drawAppointments(r.upcoming_appointments || []);
    } catch (err) {
      if (withFacts) drawFacts(state.conv.patient);
      fill(appts, h('li', { class: 'muted', text: explain(err) }));
    }
  }

  function drawPanel() {
    panelStatus = notice('alert');
    setNotice(panelStatus, '');
    facts = h('div', { id: 'patient-facts' });
    appts = h('ul', { class: 'plain appts', id: 'patient-appointments' });
    fill(panel,
      h('button', { type: 'button', class: 'panel-close', text: t('panel.hide'), onclick: () => layout.classList.remove('show-panel') }),
      h('h2', { text: t('panel.label') }), panelStatus, facts,
      h('h3', { text: t('panel.appointments') }), appts);
    return loadPatient(true);
  }

  // The composer: free text while the window is open; templates always (the only choice once closed).
  function drawComposer(force) {
    const open = windowOpen(state.conv.window);
    const mode = open ? (state.mode || 'text') : 'template';
    const key = mode + ':' + open;
    if (!force && state.composerFor === key) return;
    state.composerFor = key;
    const cstatus = notice('alert');
    setNotice(cstatus, '');
    if (mode === 'text') {
      const text = h('textarea', { id: 'reply', rows: 2, maxlength: 1600, 'aria-label': t('composer.reply'), placeholder: t('composer.reply') });
      const send = h('button', { type: 'submit', class: 'primary', id: 'send', text: t('composer.send') });
      const form = h('form', { class: 'reply-form' }, text, h('div', { class: 'actions' },
        h('button', { type: 'button', id: 'use-template', onclick: () => { state.mode = 'template'; drawComposer(true); }, text: t('composer.useTemplate') }), send));
      text.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit(); });
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const body = text.value.trim();
        if (!body) return;
        send.disabled = true;
        try {
          const request = { patient_id: state.conv.patient.id, body };
          await post('/api/whatsapp/send', request, sendKeys.key(request));
          sendKeys.sent();
          text.value = '';
          setNotice(cstatus, '');
          await refresh(true);
        } catch (err) { setNotice(cstatus, explain(err), 'error'); if (err.code === 'window_closed') await refresh(true); }
        send.disabled = false;
        text.focus();
      });
      fill(composer, cstatus, form);
      return;
    }
    const picker = h('select', { id: 'template', required: true });
    const lang = h('select', { id: 'template-lang' },
      ['en', 'es'].map((l) => h('option', { value: l, selected: l === state.conv.patient.preferred_language, text: t('lang.' + l) })));
    const vars = h('div', { class: 'vars', id: 'template-vars' });
    const preview = h('p', { class: 'preview', id: 'template-preview', 'aria-live': 'polite' });
    const send = h('button', { type: 'submit', class: 'primary', id: 'send-template', text: t('composer.sendTemplate') });
    const form = h('form', { class: 'template-form' },
      open ? null : h('p', { class: 'muted', id: 'closed-note', text: t('composer.closedNote') }),
      h('div', { class: 'row' }, field(t('composer.template'), picker).row, field(t('composer.language'), lang).row),
      vars, preview,
      h('div', { class: 'actions' },
        open ? h('button', { type: 'button', id: 'use-text', onclick: () => { state.mode = 'text'; drawComposer(true); }, text: t('composer.useText') }) : null,
        send));
    fill(composer, cstatus, form);
    let list = [];
    const inputs = {};
    const update = () => {
      const tpl = list.find((x) => x.id === picker.value);
      if (!tpl) { preview.textContent = ''; return; }
      const body = (tpl.bodies && tpl.bodies[lang.value]) || '';
      preview.textContent = body.replace(/\{(\w+)\}/g, (m, k) => (inputs[k] && inputs[k].value) || m);
    };
    const drawVars = () => {
      const tpl = list.find((x) => x.id === picker.value);
      fill(vars);
      for (const k of Object.keys(inputs)) delete inputs[k];
      for (const v of (tpl ? tpl.variables : [])) {
        const input = h('input', { type: 'text', name: v, 'data-var': v, required: true });
        if (v === 'patient_name') input.value = state.conv.patient.name || '';
        if (v === 'clinic_name' && app.workspace) input.value = app.workspace.name || '';
        input.addEventListener('input', update);
        inputs[v] = input;
        vars.appendChild(field(t('var.' + v, {}, v), input).row);
      }
      update();
    };
    picker.addEventListener('change', drawVars);
    lang.addEventListener('change', update);
    templates().then((all) => {
      list = all;
      fill(picker, all.map((x) => h('option', { value: x.id, text: t('tpl.' + x.id, {}, x.id) })));
      drawVars();
    }).catch((err) => setNotice(cstatus, explain(err), 'error'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      send.disabled = true;
      const variables = {};
      for (const [k, input] of Object.entries(inputs)) variables[k] = input.value;
      try {
        const request = { patient_id: state.conv.patient.id, template_id: picker.value, variables, language: lang.value };
        await post('/api/whatsapp/send-template', request, sendKeys.key(request));
        sendKeys.sent();
        setNotice(cstatus, t('composer.templateSent'), 'ok');
        await refresh(true);
      } catch (err) { setNotice(cstatus, explain(err), 'error'); }
      send.disabled = false;
    });
  }

  async function refresh(stick) {
    const [conv, page] = await Promise.all([
      get(`/api/whatsapp/conversations/${id}`),
      get(`/api/whatsapp/conversations/${id}/messages` + qs({ since: sinceFrom(state.since), limit: 200 })),
    ]);
    const stateChanged = !state.conv || conv.state !== state.conv.state || windowLabel(conv.window) !== windowLabel(state.conv.window);
    state.conv = conv;
    if (stateChanged) drawHead();
    drawComposer(false);
    let dirty = false;
    let inbound = false;
    for (const m of page.items || []) {
      const prev = state.messages.get(m.id);
      if (!prev && m.direction === 'inbound') inbound = true;
      if (!prev || prev.status !== m.status || prev.updated_at !== m.updated_at) { state.messages.set(m.id, m); dirty = true; }
    }
    // The patient's new message is read now that it shows: the latest page marks the conversation read.
    if (inbound) await get(`/api/whatsapp/conversations/${id}/messages` + qs({ limit: 1 }));
    if (inbound && appts) loadPatient(false);
    state.since = page.server_time || state.since;
    if (dirty || stick) { drawMessages(stick); changed(); }
  }

  older.addEventListener('click', async () => {
    try {
      const page = await get(`/api/whatsapp/conversations/${id}/messages` + qs({ cursor: state.next, limit: 50 }));
      for (const m of page.items || []) state.messages.set(m.id, m);
      state.next = page.next_cursor;
      drawMessages(false);
    } catch (err) { setNotice(status, explain(err), 'error'); }
  });

  async function start() {
    try {
      state.conv = await get(`/api/whatsapp/conversations/${id}`);
      const page = await get(`/api/whatsapp/conversations/${id}/messages` + qs({ limit: 50 }));
      for (const m of page.items || []) state.messages.set(m.id, m);
      state.next = page.next_cursor;
      state.since = page.server_time;
      drawHead();
      drawComposer(true);
      drawMessages(true);
      drawPanel();
      changed();
    } catch (err) {
      if (err.status === 404) fill(pane, h('p', { class: 'muted empty', text: t('thread.gone') }));
      else setNotice(status, explain(err), 'error');
    }
  }
  start();
  const stop = poll(async () => { if (state.conv) { try { await refresh(false); } catch (err) { if (err.status === 404) location.hash = '#/conversations'; } } }, 1500);
  return stop;
}
