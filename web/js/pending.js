// Pending: the bot's bookings awaiting review; accept, or reject after a confirmation.
import { get, post, explain } from './api.js';
import { h, fill, notice, setNotice, poll, confirmDialog } from './dom.js';
import { t } from './i18n.js';
import { dateTime, patientName } from './format.js';

export function mount(main, params, app) {
  const list = h('ul', { class: 'plain cards', id: 'pending-list' });
  const status = notice('alert');
  setNotice(status, '');
  fill(main, h('section', { class: 'page', 'aria-labelledby': 'pending-title' },
    h('h1', { id: 'pending-title', text: t('pending.title') }),
    h('p', { class: 'muted', text: t('pending.intro') }), status, list));

  async function decide(a, action) {
    if (action === 'reject') {
      const ok = await confirmDialog(t('pending.rejectConfirm', { name: patientName(a.patient), when: dateTime(a.starts_at) }), t('pending.reject'), t('cancel'));
      if (!ok) return;
    }
    try {
      const r = await post(`/api/whatsapp/pending-appointments/${a.id}/${action}`);
      const n = r.notification || {};
      setNotice(status, t(action === 'accept' ? 'pending.accepted' : 'pending.rejected', { name: patientName(a.patient) }) + ' ' +
        (n.sent ? t('pending.notified') : t('pending.notNotified', { reason: (n.error && (n.error.message || n.error.code)) || '—' })), n.sent ? 'ok' : 'warn');
      await load();
      app.refreshBadge();
    } catch (err) { setNotice(status, explain(err), 'error'); await load(); }
  }

  function card(a) {
    return h('li', { class: 'card appt', 'data-id': a.id },
      h('div', { class: 'appt-main' },
        h('strong', { class: 'appt-patient', text: patientName(a.patient) }),
        h('span', { class: 'muted', text: a.patient ? a.patient.phone : '' }),
        h('div', { class: 'appt-when', text: dateTime(a.starts_at) }),
        a.doctor_name ? h('div', { text: t('pending.with', { doctor: a.doctor_name }) }) : null,
        a.reason ? h('div', { class: 'muted', text: a.reason }) : null),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary accept', onclick: () => decide(a, 'accept'), text: t('pending.accept') }),
        h('button', { type: 'button', class: 'danger reject', onclick: () => decide(a, 'reject'), text: t('pending.reject') })));
  }

  async function load() {
    try {
      const r = await get('/api/whatsapp/pending-appointments');
      const items = r.items || [];
      fill(list, items.map(card));
      if (!items.length) list.appendChild(h('li', { class: 'muted empty', text: t('pending.none') }));
    } catch (err) { if (err.status !== 401) setNotice(status, explain(err), 'error'); }
  }
  load();
  return poll(load, 5000);
}
