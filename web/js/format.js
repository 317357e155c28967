// Formatting shared by the views: times, the 24-hour window, delivery ticks.
import { t, language } from './i18n.js';

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString(language(), { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString(language(), { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

export function dateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString(language(), { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

/** "open · 23 h left" or "closed · templates only". */
export function windowLabel(win) {
  if (!win || !win.open) return t('window.closed');
  const ms = new Date(win.ends_at).getTime() - Date.now();
  if (!(ms > 0)) return t('window.closed');
  const hours = Math.floor(ms / 3600000);
  return hours >= 1 ? t('window.openHours', { n: hours }) : t('window.openMinutes', { n: Math.max(1, Math.floor(ms / 60000)) });
}

export function windowOpen(win) {
  return !!(win && win.open && new Date(win.ends_at).getTime() > Date.now());
}

const TICKS = { queued: '🕓', accepted: '🕓', sending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', received: '', failed: '!', undelivered: '!' };
export function tick(status) { return TICKS[status] !== undefined ? TICKS[status] : ''; }

/** The patient's display name. */
export function patientName(p) { return (p && (p.name || p.phone)) || ''; }

/** A poll's `since`: the last server_time less 2 s, so a change committed by a transaction that began
 *  before that time is still seen (merging what was already seen changes nothing). */
export function sinceFrom(serverTime) {
  const t = Date.parse(serverTime || '');
  return Number.isNaN(t) ? null : new Date(t - 2000).toISOString();
}
