// Conversations: the list (search, paging, badges, live) | the thread | the patient panel.
import { get, qs, explain } from './api.js';
import { h, fill, notice, setNotice, poll } from './dom.js';
import { t } from './i18n.js';
import { when, windowLabel, windowOpen, patientName, sinceFrom } from './format.js';
import * as thread from './thread.js';

const PAGE = 30;

export function mount(main, params, app) {
  const selected = params[0] ? Number(params[0]) : null;
  const state = { items: [], next: null, q: '', since: null };
  const search = h('input', { type: 'search', id: 'conv-search', placeholder: t('conv.search'), 'aria-label': t('conv.search') });
  const list = h('ul', { class: 'conv-list', id: 'conv-list', 'aria-label': t('conv.listLabel') });
  const more = h('button', { type: 'button', class: 'link', id: 'conv-more', hidden: true, text: t('conv.more') });
  const status = notice();
  setNotice(status, '');
  const listPane = h('section', { class: 'pane list-pane', 'aria-label': t('nav.conversations') },
    h('div', { class: 'pane-head' }, search), status, list, more);
  const threadPane = h('section', { class: 'pane thread-pane', id: 'thread-pane', 'aria-label': t('thread.label') });
  const panelPane = h('aside', { class: 'pane panel-pane', id: 'patient-panel', 'aria-label': t('panel.label') });
  const layout = h('div', { class: 'inbox' + (selected ? ' has-thread' : '') }, listPane, threadPane, panelPane);
  fill(main, layout);

  function row(c) {
    const last = c.last_message;
    const open = windowOpen(c.window);
    const a = h('a', { href: '#/conversations/' + c.id, class: 'conv', 'data-id': c.id,
      'aria-current': c.id === selected ? 'true' : null },
      h('div', { class: 'conv-top' },
        h('strong', { class: 'conv-name', text: patientName(c.patient) }),
        h('time', { class: 'muted', text: when(c.last_message_at) })),
      h('div', { class: 'conv-last', text: last ? (last.direction === 'outbound' ? t('conv.you') + ' ' : '') + (last.body || t('conv.media')) : '' }),
      h('div', { class: 'conv-badges' },
        h('span', { class: 'pill ' + (open ? 'ok' : 'closed'), 'data-window': open ? 'open' : 'closed', text: windowLabel(c.window) }),
        c.state === 'handoff' ? h('span', { class: 'pill handoff', text: t('conv.handoff') }) : null,
        c.unread_count > 0 ? h('span', { class: 'badge unread', 'aria-label': t('conv.unread', { n: c.unread_count }), text: String(c.unread_count) }) : null));
    return h('li', {}, a);
  }

  let drawn = null;
  function draw() {
    // Redraw only what changed, so focus and the reader's place survive the polling.
    const sig = JSON.stringify([state.items, state.next, state.q, state.items.map((c) => windowLabel(c.window))]);
    if (sig === drawn) return;
    drawn = sig;
    fill(list, state.items.map(row));
    if (!state.items.length) list.appendChild(h('li', { class: 'muted empty', text: state.q ? t('conv.noMatch') : t('conv.empty') }));
    more.hidden = !state.next;
  }

  async function loadFirst() {
    try {
      const q = state.q;
      const r = await get('/api/whatsapp/conversations' + qs({ q, limit: PAGE }));
      if (q !== state.q) return;
      state.items = r.items || [];
      state.next = r.next_cursor;
      state.since = r.server_time;
      setNotice(status, '');
      draw();
    } catch (err) { if (err.status !== 401) setNotice(status, explain(err), 'error'); }
  }

  const newestFirst = (a, b) => (Date.parse(b.last_message_at || 0) - Date.parse(a.last_message_at || 0)) || (b.id - a.id);

  // Live: only the conversations changed since the last answer, merged into the list.
  async function poll_() {
    if (!state.since) return loadFirst();
    try {
      const q = state.q;
      const r = await get('/api/whatsapp/conversations' + qs({ q, since: sinceFrom(state.since), limit: 100 }));
      if (q !== state.q) return;
      const changed = r.items || [];
      if (r.next_cursor) return loadFirst(); // more changed than one answer holds
      const byId = new Map(state.items.map((c) => [c.id, c]));
      for (const c of changed) byId.set(c.id, c);
      state.items = [...byId.values()].sort(newestFirst);
      state.since = r.server_time;
      setNotice(status, '');
      draw();
    } catch (err) { if (err.status !== 401) setNotice(status, explain(err), 'error'); }
  }

  more.addEventListener('click', async () => {
    try {
      const r = await get('/api/whatsapp/conversations' + qs({ q: state.q, cursor: state.next, limit: PAGE }));
      const ids = new Set(state.items.map((c) => c.id));
      state.items = state.items.concat((r.items || []).filter((c) => !ids.has(c.id)));
      state.next = r.next_cursor;
      draw();
    } catch (err) { setNotice(status, explain(err), 'error'); }
  });

  let debounce = null;
  search.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { state.q = search.value.trim(); state.items = []; state.next = null; state.since = null; loadFirst(); }, 250);
  });

  loadFirst();
  const stopList = poll(poll_, 2000);
  let stopThread = null;
  if (selected) {
    stopThread = thread.mount(threadPane, panelPane, selected, app, { changed: poll_, layout });
  } else {
    fill(threadPane, h('p', { class: 'muted empty', text: t('thread.none') }));
  }
  return () => { stopList(); if (stopThread) stopThread(); clearTimeout(debounce); };
}
