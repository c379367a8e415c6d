/* CloneDesk ticket sidebar (ZAF v2). Plain ES2020, no framework, no inline handlers.
 *
 * Reads the ticket through the ZAF SDK, turns it into an interaction-v1 ticket, asks the
 * CloneDesk backend for a suggestion (POST {api}/suggestions; HTTP 202 = still being computed,
 * poll the returned URL) and shows it: an editable draft, the confidence, escalation advice.
 * Every agent action is posted to {api}/events. ZAF v2 cannot submit a ticket for the agent:
 * the draft goes into the composer and the agent presses Submit; a save hook and the
 * ticket.submit.done event tell us what was finally sent. Contract: docs/zendesk-app.md.
 */
(() => {
  'use strict';

  const TICKET_PATHS = ['ticket.id', 'ticket.subject', 'ticket.comments', 'ticket.requester',
    'ticket.via', 'currentUser'];
  const POLL_FIRST_MS = 1000;
  const POLL_MAX_MS = 5000;
  const POLL_GIVE_UP_MS = 120000;
  const REFRESH_DEBOUNCE_MS = 400;
  const SAVE_HOOK_LIMIT_MS = 2000;

  const $ = (id) => document.getElementById(id);
  const config = readConfig();
  const state = {
    seq: 0,               // bumps on every refresh; stale responses are dropped
    ticketId: null,
    suggestion: null,
    showAnyway: false,
    shownIds: new Set(),  // suggestion ids already reported as "shown"
    pending: null,        // {ticketId, suggestionId} of a draft put into the composer
    sentText: null,       // composer text captured by the save hook
  };
  let client = null;

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function readConfig() {
    try {
      return JSON.parse($('clonedesk-config').textContent) || {};
    } catch (err) {
      return {};
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function debounce(fn, ms) {
    let timer = null;
    return () => {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // ---- backend -------------------------------------------------------------------------

  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: {
        Authorization: `Bearer ${config.session || ''}`,
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
    });
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, (data && data.error) || `HTTP ${response.status}`);
    }
    return { status: response.status, data: data || {} };
  }

  function postEvent(kind, extra = {}, ids = null) {
    const s = state.suggestion;
    const ticketId = ids ? ids.ticketId : (s && s.ticket_id) || state.ticketId;
    const suggestionId = ids ? ids.suggestionId : s && s.suggestion_id;
    if (!suggestionId) return Promise.resolve(null);
    return api('POST', `${config.api}/events`, {
      ticket_id: String(ticketId), suggestion_id: suggestionId, kind, ...extra,
    }).catch((err) => {
      console.warn(`CloneDesk: event "${kind}" not recorded: ${err.message}`);
      return null;
    });
  }

  // ---- ZAF ticket -> interaction v1 ----------------------------------------------------

  const BLOCKS = 'p,div,li,blockquote,pre,tr,h1,h2,h3,h4,h5,h6';

  function htmlToText(html) {
    if (!html) return '';
    const doc = new DOMParser().parseFromString(String(html), 'text/html');
    doc.querySelectorAll('br').forEach((br) => br.replaceWith('\n'));
    doc.querySelectorAll(BLOCKS).forEach((el) => el.append('\n'));
    return (doc.body.textContent || '')
      .replace(/\u00a0/g, ' ')
      .replace(/[ \t]+\n/g, '\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
  }

  function commentText(comment) {
    if (typeof comment.plain_body === 'string') return comment.plain_body.trim();
    const html = comment.value ?? comment.html_body ?? comment.body ?? comment.text ?? '';
    return htmlToText(html);
  }

  function isoOrNull(value) {
    if (!value) return null;
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? null : date.toISOString();
  }

  function roleOf(comment, requesterId) {
    if (comment.nonPublic === true || comment.public === false || comment.isPublic === false) {
      return 'note';
    }
    const author = comment.author || {};
    const authorId = author.id ?? comment.author_id;
    if (requesterId != null && authorId != null && String(authorId) === String(requesterId)) {
      return 'customer';
    }
    return author.role === 'end-user' || author.role === 'end_user' ? 'customer' : 'agent';
  }

  function channelOf(via) {
    if (!via) return null;
    if (typeof via === 'string') return via;
    return via.channel || (via.source && via.source.channel) || null;
  }

  // Oldest first, whatever order the agent's conversation view uses: by time, else by id.
  function chronological(comments) {
    const times = comments.map((c) => Date.parse(c.created_at ?? c.createdAt ?? ''));
    if (times.every((t) => !Number.isNaN(t))) {
      return comments.map((c, i) => [times[i], i, c]).sort((a, b) => a[0] - b[0] || a[1] - b[1])
        .map((entry) => entry[2]);
    }
    if (comments.every((c) => Number.isFinite(Number(c.id)))) {
      return [...comments].sort((a, b) => Number(a.id) - Number(b.id));
    }
    return comments;
  }

  function buildTicket(data) {
    const requester = data['ticket.requester'] || {};
    const raw = Array.isArray(data['ticket.comments']) ? data['ticket.comments'] : [];
    const messages = chronological(raw)
      .map((comment) => {
        const author = comment.author || {};
        const authorId = author.id ?? comment.author_id;
        return {
          role: roleOf(comment, requester.id),
          text: commentText(comment),
          author_id: authorId == null ? null : String(authorId),
          created_at: isoOrNull(comment.created_at ?? comment.createdAt),
        };
      })
      .filter((message) => message.text);
    if (data['ticket.id'] == null || messages.length === 0) return null;
    return {
      id: String(data['ticket.id']),
      subject: data['ticket.subject'] || null,
      channel: channelOf(data['ticket.via']),
      messages,
      status: 'open',
    };
  }

  // ---- rendering -----------------------------------------------------------------------

  function resize() {
    if (!client) return;
    const height = Math.max(document.body.scrollHeight, 120);
    client.invoke('resize', { width: '100%', height: `${height}px` }).catch(() => {});
  }

  function setStatus(text, { retry = false } = {}) {
    $('status').textContent = text;
    $('status').hidden = !text;
    $('retry').hidden = !retry;
    resize();
  }

  function notice(text) {
    $('notice').textContent = text;
    resize();
  }

  function confidenceLabel(s) {
    if (s.confidence_label) return s.confidence_label;
    if (s.confidence >= 0.8) return 'High';
    return s.confidence >= 0.5 ? 'Medium' : 'Low';
  }

  function render(s) {
    state.suggestion = s;
    state.showAnyway = false;
    const confidence = Math.max(0, Math.min(1, Number(s.confidence) || 0));
    const label = confidenceLabel(s);
    $('confidence-text').textContent = `${label} · ${confidence.toFixed(2)}`;
    $('confidence-bar').style.width = `${Math.round(confidence * 100)}%`;
    $('confidence').className = `cd-confidence cd-${label.toLowerCase()}`;
    $('draft').value = s.reply || '';
    const escalation = s.escalation || {};
    $('escalation-group').textContent = escalation.group ? `→ ${escalation.group}` : '';
    $('escalation-reason').textContent = escalation.reason || '';
    const canAssign = escalation.group_id != null;
    $('escalate').disabled = !canAssign;
    $('escalate').title = canAssign ? '' : `Choose ${escalation.group || 'the right group'} in Assignee`;
    for (const id of ['useful', 'not-useful', 'insert', 'send']) $(id).disabled = false;
    $('useful').classList.remove('cd-chosen');
    $('not-useful').classList.remove('cd-chosen');
    const meta = [s.category, s.model_version && `model ${s.model_version}`, s.cached && 'cached'];
    $('meta').textContent = meta.filter(Boolean).join(' · ');
    notice('');
    setStatus('');
    $('suggestion').hidden = false;
    showDraft();
  }

  function showDraft() {
    const s = state.suggestion;
    const confident = s.show !== false || state.showAnyway;
    $('low').hidden = confident;
    $('draft-box').hidden = !confident || !(s.reply || '').trim();
    $('escalation').hidden = !confident || !(s.escalation && s.escalation.advised);
    if (confident && !state.shownIds.has(s.suggestion_id)) {
      state.shownIds.add(s.suggestion_id);
      postEvent('shown');
    }
    resize();
  }

  function fail(err) {
    $('suggestion').hidden = true;
    if (err instanceof ApiError && err.status === 401) {
      setStatus('Your CloneDesk session has expired. Reload the apps to sign in again.');
    } else {
      setStatus(`No suggestion: ${err.message || err}`, { retry: true });
    }
  }

  // ---- the suggestion ------------------------------------------------------------------

  async function refresh() {
    const seq = ++state.seq;
    const stale = () => seq !== state.seq;
    $('suggestion').hidden = true;
    setStatus('Reading the ticket…');
    try {
      const data = await client.get(TICKET_PATHS);
      if (stale()) return;
      const ticket = buildTicket(data);
      if (!ticket) {
        setStatus('Nothing to suggest yet: the ticket has no messages.');
        return;
      }
      state.ticketId = ticket.id;
      setStatus('Preparing a suggestion…');
      let response = await api('POST', `${config.api}/suggestions`, { ticket });
      let poll = null;
      let delay = POLL_FIRST_MS;
      const started = Date.now();
      while (response.status === 202) {
        poll = response.data.poll || poll;
        if (!poll) throw new ApiError(502, 'the server gave no poll URL');
        if (Date.now() - started > POLL_GIVE_UP_MS) {
          throw new ApiError(504, 'it is taking too long');
        }
        await sleep(delay);
        delay = Math.min(delay * 1.5, POLL_MAX_MS);
        if (stale()) return;
        response = await api('GET', poll);
      }
      if (stale()) return;
      if (!response.data.suggestion) throw new ApiError(502, 'the server sent no suggestion');
      render(response.data.suggestion);
    } catch (err) {
      if (!stale()) fail(err);
    }
  }

  // ---- agent actions -------------------------------------------------------------------

  async function putDraft(replaceDraft) {
    const text = $('draft').value;
    if (!text.trim()) return null;
    await client.set('comment.type', 'publicReply');
    try {
      if (replaceDraft) {
        await client.set('comment.text', text);
      } else {
        await client.invoke('comment.appendText', text);
      }
    } catch (err) {
      await client.invoke('ticket.editor.insert', text); // messaging tickets
    }
    const s = state.suggestion;
    state.pending = { ticketId: s.ticket_id || state.ticketId, suggestionId: s.suggestion_id };
    state.sentText = null;
    return text;
  }

  async function onPut(replaceDraft, message) {
    $('insert').disabled = true;
    $('send').disabled = true;
    try {
      const text = await putDraft(replaceDraft);
      if (text === null) return;
      notice(message);
      await postEvent('inserted', { text });
    } catch (err) {
      notice(`Could not insert the reply: ${err.message || err}`);
    } finally {
      $('insert').disabled = false;
      $('send').disabled = false;
    }
  }

  async function onEscalate() {
    const escalation = (state.suggestion && state.suggestion.escalation) || {};
    if (escalation.group_id == null) return;
    $('escalate').disabled = true;
    try {
      await client.set('ticket.assignee', { groupId: escalation.group_id });
      notice(`Assigned to ${escalation.group || 'the group'} — press Submit to save.`);
      const detail = { group: escalation.group, reason: escalation.reason };
      await postEvent('escalated', Object.fromEntries(
        Object.entries(detail).filter(([, value]) => value != null)));
    } catch (err) {
      $('escalate').disabled = false;
      notice(`Could not assign the group: ${err.message || err}`);
    }
  }

  function onFeedback(useful) {
    $('useful').disabled = true;
    $('not-useful').disabled = true;
    $(useful ? 'useful' : 'not-useful').classList.add('cd-chosen');
    notice(useful ? 'Thanks — marked useful.' : 'Thanks — marked not useful.');
    postEvent('feedback', { useful });
  }

  function onDismiss() {
    postEvent('discarded');
    $('suggestion').hidden = true;
    setStatus('Suggestion dismissed.', { retry: true });
  }

  // ZAF save hook: read what is about to be sent. Never blocks the save.
  function onSaveHook() {
    if (!state.pending) return true;
    const read = client.get(['comment.text', 'comment.type']).then((data) => {
      if (data['comment.type'] !== 'internalNote') {
        state.sentText = htmlToText(data['comment.text'] || '');
      }
      return true;
    });
    return Promise.race([read, sleep(SAVE_HOOK_LIMIT_MS).then(() => true)]).catch(() => true);
  }

  function onSubmitDone() {
    const pending = state.pending;
    if (!pending || !state.sentText) return;
    const text = state.sentText;
    state.pending = null;
    state.sentText = null;
    postEvent('sent', { text }, pending);
  }

  // ---- start -----------------------------------------------------------------------------

  function start() {
    $('retry').addEventListener('click', refresh);
    $('show-anyway').addEventListener('click', () => {
      state.showAnyway = true;
      showDraft();
    });
    $('insert').addEventListener('click', () => onPut(false,
      'Inserted into the reply — edit it there, then press Submit.'));
    $('send').addEventListener('click', () => onPut(true, 'Inserted — press Submit to send.'));
    $('escalate').addEventListener('click', onEscalate);
    $('useful').addEventListener('click', () => onFeedback(true));
    $('not-useful').addEventListener('click', () => onFeedback(false));
    $('dismiss').addEventListener('click', onDismiss);

    client = window.ZAFClient ? window.ZAFClient.init() : null;
    if (!client) {
      setStatus('Open CloneDesk from a ticket in Zendesk.');
      return;
    }
    if (!config.api || !config.session) {
      setStatus('CloneDesk is not configured for this page.');
      return;
    }
    client.on('app.registered', refresh);
    client.on('ticket.comments.changed', debounce(refresh, REFRESH_DEBOUNCE_MS));
    client.on('ticket.save', onSaveHook);
    client.on('ticket.submit.done', onSubmitDone);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
