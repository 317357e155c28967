// DOM helpers: every element is built with createElement and every text goes through textContent.

/** h('button', {class: 'x', onclick: fn, 'aria-label': '…'}, 'text', child) → element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form field: returns {row, input}. */
export function field(label, input, hint) {
  const id = input.id || ('f-' + Math.random().toString(36).slice(2, 9));
  input.id = id;
  const row = h('div', { class: 'field' }, h('label', { for: id, text: label }), input,
    hint ? h('small', { class: 'hint', text: hint }) : null);
  return { row, input };
}

/** A status line (role=status or alert) whose text can be set. */
export function notice(kind = 'status') {
  return h('p', { class: 'notice', role: kind === 'alert' ? 'alert' : 'status', 'aria-live': 'polite' });
}

export function setNotice(el, text, kind = 'info') {
  el.textContent = text || '';
  el.dataset.kind = kind;
  el.hidden = !text;
}

/** A confirmation in the page's own words (window.confirm is synchronous and blocks tests and screen readers alike). */
export function confirmDialog(message, okLabel, cancelLabel) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'aria-label': message });
    const done = (v) => { dialog.close(); dialog.remove(); resolve(v); };
    const ok = h('button', { class: 'danger', type: 'button', onclick: () => done(true), text: okLabel });
    const cancel = h('button', { type: 'button', onclick: () => done(false), text: cancelLabel });
    dialog.append(h('p', { text: message }), h('div', { class: 'actions' }, cancel, ok));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.appendChild(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** Runs `fn` every `ms` while the tab is visible (and once at once when it becomes visible again). */
export function poll(fn, ms) {
  let timer = null;
  let stopped = false;
  let running = false;
  const tick = async () => {
    if (stopped || document.hidden || running) return;
    running = true;
    try { await fn(); } catch (e) { /* the view shows its own errors */ } finally { running = false; }
  };
  const onVisibility = () => { if (!document.hidden) tick(); };
  timer = setInterval(tick, ms);
  document.addEventListener('visibilitychange', onVisibility);
  return () => { stopped = true; clearInterval(timer); document.removeEventListener('visibilitychange', onVisibility); };
}
