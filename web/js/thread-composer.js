// The composer of a conversation (view and its bindings): free text while the 24-hour window is
// open; templates always (the only choice once it closed). What it sends goes to the handlers passed in:
// on = {send(body), sendTemplate(id, variables, language), refresh(), useTemplate(), useText()}.
import { h, fill, field, notice, setNotice } from './dom.js';
import { explain } from './api.js';
import { t } from './i18n.js';

function composerStatus() {
  const status = notice('alert');
  setNotice(status, '');
  return status;
}

/** Free text: Ctrl/⌘+Enter or the button sends; the text is cleared once sent. */
export function textComposer(composer, on) {
  const status = composerStatus();
  const text = h('textarea', { id: 'reply', rows: 2, maxlength: 1600, 'aria-label': t('composer.reply'), placeholder: t('composer.reply') });
  const send = h('button', { type: 'submit', class: 'primary', id: 'send', text: t('composer.send') });
  const form = h('form', { class: 'reply-form' }, text, h('div', { class: 'actions' },
    h('button', { type: 'button', id: 'use-template', onclick: on.useTemplate, text: t('composer.useTemplate') }), send));
  text.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = text.value.trim();
    if (!body) return;
    send.disabled = true;
    try {
      await on.send(body);
      text.value = '';
      setNotice(status, '');
      await on.refresh();
    } catch (err) { setNotice(status, explain(err), 'error'); if (err.code === 'window_closed') await on.refresh(); }
    send.disabled = false;
    text.focus();
  });
  fill(composer, status, form);
}

/** The template's variables as inputs (patient and clinic names filled in) and its body previewed. */
function templateVariables(vars, preview, patient, workspace) {
  const inputs = {};
  let template = null;
  let language = '';
  const update = () => {
    if (!template) { preview.textContent = ''; return; }
    const body = (template.bodies && template.bodies[language]) || '';
    preview.textContent = body.replace(/\{(\w+)\}/g, (m, k) => (inputs[k] && inputs[k].value) || m);
  };
  return {
    inputs,
    show(tpl, lang) {
      template = tpl;
      language = lang;
      fill(vars);
      for (const k of Object.keys(inputs)) delete inputs[k];
      for (const v of (tpl ? tpl.variables : [])) {
        const input = h('input', { type: 'text', name: v, 'data-var': v, required: true });
        if (v === 'patient_name') input.value = patient.name || '';
        if (v === 'clinic_name' && workspace) input.value = workspace.name || '';
        input.addEventListener('input', update);
        inputs[v] = input;
        vars.appendChild(field(t('var.' + v, {}, v), input).row);
      }
      update();
    },
    language(lang) { language = lang; update(); },
  };
}

/** A template, its language and variables; `open`: the window is open (free text may be chosen back). */
export function templateComposer(composer, { open, patient, workspace, templates }, on) {
  const status = composerStatus();
  const picker = h('select', { id: 'template', required: true });
  const lang = h('select', { id: 'template-lang' },
    ['en', 'es'].map((l) => h('option', { value: l, selected: l === patient.preferred_language, text: t('lang.' + l) })));
  const vars = h('div', { class: 'vars', id: 'template-vars' });
  const preview = h('p', { class: 'preview', id: 'template-preview', 'aria-live': 'polite' });
  const send = h('button', { type: 'submit', class: 'primary', id: 'send-template', text: t('composer.sendTemplate') });
  const form = h('form', { class: 'template-form' },
    open ? null : h('p', { class: 'muted', id: 'closed-note', text: t('composer.closedNote') }),
    h('div', { class: 'row' }, field(t('composer.template'), picker).row, field(t('composer.language'), lang).row),
    vars, preview,
    h('div', { class: 'actions' },
      open ? h('button', { type: 'button', id: 'use-text', onclick: on.useText, text: t('composer.useText') }) : null,
      send));
  fill(composer, status, form);
  let list = [];
  const variables = templateVariables(vars, preview, patient, workspace);
  const chosen = () => list.find((x) => x.id === picker.value);
  picker.addEventListener('change', () => variables.show(chosen(), lang.value));
  lang.addEventListener('change', () => variables.language(lang.value));
  templates.then((all) => {
    list = all;
    fill(picker, all.map((x) => h('option', { value: x.id, text: t('tpl.' + x.id, {}, x.id) })));
    variables.show(chosen(), lang.value);
  }).catch((err) => setNotice(status, explain(err), 'error'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    send.disabled = true;
    const values = {};
    for (const [k, input] of Object.entries(variables.inputs)) values[k] = input.value;
    try {
      await on.sendTemplate(picker.value, values, lang.value);
      setNotice(status, t('composer.templateSent'), 'ok');
      await on.refresh();
    } catch (err) { setNotice(status, explain(err), 'error'); }
    send.disabled = false;
  });
}
