// One conversation's state (TodoMVC's model): the conversation, its messages by id, the paging
// cursors, the composer's mode, and the API calls that read or change them. No DOM here.
import { get, post, patch, del, qs, onceKeys } from './api.js';
import { windowLabel, sinceFrom } from './format.js';

let templatesCache = null;
/** The workspace's templates, fetched once per page load (again after a failure). */
export async function templates() {
  if (!templatesCache) templatesCache = get('/api/whatsapp/templates').then((r) => r.templates || []).catch((e) => { templatesCache = null; throw e; });
  return templatesCache;
}

export class Thread {
  constructor(id) {
    this.id = id;
    this.conv = null;
    this.messages = new Map();
    this.next = null;
    this.since = null;
    /** 'text' or 'template', as chosen in the composer (free text by default while the window is open). */
    this.mode = null;
    // One Idempotency-Key per composed message, the same on a retry: a retried send is delivered once.
    this.sendKeys = onceKeys();
  }

  get url() { return `/api/whatsapp/conversations/${this.id}`; }
  get patientURL() { return `/api/patients/${this.conv.patient.id}`; }

  /** Messages oldest first (ties by id). */
  sorted() {
    return [...this.messages.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id));
  }

  /** The conversation and its latest page of messages. */
  async load() {
    this.conv = await get(this.url);
    const page = await get(this.url + '/messages' + qs({ limit: 50 }));
    for (const m of page.items || []) this.messages.set(m.id, m);
    this.next = page.next_cursor;
    this.since = page.server_time;
  }

  /** What changed since the last look: {stateChanged, dirty (messages new or changed), inbound (a new
   *  one from the patient), serverTime}. */
  async fetchLatest() {
    const [conv, page] = await Promise.all([
      get(this.url),
      get(this.url + '/messages' + qs({ since: sinceFrom(this.since), limit: 200 })),
    ]);
    const stateChanged = !this.conv || conv.state !== this.conv.state || windowLabel(conv.window) !== windowLabel(this.conv.window);
    this.conv = conv;
    let dirty = false;
    let inbound = false;
    for (const m of page.items || []) {
      const prev = this.messages.get(m.id);
      if (!prev && m.direction === 'inbound') inbound = true;
      if (!prev || prev.status !== m.status || prev.updated_at !== m.updated_at) { this.messages.set(m.id, m); dirty = true; }
    }
    return { stateChanged, dirty, inbound, serverTime: page.server_time };
  }

  /** The patient's new message is read now that it shows: the latest page marks the conversation read. */
  async markRead() { await get(this.url + '/messages' + qs({ limit: 1 })); }

  /** Polling goes on from `serverTime` (kept when the server gave none). */
  caughtUp(serverTime) { this.since = serverTime || this.since; }

  /** The page of messages before the oldest shown. */
  async loadOlder() {
    const page = await get(this.url + '/messages' + qs({ cursor: this.next, limit: 50 }));
    for (const m of page.items || []) this.messages.set(m.id, m);
    this.next = page.next_cursor;
  }

  /** 'handoff' or 'resume-bot'. */
  async setState(action) { this.conv = await post(`${this.url}/${action}`); }

  async remove() { await del(this.url); }

  async send(body) {
    const request = { patient_id: this.conv.patient.id, body };
    await post('/api/whatsapp/send', request, this.sendKeys.key(request));
    this.sendKeys.sent();
  }

  async sendTemplate(templateID, variables, language) {
    const request = { patient_id: this.conv.patient.id, template_id: templateID, variables, language };
    await post('/api/whatsapp/send-template', request, this.sendKeys.key(request));
    this.sendKeys.sent();
  }

  /** The patient with upcoming appointments. */
  async patient() { return get(this.patientURL); }

  /** Changes language or consent; the conversation's patient follows. */
  async updatePatient(body) {
    const r = await patch(this.patientURL, body);
    Object.assign(this.conv.patient, { preferred_language: r.preferred_language, consent_whatsapp: r.consent_whatsapp, name: r.name });
    return r;
  }
}
