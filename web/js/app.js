// The inbox shell: sign in, workspace choice, navigation, language, and the view for the address.
import { api, get, post, session, onUnauthorized, explain } from './api.js';
import { h, fill, field, notice, setNotice, poll } from './dom.js';
import { t, language, setLanguage, LANGUAGES, applyDocumentLanguage } from './i18n.js';
import * as conversations from './conversations.js';
import * as pending from './pending.js';
import * as bundle from './bundle.js';
import * as settings from './settings.js';

const root = document.getElementById('app');
const state = { me: null, workspace: null, stopView: null, stopBadge: null, signInMessage: '' };

/** What the views know of the session. */
export const app = {
  get role() { return state.workspace && state.workspace.role; },
  get isAdmin() { return ['owner', 'admin_doctor'].includes(app.role); },
  get workspace() { return state.workspace; },
  get user() { return state.me && state.me.user; },
  refreshBadge: () => refreshBadge(),
};

const VIEWS = [
  { id: 'conversations', module: conversations },
  { id: 'pending', module: pending },
  { id: 'bundle', module: bundle },
  { id: 'settings', module: settings },
];

onUnauthorized(() => {
  if (!state.me) return; // already signed out: late answers of stopped polls
  session.clear();
  showSignIn(t('signin.expired'));
});

function stopAll() {
  if (state.stopView) { state.stopView(); state.stopView = null; }
  if (state.stopBadge) { state.stopBadge(); state.stopBadge = null; }
}

function languagePicker(redraw = render) {
  const select = h('select', { id: 'lang', 'aria-label': t('nav.language') },
    LANGUAGES.map((l) => h('option', { value: l.code, selected: l.code === language(), text: l.label })));
  select.addEventListener('change', () => { setLanguage(select.value); redraw(); });
  return select;
}

export function showSignIn(message) {
  stopAll();
  state.me = null;
  state.workspace = null;
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const status = notice('alert');
  setNotice(status, message || '', message ? 'warn' : 'info');
  const submit = h('button', { type: 'submit', class: 'primary', text: t('signin.submit') });
  const form = h('form', { class: 'card signin', id: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: t('app.title') }),
    h('p', { class: 'muted', text: t('signin.intro') }),
    field(t('signin.email'), email).row, field(t('signin.password'), password).row,
    status, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    setNotice(status, '');
    try {
      const r = await post('/api/auth/login', { email: email.value.trim(), password: password.value });
      session.set(r.token);
      state.me = { user: r.user, workspaces: r.workspaces };
      chooseWorkspace();
    } catch (err) {
      setNotice(status, err.status === 401 ? t('signin.wrong') : explain(err), 'error');
      submit.disabled = false;
    }
  });
  fill(root, h('div', { class: 'signin-wrap' }, h('div', { class: 'topright' }, languagePicker()), form));
  email.focus();
}

/** The accept page of an invitation (`#/invite/<token>`: the fragment never reaches a server). */
async function showInvite(token) {
  stopAll();
  const status = notice('alert');
  const card = h('section', { class: 'card signin', id: 'invite', 'aria-labelledby': 'invite-title' });
  fill(root, h('div', { class: 'signin-wrap' }, h('div', { class: 'topright' }, languagePicker(() => { applyDocumentLanguage(); showInvite(token); })), card));
  let info;
  try {
    info = await post('/api/invitations/lookup', { token });
  } catch (err) {
    setNotice(status, err.status === 404 ? t('invite.invalid') : explain(err), 'error');
    fill(card, h('h1', { id: 'invite-title', text: t('app.title') }), status,
      h('a', { href: '#/', id: 'invite-signin', onclick: (e) => { e.preventDefault(); location.hash = ''; showSignIn(''); }, text: t('signin.submit') }));
    return;
  }
  const name = h('input', { type: 'text', name: 'name', id: 'invite-name', autocomplete: 'name', maxlength: 200, value: info.name || '' });
  const password = h('input', { type: 'password', name: 'password', id: 'invite-password', required: true,
    autocomplete: info.needs_password ? 'new-password' : 'current-password', minlength: info.needs_password ? 12 : null });
  const email = h('input', { type: 'email', name: 'email', id: 'invite-email', autocomplete: 'username', readonly: true, value: info.email });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'invite-submit', text: t(info.needs_password ? 'invite.join' : 'invite.signInJoin') });
  const form = h('form', { id: 'invite-form', novalidate: true },
    h('p', { id: 'invite-about', text: t('invite.as', { clinic: info.workspace_name, role: t('role.' + info.role, {}, info.role), email: info.email }) }),
    h('p', { class: 'muted', text: t(info.needs_password ? 'invite.newAccount' : 'invite.existingAccount') }),
    field(t('signin.email'), email).row,
    info.needs_password ? field(t('panel.name'), name).row : null,
    field(t(info.needs_password ? 'invite.newPassword' : 'signin.password'), password).row,
    status, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (info.needs_password && password.value.length < 12) { setNotice(status, t('invite.tooShort'), 'error'); return; }
    submit.disabled = true;
    setNotice(status, '');
    const body = { token, password: password.value };
    if (info.needs_password && name.value.trim()) body.name = name.value.trim();
    try {
      const r = await post('/api/invitations/accept', body);
      session.set(r.token);
      state.me = { user: r.user, workspaces: r.workspaces };
      const joined = (r.workspaces || []).find((w) => w.id === info.workspace_id);
      history.replaceState(null, '', location.pathname + '#/conversations');
      if (joined) enter(joined); else chooseWorkspace();
    } catch (err) {
      setNotice(status, err.status === 401 ? t('invite.wrongPassword') : err.status === 404 ? t('invite.invalid') : explain(err), 'error');
      submit.disabled = false;
    }
  });
  fill(card, h('h1', { id: 'invite-title', text: t('invite.title', { clinic: info.workspace_name }) }), form);
  (info.needs_password ? name : password).focus();
}

function inviteToken() {
  const m = /^#\/invite\/([A-Za-z0-9_]{1,200})$/.exec(location.hash);
  return m ? m[1] : null;
}

function chooseWorkspace() {
  const list = state.me.workspaces || [];
  const saved = session.workspace && list.find((w) => String(w.id) === session.workspace);
  if (saved) return enter(saved);
  if (list.length === 1) return enter(list[0]);
  if (list.length === 0) { session.clear(); return showSignIn(t('signin.noWorkspace')); }
  fill(root, h('div', { class: 'signin-wrap' },
    h('section', { class: 'card signin', id: 'workspace-picker', 'aria-labelledby': 'ws-title' },
      h('h1', { id: 'ws-title', text: t('workspace.choose') }),
      h('ul', { class: 'plain' }, list.map((w) => h('li', {},
        h('button', { type: 'button', class: 'workspace', 'data-id': w.id, onclick: () => enter(w) },
          h('strong', { text: w.name }), ' ', h('span', { class: 'muted', text: t('role.' + w.role) }))))))));
}

function enter(workspace) {
  session.setWorkspace(workspace.id);
  state.workspace = workspace;
  if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/conversations';
  else render();
}

async function signOut() {
  stopAll();
  state.me = null;
  try { await post('/api/auth/logout'); } catch (e) { /* the token may already be gone */ }
  session.clear();
  location.hash = '';
  showSignIn(t('signin.signedOut'));
}

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const view = VIEWS.find((v) => v.id === parts[0]) || VIEWS[0];
  return { view, params: parts.slice(1) };
}

let badge = null;
async function refreshBadge() {
  if (!badge) return;
  try {
    const r = await get('/api/whatsapp/pending-appointments');
    const n = (r.items || []).length;
    badge.textContent = n ? String(n) : '';
    badge.hidden = n === 0;
    badge.setAttribute('aria-label', t('pending.count', { n }));
  } catch (e) { /* shown by the views */ }
}

function render() {
  if (!state.workspace) return;
  stopAll();
  applyDocumentLanguage();
  const { view, params } = route();
  badge = h('span', { class: 'badge', id: 'pending-badge', hidden: true });
  const nav = h('nav', { class: 'tabs', 'aria-label': t('nav.label') }, VIEWS.map((v) =>
    h('a', { href: '#/' + v.id, id: 'nav-' + v.id, 'aria-current': v === view ? 'page' : null },
      t('nav.' + v.id), v.id === 'pending' ? badge : null)));
  const multi = (state.me.workspaces || []).length > 1;
  const header = h('header', { class: 'topbar' },
    h('span', { class: 'brand', text: t('app.title') }),
    nav,
    h('div', { class: 'who' },
      h('span', { class: 'muted ws-name', id: 'ws-name', text: state.workspace.name }),
      multi ? h('button', { type: 'button', class: 'link', id: 'switch-ws', text: t('workspace.switch'),
        onclick: () => { sessionStorage.removeItem('medsync.workspace'); state.workspace = null; stopAll(); chooseWorkspace(); } }) : null,
      languagePicker(),
      h('button', { type: 'button', id: 'signout', onclick: signOut, text: t('nav.signout') })));
  const main = h('main', { id: 'view', class: 'view-' + view.id });
  fill(root, header, main);
  state.stopView = view.module.mount(main, params, app) || null;
  refreshBadge();
  state.stopBadge = poll(refreshBadge, 10000);
}

window.addEventListener('hashchange', () => {
  const invite = inviteToken();
  if (invite) showInvite(invite);
  else if (state.workspace) render();
});

async function start() {
  applyDocumentLanguage();
  const invite = inviteToken();
  if (invite) return showInvite(invite);
  if (!session.token) return showSignIn('');
  try {
    const me = await get('/api/me');
    state.me = me;
    chooseWorkspace();
  } catch (err) {
    if (err.status === 401) session.clear();
    showSignIn(err.status === 401 ? t('signin.expired') : explain(err));
  }
}

start();
