// shimmy-host chat page. Plain JavaScript, no framework, nothing fetched from elsewhere.
// It talks to the server's own routes: /v1/models, /api/tags, /api/ps, /health and
// /v1/chat/completions (SSE). Text from the model or the server is only ever put into the
// page as text nodes (the Markdown renderer builds elements, it never parses HTML).
'use strict';

(() => {
  const STORE = 'shimmy.conversations.v1';
  const CURRENT = 'shimmy.current';
  const KEY = 'shimmy.apiKey';
  const SETTINGS = 'shimmy.settings.v1';
  const MODEL = 'shimmy.model';

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  };

  // ---- storage ---------------------------------------------------------------------------

  function load(key, fallback) {
    try {
      const v = localStorage.getItem(key);
      return v ? JSON.parse(v) : fallback;
    } catch (_) {
      return fallback;
    }
  }
  function save(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      setStatus('Could not save the conversations in this browser: ' + e.message);
    }
  }

  const state = {
    conversations: load(STORE, []),
    current: localStorage.getItem(CURRENT),
    models: [],
    running: null, // { controller, message, conv }
  };
  if (!Array.isArray(state.conversations)) state.conversations = [];

  function persist() {
    save(STORE, state.conversations);
    if (state.current) localStorage.setItem(CURRENT, state.current);
  }
  function conversation() {
    return state.conversations.find((c) => c.id === state.current) || null;
  }
  function newId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  }

  // ---- the API -----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function errorText(res) {
    let text = '';
    try {
      text = await res.text();
    } catch (_) { /* the body is gone */ }
    try {
      const v = JSON.parse(text);
      if (typeof v.error === 'string') return v.error;
      if (v.error && typeof v.error.message === 'string') return v.error.message;
    } catch (_) { /* not JSON */ }
    return text.trim().slice(0, 500) || `HTTP ${res.status} ${res.statusText}`;
  }

  // Asks for the API key (once per refused request); resolves to whether one was given.
  let keyPrompt = null;
  function askKey(reason) {
    if (keyPrompt) return keyPrompt;
    const dialog = $('key-dialog');
    keyPrompt = new Promise((resolve) => {
      $('key-input').value = '';
      const title = $('key-title');
      title.textContent = localStorage.getItem(KEY) ? 'The API key was refused' : 'API key';
      if (reason) title.title = reason;
      const done = (ok) => {
        dialog.close();
        keyPrompt = null;
        resolve(ok);
      };
      $('key-form').onsubmit = (e) => {
        e.preventDefault();
        const key = $('key-input').value.trim();
        if (!key) return;
        localStorage.setItem(KEY, key);
        $('forget-key').hidden = false;
        done(true);
      };
      $('key-cancel').onclick = () => done(false);
      dialog.oncancel = () => done(false);
      dialog.showModal();
      $('key-input').focus();
    });
    return keyPrompt;
  }

  async function api(path, init = {}, retried = false) {
    const headers = new Headers(init.headers || {});
    const key = localStorage.getItem(KEY);
    if (key) headers.set('Authorization', 'Bearer ' + key);
    let res;
    try {
      res = await fetch(path, { ...init, headers });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, `Cannot reach the server (${e.message}). Is shimmy-host still running?`);
    }
    if (res.status === 401 && !retried) {
      const reason = await errorText(res);
      if (key) localStorage.removeItem(KEY);
      if (await askKey(reason)) return api(path, init, true);
      throw new ApiError(401, reason + ' (no API key given)');
    }
    return res;
  }

  async function getJson(path, okStatuses = [200]) {
    const res = await api(path);
    if (!okStatuses.includes(res.status)) throw new ApiError(res.status, await errorText(res));
    return res.json();
  }

  // ---- models ------------------------------------------------------------------------------

  function bytes(n) {
    if (!Number.isFinite(n) || n <= 0) return '';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  }

  function setStatus(text) {
    $('server-status').textContent = text;
  }

  async function refreshModels() {
    let list;
    try {
      list = await getJson('/v1/models');
    } catch (e) {
      setStatus(e.message);
      renderModels();
      return;
    }
    const [tags, ps, health] = await Promise.all([
      getJson('/api/tags').catch(() => null),
      getJson('/api/ps').catch(() => null),
      getJson('/health', [200, 503]).catch(() => null),
    ]);
    const byName = (arr) => new Map((arr || []).map((m) => [m.name, m]));
    const tagged = byName(tags && tags.models);
    const running = byName(ps && ps.models);
    const status = byName(health && health.models);
    state.models = (list.data || []).map((m) => {
      const t = tagged.get(m.id) || {};
      const details = t.details || {};
      const h = status.get(m.id) || {};
      return {
        id: m.id,
        size: t.size,
        quant: details.quantization_level,
        params: details.parameter_size,
        family: details.family,
        loaded: Boolean(h.loaded || running.has(m.id)),
        memory: h.memory || [],
        vram: (running.get(m.id) || {}).size_vram,
      };
    });
    if (health) {
      const slots = health.slots || {};
      setStatus(`server ${health.status} · v${health.version} · ${slots.busy || 0} of ${slots.total || 0} slots busy`);
    } else {
      setStatus('');
    }
    renderModels();
  }

  function placement(m) {
    if (!m.loaded) return 'not loaded (loads on first use)';
    const parts = m.memory
      .filter((d) => d.model + d.kv_cache + d.compute > 0)
      .map((d) => `${d.device} ${bytes(d.model + d.kv_cache + d.compute)}`);
    return 'loaded' + (parts.length ? ': ' + parts.join(', ') : '');
  }

  function renderModels() {
    const ul = $('models');
    ul.replaceChildren();
    for (const m of state.models) {
      const facts = [bytes(m.size), m.quant, m.params && `${m.params} params`, m.family]
        .filter(Boolean)
        .join(' · ');
      ul.append(el('li', { 'data-model': m.id },
        el('div', { class: 'name', text: m.id }),
        el('div', { class: 'muted', text: facts }),
        el('div', { class: m.loaded ? 'loaded' : 'muted', text: placement(m) })));
    }
    if (!state.models.length) ul.append(el('li', { class: 'muted', text: 'No models.' }));
    const select = $('model');
    const conv = conversation();
    const wanted = (conv && conv.model) || localStorage.getItem(MODEL) || (state.models[0] && state.models[0].id);
    select.replaceChildren(...state.models.map((m) => el('option', { value: m.id, text: m.id })));
    if (wanted && !state.models.some((m) => m.id === wanted)) {
      select.append(el('option', { value: wanted, text: `${wanted} (not served)` }));
    }
    if (wanted) select.value = wanted;
  }

  // ---- Markdown (a safe subset; builds elements, never parses HTML) ---------------------

  const INLINE = new RegExp([
    '(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)', // 1,2 code
    '\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*', // 3 bold
    '__(?=\\S)([\\s\\S]*?\\S)__', // 4 bold
    '~~(?=\\S)([\\s\\S]*?\\S)~~', // 5 strike
    '\\*(?=[^\\s*])((?:[^*\\n]|\\*\\*[^*\\n]+\\*\\*)*?[^\\s*])\\*(?!\\*)', // 6 italic
    '(?<![\\w])_(?=[^\\s_])([^_\\n]*?[^\\s_])_(?![\\w])', // 7 italic
    '\\[([^\\]\\n]+)\\]\\(([^()\\s]+)(?:\\s+"[^"\\n]*")?\\)', // 8,9 link
    '(https?:\\/\\/[^\\s<>()\\[\\]]*[^\\s<>()\\[\\].,;:!?\'"*_~])', // 10 bare URL
  ].join('|'), 'g');

  function safeUrl(href) {
    try {
      const url = new URL(href, location.href);
      return ['http:', 'https:', 'mailto:'].includes(url.protocol) ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function inline(text, parent, depth = 0) {
    if (depth > 6) {
      parent.append(text);
      return;
    }
    INLINE.lastIndex = 0;
    const re = new RegExp(INLINE.source, 'g');
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      last = re.lastIndex;
      if (m[2] !== undefined) {
        parent.append(el('code', { text: m[2].replace(/^ (.*) $/s, '$1') }));
      } else if (m[3] !== undefined || m[4] !== undefined) {
        const b = el('strong');
        inline(m[3] ?? m[4], b, depth + 1);
        parent.append(b);
      } else if (m[5] !== undefined) {
        const s = el('del');
        inline(m[5], s, depth + 1);
        parent.append(s);
      } else if (m[6] !== undefined || m[7] !== undefined) {
        const i = el('em');
        inline(m[6] ?? m[7], i, depth + 1);
        parent.append(i);
      } else if (m[8] !== undefined) {
        const href = safeUrl(m[9]);
        if (href) {
          const a = el('a', { href, rel: 'noopener noreferrer nofollow', target: '_blank' });
          inline(m[8], a, depth + 1);
          parent.append(a);
        } else {
          parent.append(m[0]);
        }
      } else if (m[10] !== undefined) {
        const href = safeUrl(m[10]);
        parent.append(href
          ? el('a', { href, rel: 'noopener noreferrer nofollow', target: '_blank', text: m[10] })
          : m[10]);
      }
      if (re.lastIndex === m.index) re.lastIndex += 1;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  function inlineLines(lines, parent) {
    lines.forEach((line, i) => {
      if (i > 0) parent.append(el('br'));
      inline(line, parent);
    });
  }

  function codeBlock(lang, code) {
    const codeEl = el('code', { text: code });
    if (lang) codeEl.className = 'language-' + lang.replace(/[^\w+-]/g, '');
    const copy = el('button', {
      type: 'button',
      class: 'copy',
      'aria-label': 'Copy the code',
      text: 'Copy',
      onclick: () => {
        const done = () => {
          copy.textContent = 'Copied';
          setTimeout(() => { copy.textContent = 'Copy'; }, 1500);
        };
        if (navigator.clipboard) navigator.clipboard.writeText(code).then(done, () => {});
      },
    });
    return el('pre', {}, copy, codeEl);
  }

  const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const TABLE_RULE = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

  function cells(line) {
    let t = line.trim();
    if (t.startsWith('|')) t = t.slice(1);
    if (t.endsWith('|')) t = t.slice(0, -1);
    return t.split('|').map((c) => c.trim());
  }

  function markdown(text, depth = 0) {
    const out = document.createDocumentFragment();
    const lines = text.replace(/\r\n?/g, '\n').split('\n');
    let i = 0;
    let para = [];
    const flush = () => {
      if (para.length) {
        const p = el('p');
        inlineLines(para, p);
        out.append(p);
        para = [];
      }
    };
    while (i < lines.length) {
      const line = lines[i];
      const fence = line.match(/^\s{0,3}(`{3,}|~{3,})\s*([^`\s]*)/);
      if (fence) {
        flush();
        const marker = fence[1];
        const body = [];
        i += 1;
        while (i < lines.length && !lines[i].trimStart().startsWith(marker)) {
          body.push(lines[i]);
          i += 1;
        }
        i += 1; // the closing fence (absent while streaming)
        out.append(codeBlock(fence[2], body.join('\n')));
        continue;
      }
      const heading = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/);
      if (heading) {
        flush();
        const h = el('h' + Math.min(6, heading[1].length + 2));
        inline(heading[2], h);
        out.append(h);
        i += 1;
        continue;
      }
      if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
        flush();
        out.append(el('hr'));
        i += 1;
        continue;
      }
      if (/^\s{0,3}>/.test(line) && depth < 4) {
        flush();
        const quoted = [];
        while (i < lines.length && /^\s{0,3}>/.test(lines[i])) {
          quoted.push(lines[i].replace(/^\s{0,3}> ?/, ''));
          i += 1;
        }
        out.append(el('blockquote', {}, markdown(quoted.join('\n'), depth + 1)));
        continue;
      }
      if (line.includes('|') && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]) && lines[i + 1].includes('-')) {
        flush();
        const head = el('tr', {}, ...cells(line).map((c) => {
          const th = el('th');
          inline(c, th);
          return th;
        }));
        const rows = [];
        i += 2;
        while (i < lines.length && lines[i].includes('|') && lines[i].trim()) {
          rows.push(el('tr', {}, ...cells(lines[i]).map((c) => {
            const td = el('td');
            inline(c, td);
            return td;
          })));
          i += 1;
        }
        out.append(el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
        continue;
      }
      const item = line.match(LIST_ITEM);
      if (item) {
        flush();
        const ordered = /\d/.test(item[2]);
        const list = el(ordered ? 'ol' : 'ul');
        if (ordered) {
          const start = parseInt(item[2], 10);
          if (start !== 1) list.setAttribute('start', String(start));
        }
        let li = null;
        let liLines = [];
        const endItem = () => {
          if (li) {
            inlineLines(liLines, li);
            list.append(li);
          }
        };
        while (i < lines.length) {
          const m = lines[i].match(LIST_ITEM);
          if (m && /\d/.test(m[2]) === ordered) {
            endItem();
            li = el('li');
            liLines = [m[3]];
          } else if (li && lines[i].trim() && /^\s+/.test(lines[i])) {
            liLines.push(lines[i].trim());
          } else {
            break;
          }
          i += 1;
        }
        endItem();
        out.append(list);
        continue;
      }
      if (!line.trim()) {
        flush();
        i += 1;
        continue;
      }
      para.push(line);
      i += 1;
    }
    flush();
    return out;
  }

  // ---- conversations ------------------------------------------------------------------------

  function titleOf(conv) {
    if (conv.title) return conv.title;
    const first = conv.messages.find((m) => m.role === 'user');
    return first ? first.content.replace(/\s+/g, ' ').slice(0, 48) : 'New conversation';
  }

  function newConversation() {
    const conv = { id: newId(), title: '', model: $('model').value || localStorage.getItem(MODEL) || '', messages: [], created: Date.now() };
    state.conversations.unshift(conv);
    state.current = conv.id;
    persist();
    renderAll();
    $('prompt').focus();
    return conv;
  }

  function renderConversations() {
    const ul = $('conversations');
    ul.replaceChildren();
    for (const conv of state.conversations) {
      const current = conv.id === state.current;
      const li = el('li', { 'aria-current': current ? 'true' : 'false', 'data-id': conv.id });
      const open = el('button', {
        type: 'button',
        class: 'open',
        text: titleOf(conv),
        title: titleOf(conv),
        onclick: () => {
          if (state.running) return;
          state.current = conv.id;
          persist();
          renderAll();
        },
      });
      const rename = el('button', {
        type: 'button',
        class: 'act rename',
        'aria-label': `Rename “${titleOf(conv)}”`,
        title: 'Rename',
        text: '✎',
        onclick: () => startRename(li, conv),
      });
      const del = el('button', {
        type: 'button',
        class: 'act delete',
        'aria-label': `Delete “${titleOf(conv)}”`,
        title: 'Delete',
        text: '✕',
        onclick: () => {
          if (del.dataset.armed !== '1') {
            del.dataset.armed = '1';
            del.textContent = 'Delete?';
            del.classList.add('danger');
            setTimeout(() => {
              if (del.isConnected) {
                del.dataset.armed = '';
                del.textContent = '✕';
                del.classList.remove('danger');
              }
            }, 4000);
            return;
          }
          if (state.running && state.running.conv === conv) stop();
          state.conversations = state.conversations.filter((c) => c !== conv);
          if (state.current === conv.id) state.current = state.conversations[0] ? state.conversations[0].id : null;
          if (!state.current) localStorage.removeItem(CURRENT);
          persist();
          renderAll();
        },
      });
      li.append(open, rename, del);
      ul.append(li);
    }
  }

  function startRename(li, conv) {
    const input = el('input', { type: 'text', value: titleOf(conv), 'aria-label': 'New name' });
    li.replaceChildren(input);
    input.focus();
    input.select();
    let finished = false;
    const finish = (keep) => {
      if (finished) return;
      finished = true;
      if (keep) {
        conv.title = input.value.trim();
        persist();
      }
      renderAll();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        finish(true);
      } else if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        finish(false);
      }
    });
    input.addEventListener('blur', () => finish(true));
  }

  // ---- messages -----------------------------------------------------------------------------

  function statsText(s) {
    if (!s) return { text: '', title: '' };
    const parts = [];
    const sec = (ms) => (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
    const rate = (n, ms) => (ms > 0 && n > 0 ? (n / (ms / 1000)).toFixed(1) : null);
    let title;
    if (s.timings) {
      const t = s.timings;
      parts.push(`prompt ${t.prompt_n} tok · ${Number(t.prompt_per_second).toFixed(1)} tok/s`);
      parts.push(`${t.predicted_n} tok · ${Number(t.predicted_per_second).toFixed(1)} tok/s`);
      if (s.ttft_ms != null) parts.push(`first token ${sec(s.ttft_ms)}`);
      title = 'Prompt and decode speeds as the server reports them; the time to first token is measured in the browser.';
    } else {
      if (s.prompt_tokens != null) {
        const cached = s.cached_tokens ? ` (${s.cached_tokens} cached)` : '';
        const pr = rate(s.prompt_tokens - (s.cached_tokens || 0), s.ttft_ms);
        parts.push(`prompt ${s.prompt_tokens} tok${cached}` + (pr ? ` · ≥${pr} tok/s` : ''));
      }
      if (s.ttft_ms != null) parts.push(`first token ${sec(s.ttft_ms)}`);
      if (s.completion_tokens != null) {
        const dr = s.completion_tokens > 1 ? rate(s.completion_tokens - 1, s.decode_ms) : null;
        parts.push(`${s.completion_tokens} tok` + (dr ? ` · ${dr} tok/s decode` : ''));
      }
      title = 'Measured in this browser: the time to first token includes the request, any queue and a model load, '
        + 'so the prompt speed (prompt tokens not cached ÷ time to first token) is a lower bound; '
        + 'the decode speed counts the tokens after the first over the time after the first.';
    }
    if (s.finish === 'length') parts.push('stopped at max tokens');
    else if (s.finish === 'tool_calls') parts.push('tool call');
    if (s.total_ms != null) parts.push(`total ${sec(s.total_ms)}`);
    return { text: parts.join(' · '), title };
  }

  function toolCard(call) {
    const fn = call.function || {};
    let args = fn.arguments || '';
    try {
      args = JSON.stringify(JSON.parse(args), null, 2);
    } catch (_) { /* keep the text as it came */ }
    return el('div', { class: 'tool-call', role: 'group', 'aria-label': `Tool call ${fn.name || ''}` },
      el('div', {}, 'Tool call ', el('span', { class: 'fn', text: fn.name || '(unnamed)' }),
        call.id ? el('span', { class: 'muted', text: ` · ${call.id}` }) : null),
      el('pre', {}, el('code', { text: args })));
  }

  // Fills a message's element from the message; `streaming` shows a typing mark.
  function fillMessage(node, msg, streaming) {
    const body = node.querySelector('.body');
    body.replaceChildren();
    if (msg.role === 'user') {
      body.textContent = msg.content;
    } else {
      if (msg.reasoning) {
        const details = el('details', { class: 'reasoning' },
          el('summary', { text: streaming && !msg.content ? 'Reasoning…' : 'Reasoning' }),
          el('div', { class: 'text', text: msg.reasoning }));
        if (streaming && !msg.content) details.open = true;
        body.append(details);
      }
      if (msg.content) body.append(markdown(msg.content));
      for (const call of msg.tool_calls || []) body.append(toolCard(call));
      if (streaming && !msg.content && !msg.reasoning) body.append(el('span', { class: 'typing muted', text: 'waiting for the first token' }));
      if (msg.stopped) body.append(el('div', { class: 'stopped', text: 'stopped' }));
      if (msg.error) body.append(el('div', { class: 'error', role: 'alert', text: msg.error }));
    }
    const stats = node.querySelector('.stats');
    if (stats) {
      const s = statsText(msg.stats);
      stats.textContent = s.text;
      stats.title = s.title;
    }
    node.classList.toggle('streaming', Boolean(streaming));
  }

  function messageNode(msg) {
    const who = msg.role === 'user' ? 'you' : `assistant${msg.model ? ' · ' + msg.model : ''}`;
    const node = el('article', { class: `msg ${msg.role}`, 'aria-label': msg.role === 'user' ? 'Your message' : 'Answer' },
      el('div', { class: 'who', text: who }),
      el('div', { class: 'body' }),
      msg.role === 'assistant' ? el('div', { class: 'stats' }) : null);
    fillMessage(node, msg, false);
    return node;
  }

  function renderLog() {
    const conv = conversation();
    const log = $('log');
    log.replaceChildren();
    $('chat-title').textContent = conv ? titleOf(conv) : 'New conversation';
    if (!conv) return;
    for (const msg of conv.messages) log.append(messageNode(msg));
    log.scrollTop = log.scrollHeight;
  }

  function renderAll() {
    renderConversations();
    renderModels();
    renderLog();
  }

  // ---- sending ------------------------------------------------------------------------------

  function settings() {
    const num = (id, int) => {
      const v = $(id).value.trim();
      if (v === '') return undefined;
      const n = int ? parseInt(v, 10) : parseFloat(v);
      return Number.isFinite(n) ? n : undefined;
    };
    return {
      system: $('system').value,
      temperature: num('temperature'),
      top_p: num('top_p'),
      max_tokens: num('max_tokens', true),
      seed: num('seed', true),
    };
  }

  function saveSettings() {
    const s = settings();
    save(SETTINGS, { ...s, system: $('system').value });
  }

  function restoreSettings() {
    const s = load(SETTINGS, {});
    $('system').value = s.system || '';
    for (const k of ['temperature', 'top_p', 'max_tokens', 'seed']) {
      $(k).value = s[k] === undefined || s[k] === null ? '' : String(s[k]);
    }
    $('forget-key').hidden = !localStorage.getItem(KEY);
  }

  function setRunning(running) {
    $('send').hidden = running;
    $('stop').hidden = !running;
    $('prompt').setAttribute('aria-busy', running ? 'true' : 'false');
  }

  function stop() {
    if (state.running) state.running.controller.abort();
  }

  // Reads an SSE body, calling `onEvent(json)` per `data:` event until `[DONE]`.
  async function readSse(res, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let m;
      while ((m = buf.match(/\r?\n\r?\n/)) !== null) {
        const raw = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        const data = raw.split(/\r?\n/)
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).replace(/^ /, ''))
          .join('\n');
        if (!data) continue;
        if (data === '[DONE]') return;
        let value;
        try {
          value = JSON.parse(data);
        } catch (_) {
          throw new ApiError(0, 'The server sent an event that is not JSON: ' + data.slice(0, 200));
        }
        onEvent(value);
      }
    }
  }

  async function send(text) {
    if (state.running) return;
    let conv = conversation();
    if (!conv) conv = newConversation();
    const model = $('model').value;
    if (!model) {
      setStatus('No model to ask: the server lists none.');
      return;
    }
    conv.model = model;
    localStorage.setItem(MODEL, model);
    const s = settings();
    const history = conv.messages
      .filter((m) => (m.role === 'user' || m.role === 'assistant') && !m.error && (m.content || m.role === 'user'))
      .map((m) => ({ role: m.role, content: m.content }));
    const user = { role: 'user', content: text };
    conv.messages.push(user);
    const answer = { role: 'assistant', model, content: '', reasoning: '', tool_calls: [] };
    conv.messages.push(answer);
    persist();
    renderConversations();
    $('chat-title').textContent = titleOf(conv);
    const log = $('log');
    log.append(messageNode(user));
    const node = messageNode(answer);
    log.append(node);
    fillMessage(node, answer, true);
    log.scrollTop = log.scrollHeight;

    const messages = [];
    if (s.system.trim()) messages.push({ role: 'system', content: s.system });
    messages.push(...history, { role: 'user', content: text });
    const body = { model, messages, stream: true, stream_options: { include_usage: true } };
    for (const k of ['temperature', 'top_p', 'max_tokens', 'seed']) if (s[k] !== undefined) body[k] = s[k];

    const controller = new AbortController();
    state.running = { controller, message: answer, conv };
    setRunning(true);
    const started = performance.now();
    let first = null;
    let pending = false;
    const redraw = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
        fillMessage(node, answer, true);
        if (stick) log.scrollTop = log.scrollHeight;
      });
    };
    const calls = [];
    let usage = null;
    let timings = null;
    let finish = null;
    try {
      const res = await api('/v1/chat/completions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!res.ok) throw new ApiError(res.status, await errorText(res));
      await readSse(res, (chunk) => {
        if (chunk.error) {
          const e = chunk.error;
          throw new ApiError(0, typeof e === 'string' ? e : e.message || JSON.stringify(e));
        }
        if (chunk.usage) usage = chunk.usage;
        if (chunk.timings) timings = chunk.timings;
        const choice = (chunk.choices || [])[0];
        if (!choice) return;
        const d = choice.delta || {};
        const piece = (d.content || '') + (d.reasoning_content || '');
        if (piece && first === null) first = performance.now();
        if (d.content) answer.content += d.content;
        if (d.reasoning_content) answer.reasoning += d.reasoning_content;
        for (const tc of d.tool_calls || []) {
          const at = tc.index ?? calls.length;
          const call = calls[at] || (calls[at] = { id: tc.id, type: 'function', function: { name: '', arguments: '' } });
          if (tc.id) call.id = tc.id;
          if (tc.function && tc.function.name) call.function.name += tc.function.name;
          if (tc.function && tc.function.arguments) call.function.arguments += tc.function.arguments;
          answer.tool_calls = calls.filter(Boolean);
        }
        if (choice.finish_reason) finish = choice.finish_reason;
        redraw();
      });
    } catch (e) {
      if (e.name === 'AbortError') {
        answer.stopped = true;
      } else {
        const status = e.status ? ` (HTTP ${e.status})` : '';
        answer.error = (e.message || String(e)) + status;
      }
    } finally {
      const end = performance.now();
      answer.stats = {
        prompt_tokens: usage ? usage.prompt_tokens : undefined,
        completion_tokens: usage ? usage.completion_tokens : undefined,
        cached_tokens: usage && usage.prompt_tokens_details ? usage.prompt_tokens_details.cached_tokens : undefined,
        ttft_ms: first !== null ? first - started : undefined,
        decode_ms: first !== null ? end - first : undefined,
        total_ms: end - started,
        timings: timings || undefined,
        finish: finish || undefined,
      };
      if (!answer.reasoning) delete answer.reasoning;
      if (!answer.tool_calls.length) delete answer.tool_calls;
      state.running = null;
      setRunning(false);
      fillMessage(node, answer, false);
      node.dataset.done = '1';
      persist();
      refreshModels();
    }
  }

  // ---- wiring -------------------------------------------------------------------------------

  function init() {
    restoreSettings();
    if (!conversation()) state.current = state.conversations[0] ? state.conversations[0].id : null;
    renderAll();
    refreshModels();

    $('composer').addEventListener('submit', (e) => {
      e.preventDefault();
      const text = $('prompt').value;
      if (!text.trim() || state.running) return;
      $('prompt').value = '';
      send(text);
    });
    $('prompt').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $('composer').requestSubmit();
      }
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && state.running) {
        e.preventDefault();
        stop();
      }
    });
    $('stop').addEventListener('click', stop);
    $('new-chat').addEventListener('click', () => {
      if (!state.running) newConversation();
    });
    $('refresh-models').addEventListener('click', refreshModels);
    $('model').addEventListener('change', () => {
      const conv = conversation();
      localStorage.setItem(MODEL, $('model').value);
      if (conv) {
        conv.model = $('model').value;
        persist();
      }
    });
    $('toggle-settings').addEventListener('click', () => {
      const panel = $('settings');
      panel.hidden = !panel.hidden;
      $('toggle-settings').setAttribute('aria-expanded', String(!panel.hidden));
    });
    for (const id of ['system', 'temperature', 'top_p', 'max_tokens', 'seed']) {
      $(id).addEventListener('change', saveSettings);
    }
    $('forget-key').addEventListener('click', () => {
      localStorage.removeItem(KEY);
      $('forget-key').hidden = true;
    });
    window.addEventListener('storage', (e) => {
      if (e.key === STORE && !state.running) {
        state.conversations = load(STORE, []);
        renderAll();
      }
    });
    $('prompt').focus();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
