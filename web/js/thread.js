// One conversation (TodoMVC's controller): messages (oldest first, live through `since`), the
// composer, actions, the patient panel. The state is a `Thread` (thread-state.js); rendering is
// thread-view.js and thread-composer.js; the controller answers what the user does and what polling finds.
import { explain } from './api.js';
import { setNotice, poll, confirmDialog } from './dom.js';
import { t } from './i18n.js';
import { windowOpen, patientName } from './format.js';
import { Thread, templates } from './thread-state.js';
import { threadPane, drawMessages, drawHead, patientPanel, drawFacts, drawAppointments, appointmentsFailed, drawGone } from './thread-view.js';
import { textComposer, templateComposer } from './thread-composer.js';

class ThreadController {
  constructor(pane, panel, id, app, { changed, layout }) {
    Object.assign(this, { pane, panel, app, changed, layout });
    this.thread = new Thread(id);
    this.view = threadPane(pane, panel, () => this.older());
    this.panelView = null;
    this.composerFor = null;
  }

  fail(err) { setNotice(this.view.status, explain(err), 'error'); }

  showMessages(stick) { drawMessages(this.view, this.thread.sorted(), !!this.thread.next, stick); }

  showHead() {
    drawHead(this.view.head, this.thread.conv, {
      togglePanel: () => this.layout.classList.toggle('show-panel'),
      setState: (action) => this.setState(action),
      remove: () => this.remove(),
    });
  }

  async setState(action) {
    try {
      await this.thread.setState(action);
      this.showHead();
      this.changed();
    } catch (err) { this.fail(err); }
  }

  async remove() {
    const ok = await confirmDialog(t('thread.deleteConfirm', { name: patientName(this.thread.conv.patient) }), t('thread.delete'), t('cancel'));
    if (!ok) return;
    try {
      await this.thread.remove();
      location.hash = '#/conversations';
    } catch (err) { this.fail(err); }
  }

  // The composer is drawn again only when its mode or the window changed (or `force`).
  showComposer(force) {
    const thread = this.thread;
    const open = windowOpen(thread.conv.window);
    const mode = open ? (thread.mode || 'text') : 'template';
    const key = mode + ':' + open;
    if (!force && this.composerFor === key) return;
    this.composerFor = key;
    const on = {
      send: (body) => thread.send(body),
      sendTemplate: (templateID, variables, language) => thread.sendTemplate(templateID, variables, language),
      refresh: () => this.refresh(true),
      useTemplate: () => { thread.mode = 'template'; this.showComposer(true); },
      useText: () => { thread.mode = 'text'; this.showComposer(true); },
    };
    if (mode === 'text') textComposer(this.view.composer, on);
    else templateComposer(this.view.composer, { open, patient: thread.conv.patient, workspace: this.app.workspace, templates: templates() }, on);
  }

  showFacts(p) { drawFacts(this.panelView.facts, p, (body) => this.changePatient(p, body)); }

  async changePatient(p, body) {
    try {
      let r;
      try { r = await this.thread.updatePatient(body); } catch (err) {
        // A patient who replied STOP is opted back in only when staff confirm they asked for it.
        if (err.code !== 'consent_confirmation_required') throw err;
        if (!(await confirmDialog(t('panel.optInConfirm', { name: patientName(p) }), t('panel.optIn'), t('cancel')))) { this.showFacts(p); return; }
        r = await this.thread.updatePatient({ ...body, consent_confirmed: true });
      }
      this.showFacts(r);
      setNotice(this.panelView.status, t('saved'), 'ok');
    } catch (err) { this.showFacts(p); setNotice(this.panelView.status, explain(err), 'error'); }
  }

  async loadPatient(withFacts) {
    try {
      const r = await this.thread.patient();
      if (withFacts) this.showFacts(r.patient || this.thread.conv.patient);
      drawAppointments(this.panelView.appts, r.upcoming_appointments || []);
    } catch (err) {
      if (withFacts) this.showFacts(this.thread.conv.patient);
      appointmentsFailed(this.panelView.appts, explain(err));
    }
  }

  showPanel() {
    this.panelView = patientPanel(this.panel, () => this.layout.classList.remove('show-panel'));
    return this.loadPatient(true);
  }

  async refresh(stick) {
    const r = await this.thread.fetchLatest();
    if (r.stateChanged) this.showHead();
    this.showComposer(false);
    if (r.inbound) await this.thread.markRead();
    if (r.inbound && this.panelView) this.loadPatient(false);
    this.thread.caughtUp(r.serverTime);
    if (r.dirty || stick) { this.showMessages(stick); this.changed(); }
  }

  async older() {
    try {
      await this.thread.loadOlder();
      this.showMessages(false);
    } catch (err) { this.fail(err); }
  }

  async start() {
    try {
      await this.thread.load();
      this.showHead();
      this.showComposer(true);
      this.showMessages(true);
      this.showPanel();
      this.changed();
    } catch (err) {
      if (err.status === 404) drawGone(this.pane);
      else this.fail(err);
    }
  }

  /** Every 1.5 s while the conversation shows; a conversation gone meanwhile goes back to the list. */
  async poll() {
    if (!this.thread.conv) return;
    try { await this.refresh(false); } catch (err) { if (err.status === 404) location.hash = '#/conversations'; }
  }
}

export function mount(pane, panel, id, app, hooks) {
  const controller = new ThreadController(pane, panel, id, app, hooks);
  controller.start();
  return poll(() => controller.poll(), 1500);
}
