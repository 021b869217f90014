// EVE chat widget and certificate buttons. Vanilla ES module, no dependencies.
// Model text never becomes HTML: renderMarkdown builds DOM nodes with createElement/textContent.

// EVE's routes, stream events and time limit, written into the page from EVE's own contract
// when the site is rendered.
const {
  chatUrl: CHAT_URL,
  streamUrl: STREAM_URL,
  certificateUrl: CERTIFICATE_URL,
  replyWaitMs,
  replaceEvent: REPLACE_EVENT,
  doneEvent: DONE_EVENT,
  errorEvent: ERROR_EVENT,
} = document.getElementById('eve')?.dataset ?? {};
const TIMEOUT_MS = Number(replyWaitMs);
const SESSION_KEY = 'eve.session';

// ---------- Markdown → DOM (the subset EVE emits) ----------

const INLINE =
  /(?<mark>\*\*|__)(?<strong>.+?)\k<mark>|\*(?<em>[^\s*](?:.*?[^\s*])?)\*|(?<!\w)_(?<emUnderscore>[^\s_](?:.*?[^\s_])?)_(?!\w)|`(?<code>[^`]+)`|\[(?<label>[^\]]+)\]\((?<href>[^)\s]+)\)/;

/** http(s), mailto and same-page anchors only; anything else (javascript:, data:) is dropped. */
export function safeHref(url) {
  if (/^#[\w-]*$/.test(url)) return url;
  try {
    const parsed = new URL(url, document.baseURI);
    if (['http:', 'https:', 'mailto:'].includes(parsed.protocol) && /^(https?:|mailto:)/i.test(url)) {
      return parsed.href;
    }
  } catch {
    // Not a URL: shown as text.
  }
  return null;
}

function appendInline(parent, text) {
  let rest = text;
  while (rest) {
    const m = INLINE.exec(rest);
    if (!m) {
      parent.append(rest);
      return;
    }
    if (m.index > 0) parent.append(rest.slice(0, m.index));
    const { strong, em, emUnderscore, code, label, href } = m.groups;
    if (strong !== undefined) {
      appendInline(parent.appendChild(document.createElement('strong')), strong);
    } else if (em !== undefined || emUnderscore !== undefined) {
      appendInline(parent.appendChild(document.createElement('em')), em ?? emUnderscore);
    } else if (code !== undefined) {
      parent.appendChild(document.createElement('code')).textContent = code;
    } else {
      const safe = safeHref(href);
      if (safe) {
        const a = parent.appendChild(document.createElement('a'));
        a.href = safe;
        if (!safe.startsWith('#') && !safe.startsWith('mailto:')) {
          a.target = '_blank';
          a.rel = 'noopener noreferrer';
        }
        appendInline(a, label);
      } else {
        appendInline(parent, label);
      }
    }
    rest = rest.slice(m.index + m[0].length);
  }
}

/** Paragraphs, `-`/`*`/`1.` lists, fenced code, and inline bold/italic/code/links. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  let block = null; // the open <p>, <ul> or <ol>
  let code = null; // the open <code> of a fence
  for (const line of String(text).replace(/\r\n?/g, '\n').split('\n')) {
    if (code) {
      if (line.trim().startsWith('```')) code = null;
      else code.textContent += (code.textContent ? '\n' : '') + line;
      continue;
    }
    if (line.trim().startsWith('```')) {
      block = null;
      code = fragment.appendChild(document.createElement('pre')).appendChild(document.createElement('code'));
      continue;
    }
    const item = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/.exec(line);
    if (item) {
      const tag = item[1] ? 'UL' : 'OL';
      if (!block || block.tagName !== tag) block = fragment.appendChild(document.createElement(tag));
      appendInline(block.appendChild(document.createElement('li')), item[3]);
    } else if (!line.trim()) {
      block = null;
    } else if (block && block.tagName === 'P') {
      block.append(' ');
      appendInline(block, line.trim());
    } else {
      block = fragment.appendChild(document.createElement('p'));
      appendInline(block, line.trim());
    }
  }
  return fragment;
}

// ---------- talking to the API ----------

/** The server's own error message when it sent one, else a plain description. */
async function errorMessage(response) {
  try {
    const body = await response.json();
    const message = body?.error?.message ?? body?.error ?? body?.message;
    if (typeof message === 'string' && message) return message;
  } catch {
    // Not JSON: fall through.
  }
  return `EVE could not answer (HTTP ${response.status}). Please try again.`;
}

class ServerError extends Error {}

/** The server assigns the session id on the first reply; later questions send it back. */
function chatPayload(message) {
  const sessionId = sessionStorage.getItem(SESSION_KEY);
  return sessionId ? { message, session_id: sessionId } : { message };
}

function rememberSession(body) {
  if (typeof body?.session_id === 'string' && body.session_id) {
    sessionStorage.setItem(SESSION_KEY, body.session_id);
  }
}

/** Hex SHA-256 of a body: CloudFront signs requests to a Lambda function URL, which takes no
 * unsigned payloads, so a POST carries its hash in x-amz-content-sha256. */
async function sha256Hex(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

async function postJson(url, payload, signal) {
  const body = JSON.stringify(payload);
  const headers = { 'content-type': 'application/json', accept: url === STREAM_URL ? 'text/event-stream' : 'application/json' };
  // SubtleCrypto exists in secure contexts only (https, localhost), which is where EVE runs.
  if (globalThis.crypto?.subtle) headers['x-amz-content-sha256'] = await sha256Hex(body);
  return fetch(url, { method: 'POST', headers, body, signal });
}

function replyText(body) {
  const text = body?.reply ?? body?.answer ?? body?.text;
  return typeof text === 'string' ? text : '';
}

/**
 * Streams Server-Sent Events from the stream route, calling onText with the text so far.
 * Returns null when the server has no streaming endpoint, so the caller falls back. A stream
 * that ends before its `done` event (a connection cut, a function stopped at its timeout) was
 * cut off: its text is not an answer.
 */
async function askStreaming(payload, signal, onText) {
  const response = await postJson(STREAM_URL, payload, signal);
  if ([404, 405, 501].includes(response.status)) return null;
  if (!response.ok) throw new ServerError(await errorMessage(response));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let text = '';
  let finished = false;
  for (;;) {
    const { value, done } = await reader.read();
    buffered += decoder.decode(value, { stream: !done });
    let cut;
    while ((cut = buffered.indexOf('\n\n')) >= 0) {
      const event = parseEvent(buffered.slice(0, cut));
      buffered = buffered.slice(cut + 2);
      if (!event) continue;
      if (event.type === ERROR_EVENT) throw new ServerError(event.data?.error?.message ?? 'EVE could not answer.');
      if (event.type === DONE_EVENT) finished = true;
      rememberSession(event.data);
      // The model broke off: its partial text gives way to the answer EVE stored.
      if (event.type === REPLACE_EVENT && typeof event.data?.text === 'string') text = event.data.text;
      else if (typeof event.data?.delta === 'string') text += event.data.delta;
      const whole = replyText(event.data);
      if (whole) text = whole;
      onText(text);
    }
    if (done) {
      if (!finished) throw new ServerError("EVE's answer was cut off. Please try again.");
      return text;
    }
  }
}

function parseEvent(raw) {
  let type = 'message';
  const data = [];
  for (const line of raw.split('\n')) {
    if (line.startsWith('event:')) type = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (!data.length) return null;
  try {
    return { type, data: JSON.parse(data.join('\n')) };
  } catch {
    return { type, data: { delta: data.join('\n') } };
  }
}

async function askOnce(payload, signal) {
  const response = await postJson(CHAT_URL, payload, signal);
  if (!response.ok) throw new ServerError(await errorMessage(response));
  const body = await response.json();
  rememberSession(body);
  return replyText(body);
}

// ---------- the widget ----------

function setUpChat(root) {
  const launcher = root.querySelector('.eve-launcher');
  const panel = root.querySelector('.eve-panel');
  const close = root.querySelector('.eve-close');
  const log = root.querySelector('.eve-log');
  const typing = root.querySelector('.eve-typing');
  const error = root.querySelector('.eve-error');
  const form = root.querySelector('.eve-form');
  const input = form.querySelector('textarea');
  const send = form.querySelector('.eve-send');
  const suggestions = [...root.querySelectorAll('.eve-suggestion')];
  let busy = false;
  let streaming = true;

  const open = () => {
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute('aria-expanded', 'true');
    input.focus();
  };
  const collapse = () => {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
  };
  launcher.addEventListener('click', open);
  close.addEventListener('click', collapse);
  root.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !panel.hidden) collapse();
  });

  const addMessage = (from, text) => {
    const bubble = log.appendChild(document.createElement('div'));
    bubble.className = `eve-msg eve-from-${from}`;
    if (from === 'user') bubble.appendChild(document.createElement('p')).textContent = text;
    else bubble.replaceChildren(renderMarkdown(text));
    log.scrollTop = log.scrollHeight;
    return bubble;
  };

  const setBusy = (value) => {
    busy = value;
    typing.hidden = !value;
    send.disabled = value;
    for (const button of suggestions) button.disabled = value;
    log.setAttribute('aria-busy', String(value));
  };

  const ask = async (question) => {
    const message = question.trim();
    if (!message || busy) return;
    error.hidden = true;
    addMessage('user', message);
    setBusy(true);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    const payload = chatPayload(message);
    let bubble = null;
    const show = (text) => {
      if (!text) return;
      typing.hidden = true;
      if (!bubble) bubble = addMessage('bot', text);
      else bubble.replaceChildren(renderMarkdown(text));
      log.scrollTop = log.scrollHeight;
    };
    try {
      let reply = streaming ? await askStreaming(payload, controller.signal, show) : null;
      if (reply === null) {
        streaming = false;
        reply = await askOnce(payload, controller.signal);
      }
      if (!reply) throw new ServerError('EVE sent an empty reply. Please try again.');
      show(reply);
    } catch (err) {
      bubble?.remove();
      error.textContent =
        err.name === 'AbortError'
          ? 'EVE took too long to answer. Please try again.'
          : err instanceof ServerError
            ? err.message
            : 'EVE is unreachable right now. Check your connection and try again.';
      error.hidden = false;
    } finally {
      clearTimeout(timer);
      setBusy(false);
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const question = input.value;
    if (!question.trim() || busy) return;
    input.value = '';
    ask(question);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  for (const button of suggestions) button.addEventListener('click', () => ask(button.textContent));
  root.hidden = false;
}

// ---------- certificate buttons ----------

function setUpCertificates(buttons, status) {
  for (const button of buttons) {
    button.hidden = false;
    button.addEventListener('click', async () => {
      button.disabled = true;
      status.textContent = 'Fetching the certificate…';
      try {
        const response = await fetch(CERTIFICATE_URL + encodeURIComponent(button.dataset.certificate), {
          headers: { accept: 'application/json' },
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        if (!response.ok) throw new ServerError(await errorMessage(response));
        const url = (await response.json())?.url;
        if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new ServerError('The certificate link is not available.');
        window.open(url, '_blank', 'noopener');
        const fallback = document.createElement('a');
        fallback.href = url;
        fallback.target = '_blank';
        fallback.rel = 'noopener';
        fallback.textContent = 'open it here';
        status.replaceChildren('The certificate opened in a new tab. If it did not, ', fallback, '.');
      } catch (err) {
        status.textContent = err instanceof ServerError ? err.message : 'The certificate could not be fetched. Please try again.';
      } finally {
        button.disabled = false;
      }
    });
  }
}

const chat = document.getElementById('eve');
if (chat) setUpChat(chat);
const certificateButtons = document.querySelectorAll('[data-certificate]');
const certificateStatus = document.querySelector('.certificate-status');
if (certificateButtons.length && certificateStatus) setUpCertificates(certificateButtons, certificateStatus);
