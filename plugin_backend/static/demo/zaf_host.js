/* A stand-in for Zendesk's side of the ZAF v2 postMessage protocol (demo and browser tests).
 *
 * The sidebar iframe runs the real ZAF SDK. The SDK reads `origin` and `app_guid` from its
 * URL, posts JSON strings {key, message, appGuid, instanceGuid} to window.parent and waits
 * for `zaf.app.registered`; then:
 *   {key: "iframe.handshake", message: {version}}   -> we answer {key: "zaf.app.registered",
 *                                                      message: {context, metadata, iframe_session_timeout}}
 *   {id, request: "get", params: [paths]}            -> {id, result: {path: value, errors: {}}}
 *   {id, request: "set", params: {path: value}}      -> {id, result: {...}}
 *   {id, request: "invoke", params: {name: [args]}}  -> {id, result: {...}}
 *   {key: "iframe.on:<event>", message: {subscriberCount}} subscribes; we emit
 *                                                      {key: "zaf.<event>", message: data}
 *   hooks (ticket.save): we send {key: "zaf.ticket.save", needsReply: true} and wait for
 *                                                      {key: "iframe.reply:ticket.save"[, error]}
 * Everything exchanged is logged in window.zafHost.log for tests. See docs/zendesk-app.md.
 */
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const APP_GUID = `clonedesk-demo-${Math.random().toString(36).slice(2, 10)}`;
  const HOOK_TIMEOUT_MS = 5000;
  const log = [];
  const subscriptions = new Map();  // event name -> subscriber count
  const hookReplies = new Map();    // hook name -> resolve function
  let iframe = null;
  let iframeOrigin = '*';
  let model = null;

  // ---- the stand-in ticket ---------------------------------------------------------------

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  function toHtml(text) {
    return String(text).split(/\n{2,}/).map((para) => `<p>${escapeHtml(para).replace(/\n/g, '<br>')}</p>`).join('');
  }

  function agentAuthor(agent, authorId) {
    if (authorId == null || String(authorId) === String(agent.id)) {
      return { id: agent.id, name: agent.name, role: 'agent' };
    }
    return { id: authorId, name: `Agent ${authorId}`, role: 'agent' };
  }

  function buildModel(ticket) {
    const messages = Array.isArray(ticket.messages) ? ticket.messages : [];
    const firstCustomer = messages.find((m) => m.role === 'customer' && m.author_id);
    const requester = {
      id: (firstCustomer && firstCustomer.author_id) || 'requester-1', name: 'Customer',
      email: 'customer@example.com', role: 'end-user', ...(ticket.requester || {}),
    };
    const groups = Array.isArray(ticket.groups) ? ticket.groups : [];
    const agent = {
      id: 'agent-1', name: 'Demo Agent', email: 'agent@example.com', role: 'agent',
      groups, ...(ticket.agent || {}),
    };
    const comments = messages.map((m, index) => {
      const author = m.role === 'customer'
        ? { ...requester, id: m.author_id || requester.id }
        : agentAuthor(agent, m.author_id);
      return {
        id: index + 1, value: toHtml(m.text || ''), text: m.text || '', author,
        created_at: m.created_at || null, nonPublic: m.role === 'note',
      };
    });
    return {
      ticket: {
        id: ticket.id, subject: ticket.subject || '(no subject)', status: ticket.status || 'open',
        via: { channel: ticket.channel || 'web' }, requester, comments,
        assignee: { user: null, group: null },
      },
      currentUser: agent,
      currentAccount: { subdomain: 'demo' },
      groups,
      comment: { type: 'publicReply' },
    };
  }

  // ---- the page ---------------------------------------------------------------------------

  function renderTicket() {
    const t = model.ticket;
    $('zd-subject').textContent = t.subject;
    $('zd-tab-title').textContent = `#${t.id}`;
    $('zd-meta').textContent = `#${t.id} · via ${t.via.channel} · ${t.requester.name} · ${t.status}`;
    const list = $('zd-conversation');
    list.replaceChildren(...t.comments.map((c) => {
      const item = document.createElement('li');
      const kind = c.nonPublic ? 'note' : (c.author.role === 'end-user' ? 'customer' : 'agent');
      item.className = `zd-comment zd-${kind}`;
      const head = document.createElement('div');
      head.className = 'zd-comment-head';
      head.textContent = `${c.author.name} · ${kind === 'note' ? 'internal note' : kind}` +
        (c.created_at ? ` · ${new Date(c.created_at).toLocaleString()}` : '');
      const body = document.createElement('div');
      body.className = 'zd-comment-body';
      body.textContent = c.text;
      item.append(head, body);
      return item;
    }));
    list.scrollTop = list.scrollHeight;
  }

  function renderComposer() {
    for (const button of document.querySelectorAll('.zd-type')) {
      button.classList.toggle('zd-active', button.dataset.type === model.comment.type);
    }
    $('zd-composer').classList.toggle('zd-internal', model.comment.type === 'internalNote');
  }

  function renderAssignee() {
    const select = $('zd-assignee');
    const options = [{ id: '', name: '—' }, ...model.groups];
    select.replaceChildren(...options.map((g) => new Option(g.name, String(g.id))));
    const group = model.ticket.assignee.group;
    select.value = group ? String(group.id) : '';
  }

  function saveStatus(text) {
    $('zd-save-status').textContent = text;
  }

  // ---- ZAF paths ----------------------------------------------------------------------------

  function view() {
    const t = model.ticket;
    return {
      ticket: {
        ...t,
        comments: t.comments.map(({ text, ...zaf }) => zaf),
        comment: { text: $('zd-comment').value, type: model.comment.type },
      },
      comment: { text: $('zd-comment').value, type: model.comment.type },
      currentUser: model.currentUser,
      currentAccount: model.currentAccount,
    };
  }

  function getPath(path) {
    let value = view();
    for (const part of path.split('.')) {
      if (value == null || typeof value !== 'object' || !(part in value)) {
        throw new Error(`Could not find path ${path}`);
      }
      value = value[part];
    }
    return value;
  }

  function setPath(path, value) {
    if (path === 'comment.type' || path === 'ticket.comment.type') {
      if (!['publicReply', 'internalNote'].includes(value)) throw new Error(`invalid type ${value}`);
      model.comment.type = value;
      renderComposer();
    } else if (path === 'comment.text' || path === 'ticket.comment.text') {
      $('zd-comment').value = String(value);
    } else if (path === 'ticket.assignee') {
      const groupId = value && (value.groupId ?? value.group_id);
      const group = model.groups.find((g) => String(g.id) === String(groupId));
      if (groupId != null && !group) throw new Error(`unknown group ${groupId}`);
      model.ticket.assignee = { user: null, group: group || null };
      renderAssignee();
      emit('ticket.assignee.changed', model.ticket.assignee);
    } else {
      throw new Error(`the stand-in cannot set ${path}`);
    }
    return value;
  }

  function appendToComposer(text) {
    const box = $('zd-comment');
    box.value = box.value && !box.value.endsWith('\n') ? `${box.value}\n${text}` : box.value + text;
  }

  function invoke(name, args) {
    if (name === 'comment.appendText' || name === 'ticket.editor.insert') {
      appendToComposer(String(args[0] ?? ''));
      return null;
    }
    if (name === 'resize') {
      const height = args[0] && args[0].height;
      if (height) iframe.style.height = /^\d+$/.test(String(height)) ? `${height}px` : height;
      return null;
    }
    if (name === 'track' || name === 'notify') return null;
    throw new Error(`the stand-in cannot invoke ${name}`);
  }

  function answer(data) {
    const result = { errors: {} };
    const error = (path, err) => {
      result.errors[path] = { message: err.message, name: 'ZAFError', path };
    };
    if (data.request === 'get') {
      for (const path of data.params || []) {
        try { result[path] = getPath(path); } catch (err) { error(path, err); }
      }
    } else if (data.request === 'set') {
      for (const [path, value] of Object.entries(data.params || {})) {
        try { result[path] = setPath(path, value); } catch (err) { error(path, err); }
      }
    } else if (data.request === 'invoke') {
      for (const [name, args] of Object.entries(data.params || {})) {
        try { result[name] = invoke(name, Array.isArray(args) ? args : [args]); } catch (err) { error(name, err); }
      }
    } else {
      send({ id: data.id, error: { message: `unknown request ${data.request}`, name: 'ZAFError' } });
      return;
    }
    send({ id: data.id, result });
  }

  // ---- messaging ----------------------------------------------------------------------------

  function send(message) {
    log.push({ to: 'iframe', ...message });
    iframe.contentWindow.postMessage(JSON.stringify(message), iframeOrigin);
  }

  function emit(event, data) {
    if (!subscriptions.get(event)) return;
    send({ key: `zaf.${event}`, message: data });
  }

  function runHook(event) {
    if (!subscriptions.get(event)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        hookReplies.delete(event);
        resolve(true);
      }, HOOK_TIMEOUT_MS);
      hookReplies.set(event, (reply) => {
        clearTimeout(timer);
        resolve(!reply.error);
      });
      send({ key: `zaf.${event}`, needsReply: true });
    });
  }

  function register() {
    send({
      key: 'zaf.app.registered',
      message: {
        context: {
          product: 'support', location: 'ticket_sidebar', instanceGuid: APP_GUID,
          account: model.currentAccount, ticketId: model.ticket.id,
        },
        metadata: {
          appId: 0, installationId: 0, name: 'CloneDesk', version: '0.1.0',
          settings: { title: 'CloneDesk' },
        },
        iframe_session_timeout: 300000,
      },
    });
  }

  function onMessage(event) {
    if (!iframe || event.source !== iframe.contentWindow) return;
    let data = event.data;
    if (typeof data === 'string') {
      try { data = JSON.parse(data); } catch (err) { return; }
    }
    if (!data || typeof data !== 'object') return;
    log.push({ from: 'iframe', ...data });
    if (data.request) {
      answer(data);
      return;
    }
    const key = String(data.key || '');
    const message = data.message || {};
    if (key === 'iframe.handshake') {
      register();
    } else if (key.startsWith('iframe.on:')) {
      subscriptions.set(key.slice('iframe.on:'.length), message.subscriberCount || 1);
    } else if (key.startsWith('iframe.off:')) {
      subscriptions.set(key.slice('iframe.off:'.length), message.subscriberCount || 0);
    } else if (key.startsWith('iframe.reply:')) {
      const resolve = hookReplies.get(key.slice('iframe.reply:'.length));
      if (resolve) resolve(data);
    } else if (/^request:\d+$/.test(key)) {
      send({ key: `zaf.${key}.fail`, message: { responseArgs: [{ status: 501, responseText: 'client.request is not available in the stand-in host' }] } });
    }
    // __track__, session.live, session.idle, iframe.trigger:*: nothing to do
  }

  // ---- the agent's Submit -----------------------------------------------------------------

  async function onSubmit(event) {
    event.preventDefault();
    const box = $('zd-comment');
    const text = box.value.trim();
    const button = $('zd-submit');
    button.disabled = true;
    saveStatus('Saving…');
    emit('ticket.submit.start', { ticketId: model.ticket.id });
    const allowed = await runHook('ticket.save');
    if (!allowed) {
      saveStatus('An app stopped the save.');
      emit('ticket.submit.fail', { ticketId: model.ticket.id });
      emit('ticket.submit.always', { ticketId: model.ticket.id });
      button.disabled = false;
      return;
    }
    if (text) {
      const agent = model.currentUser;
      model.ticket.comments.push({
        id: model.ticket.comments.length + 1, value: toHtml(text), text,
        author: { id: agent.id, name: agent.name, role: 'agent' },
        created_at: new Date().toISOString(), nonPublic: model.comment.type === 'internalNote',
      });
    }
    box.value = '';
    model.comment.type = 'publicReply';
    renderTicket();
    renderComposer();
    saveStatus(text ? 'Sent.' : 'Saved.');
    button.disabled = false;
    emit('ticket.submit.done', { ticketId: model.ticket.id });
    emit('ticket.submit.always', { ticketId: model.ticket.id });
    if (text) emit('ticket.comments.changed', view().ticket.comments);
  }

  // ---- start -------------------------------------------------------------------------------

  function loadSidebar() {
    const url = new URL(iframe.dataset.src, window.location.href);
    url.searchParams.set('origin', window.location.origin);
    url.searchParams.set('app_guid', APP_GUID);
    iframeOrigin = url.origin;
    const token = iframe.dataset.token;
    if (!token) {
      iframe.src = url.toString();
      return;
    }
    const form = document.createElement('form');  // Zendesk's signed-URL first load
    form.method = 'post';
    form.action = url.toString();
    form.target = iframe.name;
    form.hidden = true;
    const field = document.createElement('input');
    field.type = 'hidden';
    field.name = 'token';
    field.value = token;
    form.append(field);
    document.body.append(form);
    form.submit();
    form.remove();
  }

  function start() {
    model = buildModel(JSON.parse($('zd-ticket').textContent));
    iframe = $('zd-sidebar');
    window.zafHost = { model, log, subscriptions, appGuid: APP_GUID };
    renderTicket();
    renderComposer();
    renderAssignee();
    for (const button of document.querySelectorAll('.zd-type')) {
      button.addEventListener('click', () => {
        model.comment.type = button.dataset.type;
        renderComposer();
      });
    }
    $('zd-assignee').addEventListener('change', (event) => {
      const group = model.groups.find((g) => String(g.id) === event.target.value) || null;
      model.ticket.assignee = { user: null, group };
    });
    $('zd-comment').addEventListener('input', () => emit('comment.text.changed', $('zd-comment').value));
    $('zd-composer').addEventListener('submit', onSubmit);
    window.addEventListener('message', onMessage);
    loadSidebar();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
