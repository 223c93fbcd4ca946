// The playground page: state from /ui/live (a snapshot, then every change), actions as
// small JSON POSTs under /ui/. No framework, no build step.
"use strict";

const { renderBlocks, mrkdwn, esc, emojify, EMOJI } = window.BlockKit;

const KEY = (() => {
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, "")).get("key");
  if (fromHash) sessionStorage.setItem("playground-key", fromHash);
  return fromHash || sessionStorage.getItem("playground-key") || "";
})();
if (location.hash.includes("key=")) history.replaceState(null, "", location.pathname);

const S = {
  people: {}, conversations: {}, messages: {}, statuses: {}, ephemerals: [], views: {},
  notices: [], bot: null, acting: localStorage.getItem("playground-acting") || "U0ALICE",
  channel: "C0MLTEAM", thread: null, pending: { composer: [], reply: [] }, connected: false,
};
const $ = (id) => document.getElementById(id);

// The channel's composer and the thread's reply box are the same control.
for (const form of document.querySelectorAll("form.composer")) {
  const p = form.dataset.prefix;
  form.innerHTML = `<div class="attached" id="${p}-files"></div>
    <textarea id="${p}-text" rows="2" placeholder="${form.dataset.placeholder}"></textarea>
    <div class="composer-bar">
      <label class="attach">📎 Attach<input type="file" id="${p}-file" hidden></label>
      <button type="button" class="mention-btn" data-target="${p}-text">@ml-intern</button>
      <button type="submit" class="send" id="${p}-send">${form.dataset.send}</button>
    </div>`;
}
const mkey = (c, ts) => `${c}/${ts}`;

const ctx = {
  userName: (id) => (S.people[id] ? S.people[id].name : id),
  channelName: (id) => (S.conversations[id] ? S.conversations[id].name : id),
};

// ------------------------------------------------------------------ server calls
async function call(path, body) {
  const resp = await fetch(`/ui/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Playground-Key": KEY },
    body: JSON.stringify(body),
  });
  const data = await resp.json().catch(() => ({ ok: false, error: `HTTP ${resp.status}` }));
  if (!data.ok) toast(`${data.error}${data.detail ? ": " + data.detail : ""}`);
  return data;
}

async function uploadFile(file) {
  const q = new URLSearchParams({ user: S.acting, name: file.name });
  const resp = await fetch(`/ui/upload?${q}`, {
    method: "POST", headers: { "X-Playground-Key": KEY }, body: file,
  });
  const data = await resp.json().catch(() => ({ ok: false, error: `HTTP ${resp.status}` }));
  if (!data.ok) { toast(`upload failed: ${data.error}${data.detail ? ": " + data.detail : ""}`); return null; }
  return data.file;
}

function fileUrl(id) { return `/ui/files/${encodeURIComponent(id)}?key=${encodeURIComponent(KEY)}`; }

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
}

// ------------------------------------------------------------------ live updates
function applySnapshot(st) {
  S.people = Object.fromEntries(st.people.map((p) => [p.id, p]));
  S.conversations = Object.fromEntries(st.conversations.map((c) => [c.id, c]));
  S.messages = Object.fromEntries(st.messages.map((m) => [mkey(m.channel, m.ts), m]));
  S.statuses = Object.fromEntries(st.statuses.map((s) => [mkey(s.channel, s.thread_ts), s.status]));
  S.ephemerals = st.ephemerals;
  S.views = Object.fromEntries(st.views.map((v) => [v.id, v]));
  S.notices = st.notices;
  S.bot = st.bot;
  S.connected = st.bot_connected;
}

function applyEvent(ev) {
  switch (ev.type) {
    case "snapshot": applySnapshot(ev.state); break;
    case "message": S.messages[mkey(ev.message.channel, ev.message.ts)] = ev.message; break;
    case "message_deleted": delete S.messages[mkey(ev.channel, ev.ts)]; break;
    case "status":
      if (ev.status) S.statuses[mkey(ev.channel, ev.thread_ts)] = ev.status;
      else delete S.statuses[mkey(ev.channel, ev.thread_ts)];
      break;
    case "ephemeral": S.ephemerals.push(ev.ephemeral); break;
    case "view": S.views[ev.view.id] = ev.view; break;
    case "view_closed": delete S.views[ev.id]; break;
    case "conversation": S.conversations[ev.conversation.id] = ev.conversation; break;
    case "bot_connection": S.connected = ev.connected; break;
    default: return;
  }
  scheduleRender();
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const sock = new WebSocket(`${proto}://${location.host}/ui/live?key=${encodeURIComponent(KEY)}`);
  sock.onmessage = (e) => {
    const ev = JSON.parse(e.data);
    applyEvent(ev);
  };
  sock.onclose = () => {
    document.body.classList.add("disconnected");
    setTimeout(() => { document.body.classList.remove("disconnected"); connect(); }, 1000);
  };
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

// ------------------------------------------------------------------ rendering
function avatar(userId) {
  const p = S.people[userId];
  const name = p ? p.name : "?";
  const cls = p && p.is_bot ? "avatar bot" : `avatar u-${esc(p ? p.role : "x")}`;
  return `<div class="${cls}">${esc(p && p.is_bot ? "🤖" : name.slice(0, 1).toUpperCase())}</div>`;
}

function time(ts) {
  const d = new Date(parseFloat(ts) * 1000);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function filesHtml(files) {
  return (files || []).map((f) => {
    const url = fileUrl(f.id);
    if ((f.mimetype || "").startsWith("image/")) {
      return `<div class="file file-image"><img src="${esc(url)}" alt="${esc(f.title)}"><div class="file-name">${esc(f.title)}</div></div>`;
    }
    const isText = /^text\/|json|python|x-sh|csv|yaml/.test(f.mimetype || "") || /\.(py|log|txt|md|csv|json|sh|ya?ml)$/i.test(f.name);
    const preview = isText ? `<button class="link file-toggle" data-file="${esc(f.id)}">show</button><pre class="file-preview" hidden></pre>` : "";
    return `<div class="file"><span class="file-icon">📄</span><a href="${esc(url)}" target="_blank" rel="noopener">${esc(f.title || f.name)}</a>
      <span class="file-meta">${esc(f.filetype || "")} · ${Number(f.size || 0).toLocaleString()} B</span>${preview}</div>`;
  }).join("");
}

const PICKER = ["thumbsup", "eyes", "tada", "heart", "rocket", "white_check_mark", "x", "fire"];

function reactionsHtml(m) {
  const rs = (m.reactions || []).map((r) => {
    const mine = r.users.includes(S.acting) ? " mine" : "";
    const who = r.users.map((u) => ctx.userName(u)).join(", ");
    return `<button class="reaction${mine}" data-react="${esc(r.name)}" title="${esc(who)}">${EMOJI[r.name] || ":" + esc(r.name) + ":"} ${r.count}</button>`;
  }).join("");
  return `<div class="reactions">${rs}<button class="reaction add" data-react-add="1" title="Add reaction">☺+</button>
    <span class="picker" hidden>${PICKER.map((n) => `<button class="reaction pick" data-react="${n}" title=":${n}:">${EMOJI[n]}</button>`).join("")}</span></div>`;
}

function messageHtml(m, { inThread }) {
  const p = S.people[m.user];
  const name = p ? (p.is_bot ? "ml-intern" : p.real_name) : m.user;
  const body = m.blocks && m.blocks.length ? renderBlocks(m.blocks, ctx) : `<div class="text">${mrkdwn(m.text, ctx)}</div>`;
  const edited = m.edited ? ' <span class="edited">(edited)</span>' : "";
  const badge = p && p.is_bot ? ' <span class="app-badge">APP</span>' : "";
  const replies = !inThread && m.reply_count
    ? `<button class="link replies" data-open-thread="${esc(m.ts)}">${m.reply_count} ${m.reply_count === 1 ? "reply" : "replies"}</button>`
    : "";
  const replyBtn = !inThread && !m.reply_count ? `<button class="link reply-start" data-open-thread="${esc(m.ts)}">Reply in thread</button>` : "";
  const status = !inThread && S.statuses[mkey(m.channel, m.ts)]
    ? `<div class="assistant-status inline">ml-intern ${esc(S.statuses[mkey(m.channel, m.ts)])}</div>` : "";
  return `<div class="msg${p && p.is_bot ? " from-bot" : ""}" data-channel="${esc(m.channel)}" data-ts="${esc(m.ts)}">
    ${avatar(m.user)}
    <div class="msg-main">
      <div class="msg-head"><b class="author">${esc(name)}</b>${badge} <span class="time">${time(m.ts)}</span>${edited}</div>
      <div class="msg-body">${body}</div>
      ${filesHtml(m.files)}
      ${reactionsHtml(m)}
      ${replies}${replyBtn}${status}
    </div></div>`;
}

function ephemeralHtml(e) {
  const body = e.blocks && e.blocks.length ? renderBlocks(e.blocks, ctx) : `<div class="text">${mrkdwn(e.text, ctx)}</div>`;
  return `<div class="msg ephemeral" data-channel="${esc(e.channel)}" data-ts="${esc(e.ts)}" data-ephemeral="1">
    ${avatar(S.bot ? S.bot.user_id : "")}
    <div class="msg-main"><div class="msg-head"><b class="author">ml-intern</b> <span class="app-badge">APP</span>
    <span class="time">${time(e.ts)}</span> <span class="only-you">Only visible to you</span></div>
    <div class="msg-body">${body}</div></div></div>`;
}

function byTs(a, b) { return parseFloat(a.ts) - parseFloat(b.ts); }

// Redraw only what changed (keyed by message), so a click never lands on a node that was
// just replaced and an open file preview or a hover survives live updates.
function renderList(container, items, stickBottom) {
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 80;
  const existing = new Map([...container.children].map((el) => [el.dataset.key, el]));
  let previous = null;
  for (const { key, html } of items) {
    let el = existing.get(key);
    if (!el || el.dataset.html !== html) {
      const fresh = document.createElement("div");
      fresh.className = "item";
      fresh.dataset.key = key;
      fresh.dataset.html = html;
      fresh.innerHTML = html;
      if (el) el.replaceWith(fresh);
      el = fresh;
    }
    existing.delete(key);
    const want = previous ? previous.nextSibling : container.firstChild;
    if (want !== el) container.insertBefore(el, want);
    previous = el;
  }
  existing.forEach((el) => el.remove());
  if (atBottom || stickBottom) container.scrollTop = container.scrollHeight;
}

function render() {
  document.getElementById("bot-state").className = `bot-state ${S.connected ? "online" : "offline"}`;
  $("bot-state").textContent = S.connected ? "connected" : "offline";
  document.title = S.notices.some((n) => n.kind === "simulation") ? "ml-intern playground — SIMULATION" : "ml-intern playground";
  $("notices").innerHTML = S.notices.map((n) => `<div class="notice notice-${esc(n.kind)}" data-part="${esc(n.part)}">${esc(n.text)}</div>`).join("");
  // acting user
  const sel = $("acting-user");
  const humans = Object.values(S.people).filter((p) => !p.is_bot);
  if (sel.options.length !== humans.length) {
    sel.innerHTML = humans.map((p) => `<option value="${esc(p.id)}">${esc(p.real_name)}</option>`).join("");
  }
  sel.value = S.acting;
  // sidebar
  const convs = Object.values(S.conversations);
  $("channel-list").innerHTML = convs.filter((c) => !c.is_im).map((c) =>
    `<li><button class="conv${c.id === S.channel ? " active" : ""}" data-conv="${esc(c.id)}"># ${esc(c.name)}</button></li>`).join("");
  $("dm-list").innerHTML = convs.filter((c) => c.is_im && c.user === S.acting).map((c) =>
    `<li><button class="conv${c.id === S.channel ? " active" : ""}" data-conv="${esc(c.id)}">🤖 ml-intern</button></li>`).join("");
  // channel
  const conv = S.conversations[S.channel];
  $("channel-header").innerHTML = conv ? (conv.is_im ? "🤖 <b>ml-intern</b> <span class=sub>direct message</span>" : `<b># ${esc(conv.name)}</b>`) : "";
  const all = Object.values(S.messages).filter((m) => m.channel === S.channel);
  const top = all.filter((m) => !m.thread_ts || m.thread_ts === m.ts).sort(byTs);
  const ephs = S.ephemerals.filter((e) => e.channel === S.channel && e.user === S.acting && !e.thread_ts);
  const items = [...top.map((m) => ({ ts: m.ts, key: `m${m.ts}`, html: messageHtml(m, { inThread: false }) })),
    ...ephs.map((e) => ({ ts: e.ts, key: `e${e.ts}`, html: ephemeralHtml(e) }))].sort(byTs);
  renderList($("messages"), items);
  renderThread();
  renderModal();
}

function renderThread() {
  const pane = $("thread");
  if (!S.thread || S.thread.channel !== S.channel) { pane.hidden = true; return; }
  pane.hidden = false;
  const { channel, ts } = S.thread;
  const root = S.messages[mkey(channel, ts)];
  const replies = Object.values(S.messages).filter((m) => m.channel === channel && m.thread_ts === ts && m.ts !== ts);
  const ephs = S.ephemerals.filter((e) => e.channel === channel && e.thread_ts === ts && e.user === S.acting);
  const items = [...replies.map((m) => ({ ts: m.ts, key: `m${m.ts}`, html: messageHtml(m, { inThread: true }) })),
    ...ephs.map((e) => ({ ts: e.ts, key: `e${e.ts}`, html: ephemeralHtml(e) }))].sort(byTs);
  const head = root ? messageHtml(root, { inThread: true }) + `<div class="reply-count">${replies.length} ${replies.length === 1 ? "reply" : "replies"}</div>` : "";
  renderList($("thread-messages"), [{ key: `root${ts}`, html: head }, ...items]);
  $("thread-where").textContent = S.conversations[channel] ? `# ${S.conversations[channel].name}` : "";
  const status = S.statuses[mkey(channel, ts)];
  const st = $("thread-status");
  st.hidden = !status;
  st.textContent = status ? `ml-intern ${status}` : "";
}

function renderModal() {
  const root = $("modal-root");
  const view = Object.values(S.views).filter((v) => v.user === S.acting).pop(); // the top of a pushed stack
  if (!view) { root.innerHTML = ""; root.dataset.view = ""; return; }
  if (root.dataset.view === `${view.id}:${view.hash}`) return; // keep what the person typed
  root.dataset.view = `${view.id}:${view.hash}`;
  const title = (t) => esc(typeof t === "string" ? t : t?.text);
  root.innerHTML = `<div class="modal-backdrop"><div class="modal" role="dialog" aria-modal="true" data-view-id="${esc(view.id)}">
    <div class="modal-title">${title(view.title)}<button class="x modal-close" aria-label="Close">✕</button></div>
    <div class="modal-body">${renderBlocks(view.blocks, ctx)}</div>
    <div class="modal-error"></div>
    <div class="modal-actions">
      <button class="btn modal-cancel">${title(view.close) || "Cancel"}</button>
      ${view.submit ? `<button class="btn btn-primary modal-submit">${title(view.submit)}</button>` : ""}
    </div></div></div>`;
  const first = root.querySelector(".modal-input");
  if (first) first.focus();
}

async function togglePreview(button) {
  const pre = button.nextElementSibling;
  if (!pre.hidden) { pre.hidden = true; button.textContent = "show"; return; }
  if (!pre.dataset.loaded) {
    const resp = await fetch(fileUrl(button.dataset.file));
    const text = await resp.text();
    pre.textContent = text.length > 20000 ? text.slice(0, 20000) + "\n…" : text;
    pre.dataset.loaded = "1";
  }
  pre.hidden = false;
  button.textContent = "hide";
}

// ------------------------------------------------------------------ actions
// What a Slack client does with "@name": it sends <@USERID>.
function encodeMentions(text) {
  const names = Object.values(S.people).map((p) => [p.is_bot ? "ml-intern" : p.name, p.id]);
  names.sort((a, b) => b[0].length - a[0].length);
  let out = text;
  for (const [name, id] of names) {
    out = out.replace(new RegExp(`(^|\\s)@${name.replace(/[-.]/g, "\\$&")}\\b`, "g"), `$1<@${id}>`);
  }
  return out;
}

async function send(kind) {
  const textEl = kind === "composer" ? $("composer-text") : $("reply-text");
  const raw = textEl.value.trim();
  const files = S.pending[kind];
  if (!raw && !files.length) return;
  if (kind === "composer" && raw.startsWith("/ml-intern")) {
    const res = await call("slash", { user: S.acting, channel: S.channel, text: raw.replace(/^\/ml-intern\s*/, "") });
    if (res.ok) textEl.value = "";
    return;
  }
  const body = { user: S.acting, channel: S.channel, text: encodeMentions(raw), files: files.map((f) => f.id) };
  if (kind === "reply" && S.thread) body.thread_ts = S.thread.ts;
  const res = await call("post", body);
  if (res.ok) {
    textEl.value = "";
    S.pending[kind] = [];
    renderPending(kind);
  }
}

function renderPending(kind) {
  const box = kind === "composer" ? $("composer-files") : $("reply-files");
  box.innerHTML = S.pending[kind].map((f) => `<span class="pending-file">📎 ${esc(f.name)}</span>`).join("");
}

async function attach(kind, input) {
  for (const file of input.files) {
    const f = await uploadFile(file);
    if (f) S.pending[kind].push(f);
  }
  input.value = "";
  renderPending(kind);
}

function findMessage(el) { return el.closest(".msg"); }

document.addEventListener("click", async (e) => {
  const t = e.target.closest("button, a");
  if (!t) return;
  if (t.dataset.conv) { S.channel = t.dataset.conv; S.thread = null; render(); return; }
  if (t.dataset.openThread) { S.thread = { channel: S.channel, ts: t.dataset.openThread }; render(); return; }
  if (t.classList.contains("file-toggle")) { togglePreview(t); return; }
  if (t.classList.contains("mention-btn")) {
    const ta = $(t.dataset.target);
    ta.value = (ta.value ? ta.value.replace(/\s*$/, " ") : "") + "@ml-intern ";
    ta.focus();
    return;
  }
  const msg = findMessage(t);
  if (t.classList.contains("block-button") && msg) {
    t.disabled = true;
    await call("click", {
      user: S.acting, channel: msg.dataset.channel, ts: msg.dataset.ts,
      action_id: t.dataset.actionId, block_id: t.dataset.blockId || null,
    });
    t.disabled = false;
    return;
  }
  if (t.dataset.react && msg) { await call("react", { user: S.acting, channel: msg.dataset.channel, ts: msg.dataset.ts, name: t.dataset.react }); return; }
  if (t.dataset.reactAdd && msg) {
    const picker = t.parentElement.querySelector(".picker");
    picker.hidden = !picker.hidden;
    return;
  }
  const modal = t.closest(".modal");
  if (modal && (t.classList.contains("modal-cancel") || t.classList.contains("modal-close"))) {
    await call("view/close", { user: S.acting, view_id: modal.dataset.viewId });
    return;
  }
  if (modal && t.classList.contains("modal-submit")) {
    const values = {};
    modal.querySelectorAll(".modal-input").forEach((i) => { values[i.dataset.blockId] = i.value; });
    modal.querySelectorAll(".input-error").forEach((x) => { x.textContent = ""; });
    t.disabled = true;
    const res = await call("view/submit", { user: S.acting, view_id: modal.dataset.viewId, values });
    t.disabled = false;
    for (const [bid, err] of Object.entries((res && res.errors) || {})) {
      const slot = modal.querySelector(`[data-input-block="${CSS.escape(bid)}"] .input-error`) || modal.querySelector(".modal-error");
      slot.textContent = err;
    }
  }
});

$("thread-close").addEventListener("click", () => { S.thread = null; render(); });
$("acting-user").addEventListener("change", (e) => {
  S.acting = e.target.value;
  localStorage.setItem("playground-acting", S.acting);
  const conv = S.conversations[S.channel];
  if (conv && conv.is_im) S.channel = "C0MLTEAM";
  $("modal-root").dataset.view = "";
  render();
});
for (const kind of ["composer", "reply"]) {
  const form = $(kind === "composer" ? "composer" : "reply-composer");
  const ta = $(kind === "composer" ? "composer-text" : "reply-text");
  form.addEventListener("submit", (e) => { e.preventDefault(); send(kind); });
  ta.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(kind); } });
  $(kind === "composer" ? "composer-file" : "reply-file").addEventListener("change", (e) => attach(kind, e.target));
}

if (!KEY) {
  document.body.innerHTML = "<p class='nokey'>Open the URL printed by <code>ml-intern-slack playground</code> (it carries this run's key).</p>";
} else {
  connect();
}
