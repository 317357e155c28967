// The one place that talks to /api/: auth headers, JSON, and errors mapped to {status, code, message}.
import { t } from './i18n.js';

const TOKEN = 'medsync.token';
const WORKSPACE = 'medsync.workspace';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const listeners = new Set();
/** Called with the ApiError when the token is missing, expired or revoked (401). */
export function onUnauthorized(fn) { listeners.add(fn); }

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  get workspace() { return sessionStorage.getItem(WORKSPACE); },
  set(token) { sessionStorage.setItem(TOKEN, token); },
  setWorkspace(id) { sessionStorage.setItem(WORKSPACE, String(id)); },
  clear() { sessionStorage.removeItem(TOKEN); sessionStorage.removeItem(WORKSPACE); },
};

/** A sentence for an error, from its code where we know it, else the API's own message. */
export function explain(err) {
  if (!(err instanceof ApiError)) return t('error.network');
  if (err.status === 403) return t('error.forbidden');
  const known = t('error.' + err.code, {}, null);
  return known || err.message || t('error.generic');
}

/** fetch with the token and workspace; JSON in and out. `body` may be FormData. `idempotencyKey`:
 * sent as Idempotency-Key, so a retried POST is answered once. */
export async function api(method, path, body, idempotencyKey) {
  const headers = { Accept: 'application/json' };
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  if (session.token) headers.Authorization = 'Bearer ' + session.token;
  if (session.workspace) headers['X-Account-Id'] = session.workspace;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', t('error.network'));
  }
  let data = null;
  if (res.status !== 204) {
    try { data = await res.json(); } catch (e) { data = null; }
  }
  if (!res.ok) {
    const code = data && data.error && data.error.code || 'http_' + res.status;
    const message = data && data.error && data.error.message || '';
    const err = new ApiError(res.status, code, message);
    if (res.status === 401 && !path.startsWith('/api/auth/login')) listeners.forEach((fn) => fn(err));
    throw err;
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body, idempotencyKey) => api('POST', path, body, idempotencyKey);
export const put = (path, body) => api('PUT', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);

/** Query string from an object, skipping empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? '?' + s : '';
}

/** Idempotency keys for one composer: a random key per composed request, the same key again while
 * the request is unchanged (the UI's retry after an error), a new one once it was sent. */
export function onceKeys() {
  let last = null;
  return {
    key(request) {
      const text = JSON.stringify(request);
      if (!last || last.text !== text) {
        const bytes = crypto.getRandomValues(new Uint8Array(16));
        last = { text, key: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('') };
      }
      return last.key;
    },
    sent() { last = null; },
  };
}
