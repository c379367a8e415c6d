/*
 * Intercom canvas preview for the demo: fetches the canvas the real Canvas Kit builders made
 * for the same suggestion (GET data-canvas-url, 202 while it is being computed) and draws its
 * components roughly as Intercom's inbox would. Read-only: the buttons act in Intercom only.
 */
(function () {
  'use strict';
  const host = document.getElementById('intercom-canvas');
  if (!host || !host.dataset.canvasUrl) return;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(response) {
    host.replaceChildren(el('div', 'ic-head', 'Intercom inbox · CloneDesk (preview)'));
    const components = (((response || {}).canvas || {}).content || {}).components || [];
    for (const c of components) {
      if (c.type === 'text') host.append(el('p', 'ic-text ic-' + (c.style || 'paragraph'), c.text));
      else if (c.type === 'textarea') {
        const label = el('label', 'ic-label', c.label || '');
        const area = el('textarea', 'ic-textarea');
        area.value = c.value || '';
        area.readOnly = true;
        area.rows = 6;
        label.append(area);
        host.append(label);
      } else if (c.type === 'button') {
        const b = el('button', 'ic-button ic-' + (c.style || 'primary'), c.label);
        b.type = 'button';
        b.disabled = true;
        b.dataset.componentId = c.id;
        host.append(b);
      } else if (c.type === 'divider') host.append(el('hr', 'ic-divider'));
      else if (c.type === 'spacer') host.append(el('div', 'ic-spacer-' + (c.size || 's')));
    }
    host.dataset.ready = 'true';
  }

  async function load(attempt) {
    try {
      const response = await fetch(host.dataset.canvasUrl, { credentials: 'same-origin' });
      if (response.status === 200) return render(await response.json());
    } catch (err) { /* retry below */ }
    host.replaceChildren(el('p', 'ic-text ic-muted', 'Intercom preview: preparing…'));
    if (attempt < 300) setTimeout(() => load(attempt + 1), 1000);
  }
  load(0);
})();
