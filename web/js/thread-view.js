// One conversation's rendering (TodoMVC's view): the pane (head, messages), the patient panel and
// their parts, built from the state they are given; what the user does goes to the handlers passed in.
import { h, fill, field, notice, setNotice } from './dom.js';
import { t } from './i18n.js';
import { when, dateTime, windowLabel, windowOpen, tick, patientName } from './format.js';

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

/** The pane's parts, placed in `pane` (the panel says it is loading): {head, status, list, older, composer}. */
export function threadPane(pane, panel, onOlder) {
  const list = h('ol', { class: 'messages', id: 'messages', 'aria-live': 'polite', 'aria-label': t('thread.messages') });
  const older = h('button', { type: 'button', class: 'link', id: 'older', hidden: true, text: t('thread.older'), onclick: onOlder });
  const head = h('div', { class: 'pane-head thread-head' });
  const status = notice('alert');
  setNotice(status, '');
  const composer = h('div', { class: 'composer', id: 'composer' });
  fill(pane, head, status, h('div', { class: 'scroll', id: 'thread-scroll' }, older, list), composer);
  fill(panel, h('p', { class: 'muted', text: t('loading') }));
  return { pane, head, status, list, older, composer };
}

/** The messages, oldest first; the view stays at the bottom when it was there (or `stick`). */
export function drawMessages(view, items, hasOlder, stick) {
  const scroll = view.pane.querySelector('#thread-scroll');
  const atBottom = stick || (scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 40);
  fill(view.list, items.map(messageNode));
  if (!items.length) view.list.appendChild(h('li', { class: 'muted empty', text: t('thread.empty') }));
  view.older.hidden = !hasOlder;
  if (atBottom) scroll.scrollTop = scroll.scrollHeight;
}

/** The head: who, the window and bot/handoff badges, the actions. on: {togglePanel, setState(action), remove}. */
export function drawHead(head, c, on) {
  const open = windowOpen(c.window);
  const handoff = c.state === 'handoff';
  fill(head,
    h('a', { href: '#/conversations', class: 'back button', text: '← ' + t('thread.back') }),
    h('div', { class: 'who' },
      h('h2', { id: 'thread-title', text: patientName(c.patient) }),
      h('span', { class: 'pill ' + (open ? 'ok' : 'closed'), id: 'window-badge', 'data-window': open ? 'open' : 'closed', text: windowLabel(c.window) }),
      h('span', { class: 'pill ' + (handoff ? 'handoff' : 'bot'), id: 'state-badge', 'data-state': c.state, text: handoff ? t('conv.handoff') : t('conv.bot') })),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'panel-toggle', text: t('panel.show'), 'aria-controls': 'patient-panel', onclick: on.togglePanel }),
      handoff
        ? h('button', { type: 'button', id: 'resume-bot', onclick: () => on.setState('resume-bot'), text: t('thread.resume') })
        : h('button', { type: 'button', id: 'handoff', onclick: () => on.setState('handoff'), text: t('thread.handoff') }),
      h('button', { type: 'button', class: 'danger', id: 'delete-conv', onclick: on.remove, text: t('thread.delete') })));
}

/** The patient panel's parts, placed in `panel`: {status, facts, appts}. */
export function patientPanel(panel, onClose) {
  const status = notice('alert');
  setNotice(status, '');
  const facts = h('div', { id: 'patient-facts' });
  const appts = h('ul', { class: 'plain appts', id: 'patient-appointments' });
  fill(panel,
    h('button', { type: 'button', class: 'panel-close', text: t('panel.hide'), onclick: onClose }),
    h('h2', { text: t('panel.label') }), status, facts,
    h('h3', { text: t('panel.appointments') }), appts);
  return { status, facts, appts };
}

/** Name, phone, language and consent (language and consent editable, as the API allows): a change
 *  disables both and goes to `onChange(body)`. */
export function drawFacts(facts, p, onChange) {
  const lang = h('select', { id: 'patient-language' },
    h('option', { value: '', selected: !p.preferred_language, text: '—' }),
    ['en', 'es'].map((l) => h('option', { value: l, selected: l === p.preferred_language, text: t('lang.' + l) })));
  const consent = h('input', { type: 'checkbox', id: 'patient-consent-input', checked: !!p.consent_whatsapp });
  const change = (body) => { lang.disabled = consent.disabled = true; onChange(body); };
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

/** The upcoming appointments — awaiting review or confirmed. */
export function drawAppointments(appts, items) {
  fill(appts, items.map((a) => h('li', { class: 'appt', 'data-id': a.id, 'data-status': a.status },
    h('strong', { text: dateTime(a.starts_at) }), ' ', h('span', { text: a.doctor_name || '' }), ' ',
    a.status === 'pending_review'
      ? [h('span', { class: 'pill pending', text: t('pending.awaiting') }), ' ', h('a', { href: '#/pending', text: t('pending.review') })]
      : h('span', { class: 'pill ok', text: t('astatus.' + a.status, {}, a.status) }))));
  if (!items.length) appts.appendChild(h('li', { class: 'muted', text: t('panel.noAppointments') }));
}

/** The appointments could not be read. */
export function appointmentsFailed(appts, message) { fill(appts, h('li', { class: 'muted', text: message })); }

/** The conversation is gone (deleted, or another workspace's). */
export function drawGone(pane) { fill(pane, h('p', { class: 'muted empty', text: t('thread.gone') })); }
