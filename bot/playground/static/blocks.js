// Block Kit, Slack mrkdwn and the markdown block, rendered as Slack draws them.
// Everything the bot (or a prompt-injected model behind it) sends is text: it is escaped
// before any markup is added, links are http(s) only, and nothing is ever parsed as HTML.
(() => {
"use strict";

const EMOJI = {
  white_check_mark: "✅", x: "❌", warning: "⚠️", lock: "🔒", unlock: "🔓", gear: "⚙️",
  hourglass: "⌛", hourglass_flowing_sand: "⏳", octagonal_sign: "🛑", no_entry: "⛔",
  no_entry_sign: "🚫", information_source: "ℹ️", ballot_box_with_check: "☑️",
  arrow_forward: "▶️", white_square: "⬜", black_square_for_stop: "⏹️", zzz: "💤", zap: "⚡",
  wave: "👋", eyes: "👀", runner: "🏃", wastebasket: "🗑️", brain: "🧠", bar_chart: "📊",
  small_blue_diamond: "🔹", grey_question: "❔", leftwards_arrow_with_hook: "↩️",
  compression: "🗜️", memory: "🧠", rocket: "🚀", tada: "🎉", thumbsup: "👍", "+1": "👍",
  heart: "❤️", fire: "🔥", robot_face: "🤖", hugging_face: "🤗", chart_with_upwards_trend: "📈",
  page_facing_up: "📄", paperclip: "📎", red_circle: "🔴", large_green_circle: "🟢",
  hammer_and_wrench: "🛠️", mag: "🔍", speech_balloon: "💬", clock3: "🕒", moneybag: "💰",
};

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

// Slack escapes &, < and > in message text; undo that before escaping for HTML.
function unslack(s) {
  return String(s ?? "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function safeUrl(u) {
  const url = String(u || "").trim();
  return /^https?:\/\//i.test(url) ? url : null;
}

function emojify(html) {
  return html.replace(/:([a-z0-9_+\-]+):/g, (m, name) => EMOJI[name] || m);
}

// Slack's angle-bracket tokens: <@U1>, <#C1|name>, <!here>, <url|label>.
function token(inner, ctx) {
  if (inner.startsWith("@")) {
    const id = inner.slice(1).split("|")[0];
    return `<span class="mention" data-user="${esc(id)}">@${esc(ctx.userName(id))}</span>`;
  }
  if (inner.startsWith("#")) {
    const [id, label] = inner.slice(1).split("|");
    return `<span class="mention">#${esc(label || ctx.channelName(id))}</span>`;
  }
  if (inner.startsWith("!date^")) {
    // <!date^1392734382^{date_short_pretty} at {time}|fallback>: the reader's local time.
    const [spec] = inner.split("|");
    const [, stamp, format] = spec.split("^");
    const d = new Date(Number(stamp) * 1000);
    if (Number.isNaN(d.getTime())) return esc(inner);
    const day = d.toLocaleDateString([], { month: "short", day: "numeric", year: "numeric" });
    const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return esc((format || "{date_short_pretty} {time}")
      .replace(/\{date[a-z_]*\}/g, day).replace(/\{time[a-z_]*\}/g, hm));
  }
  if (inner.startsWith("!")) {
    return `<span class="mention">@${esc(inner.slice(1).split("|")[0])}</span>`;
  }
  const [target, label] = inner.split("|");
  const url = safeUrl(target);
  const text = label !== undefined ? label : target;
  return url ? `<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${esc(text)}</a>` : esc(inner);
}

function inlineMrkdwn(text, ctx) {
  // Split out Slack tokens and `code` first, format the rest.
  const out = [];
  const re = /<([^<>\n]+)>|`([^`\n]+)`/g;
  let pos = 0, m;
  const fmt = (s) => emojify(esc(unslack(s))
    .replace(/(^|[\s(])\*(?!\s)([^*\n]+?)\*(?=$|[\s.,;:!?)])/g, "$1<b>$2</b>")
    .replace(/(^|[\s(])_(?!\s)([^_\n]+?)_(?=$|[\s.,;:!?)])/g, "$1<i>$2</i>")
    .replace(/(^|[\s(])~(?!\s)([^~\n]+?)~(?=$|[\s.,;:!?)])/g, "$1<s>$2</s>"));
  while ((m = re.exec(text))) {
    out.push(fmt(text.slice(pos, m.index)));
    out.push(m[1] !== undefined ? token(unslack(m[1]), ctx) : `<code>${esc(unslack(m[2]))}</code>`);
    pos = re.lastIndex;
  }
  out.push(fmt(text.slice(pos)));
  return out.join("");
}

function mrkdwn(text, ctx) {
  const parts = String(text ?? "").split("```");
  return parts.map((part, i) => {
    if (i % 2) return `<pre class="code">${esc(unslack(part.replace(/^\n/, "")))}</pre>`;
    return part.split("\n").map((line) => {
      if (line.startsWith("&gt; ") || line.startsWith("> ")) {
        return `<blockquote>${inlineMrkdwn(line.replace(/^(&gt;|>) /, ""), ctx)}</blockquote>`;
      }
      return inlineMrkdwn(line, ctx);
    }).join("<br>");
  }).join("");
}

// The `markdown` block: standard markdown (as Slack renders it for AI apps).
function inlineMarkdown(text, ctx) {
  const out = [];
  const re = /`([^`\n]+)`|\[([^\]\n]+)\]\(([^)\s]+)\)|<([^<>\n]+)>/g;
  let pos = 0, m;
  const fmt = (s) => emojify(esc(s)
    .replace(/\*\*([^*\n]+)\*\*/g, "<b>$1</b>")
    .replace(/__([^_\n]+)__/g, "<b>$1</b>")
    .replace(/(^|[\s(])\*(?!\s)([^*\n]+?)\*(?=$|[\s.,;:!?)])/g, "$1<i>$2</i>")
    .replace(/(^|[\s(])_(?!\s)([^_\n]+?)_(?=$|[\s.,;:!?)])/g, "$1<i>$2</i>")
    .replace(/~~([^~\n]+)~~/g, "<s>$1</s>"));
  while ((m = re.exec(text))) {
    out.push(fmt(text.slice(pos, m.index)));
    if (m[1] !== undefined) out.push(`<code>${esc(m[1])}</code>`);
    else if (m[2] !== undefined) {
      const url = safeUrl(m[3]);
      out.push(url ? `<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${esc(m[2])}</a>` : esc(m[0]));
    } else out.push(token(m[4], ctx));
    pos = re.lastIndex;
  }
  out.push(fmt(text.slice(pos)));
  return out.join("");
}

function markdown(text, ctx) {
  const lines = String(text ?? "").split("\n");
  const html = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const body = [];
      i++;
      while (i < lines.length && !lines[i].startsWith("```")) body.push(lines[i++]);
      i++;
      html.push(`<pre class="code">${esc(body.join("\n"))}</pre>`);
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) { html.push(`<div class="md-h md-h${h[1].length}">${inlineMarkdown(h[2], ctx)}</div>`); i++; continue; }
    if (/^\s*\|.*\|\s*$/.test(line)) {
      const rows = [];
      while (i < lines.length && /^\s*\|.*\|\s*$/.test(lines[i])) rows.push(lines[i++]);
      const cells = (r) => r.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
      const body = rows.filter((r) => !/^\s*\|[\s:\-|]+\|\s*$/.test(r));
      const [head, ...rest] = body;
      html.push("<table class=\"md-table\"><tr>" + cells(head).map((c) => `<th>${inlineMarkdown(c, ctx)}</th>`).join("") + "</tr>" +
        rest.map((r) => "<tr>" + cells(r).map((c) => `<td>${inlineMarkdown(c, ctx)}</td>`).join("") + "</tr>").join("") + "</table>");
      continue;
    }
    if (/^\s*([-*+]|\d+\.)\s+/.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const items = [];
      while (i < lines.length && /^\s*([-*+]|\d+\.)\s+/.test(lines[i])) {
        items.push(`<li>${inlineMarkdown(lines[i].replace(/^\s*([-*+]|\d+\.)\s+/, ""), ctx)}</li>`);
        i++;
      }
      html.push(`<${ordered ? "ol" : "ul"}>${items.join("")}</${ordered ? "ol" : "ul"}>`);
      continue;
    }
    if (line.startsWith("> ")) { html.push(`<blockquote>${inlineMarkdown(line.slice(2), ctx)}</blockquote>`); i++; continue; }
    if (/^(-{3,}|\*{3,})$/.test(line.trim())) { html.push("<hr>"); i++; continue; }
    html.push(line.trim() ? `<p>${inlineMarkdown(line, ctx)}</p>` : "");
    i++;
  }
  return html.join("");
}

function textObject(t, ctx) {
  if (!t) return "";
  if (t.type === "mrkdwn") return mrkdwn(t.text, ctx);
  return emojify(esc(t.text)).replace(/\n/g, "<br>");
}

function element(el, ctx, blockId) {
  if (!el) return "";
  const data = `data-action-id="${esc(el.action_id || "")}" data-block-id="${esc(blockId || "")}"`;
  if (el.type === "button") {
    const style = el.style === "primary" || el.style === "danger" ? ` btn-${el.style}` : "";
    const url = safeUrl(el.url);
    if (url) return `<a class="btn${style}" href="${esc(url)}" target="_blank" rel="noopener noreferrer" ${data}>${esc(el.text?.text)}</a>`;
    return `<button class="btn block-button${style}" ${data}>${emojify(esc(el.text?.text))}</button>`;
  }
  if (el.type === "image") return `<img class="ctx-img" src="${esc(safeUrl(el.image_url) || "")}" alt="${esc(el.alt_text)}">`;
  if (el.type === "mrkdwn" || el.type === "plain_text") return `<span>${textObject(el, ctx)}</span>`;
  if (el.type === "static_select" || el.type === "overflow") {
    const opts = (el.options || []).map((o) => `<option value="${esc(o.value)}">${esc(o.text?.text)}</option>`).join("");
    return `<select class="block-select" ${data}><option>${esc(el.placeholder?.text || "Choose…")}</option>${opts}</select>`;
  }
  return `<span class="unsupported">[${esc(el.type)}]</span>`;
}

function richText(block, ctx) {
  const inline = (els) => (els || []).map((e) => {
    if (e.type === "text") {
      let t = esc(e.text).replace(/\n/g, "<br>");
      if (e.style?.code) t = `<code>${t}</code>`;
      if (e.style?.bold) t = `<b>${t}</b>`;
      if (e.style?.italic) t = `<i>${t}</i>`;
      return t;
    }
    if (e.type === "user") return `<span class="mention">@${esc(ctx.userName(e.user_id))}</span>`;
    if (e.type === "link") { const u = safeUrl(e.url); return u ? `<a href="${esc(u)}" target="_blank" rel="noopener noreferrer">${esc(e.text || u)}</a>` : esc(e.url); }
    if (e.type === "emoji") return EMOJI[e.name] || `:${esc(e.name)}:`;
    return esc(e.text || "");
  }).join("");
  return (block.elements || []).map((s) => {
    if (s.type === "rich_text_preformatted") return `<pre class="code">${inline(s.elements)}</pre>`;
    if (s.type === "rich_text_quote") return `<blockquote>${inline(s.elements)}</blockquote>`;
    if (s.type === "rich_text_list") return `<ul>${(s.elements || []).map((x) => `<li>${inline(x.elements)}</li>`).join("")}</ul>`;
    return `<div>${inline(s.elements)}</div>`;
  }).join("");
}

function block(b, ctx) {
  const bid = b.block_id || "";
  switch (b.type) {
    case "section": {
      const fields = b.fields ? `<div class="fields">${b.fields.map((f) => `<div>${textObject(f, ctx)}</div>`).join("")}</div>` : "";
      const acc = b.accessory ? `<div class="accessory">${element(b.accessory, ctx, bid)}</div>` : "";
      return `<div class="blk blk-section"><div class="section-main">${textObject(b.text, ctx)}${fields}</div>${acc}</div>`;
    }
    case "context":
      return `<div class="blk blk-context">${(b.elements || []).map((e) => element(e, ctx, bid)).join("")}</div>`;
    case "actions":
      return `<div class="blk blk-actions">${(b.elements || []).map((e) => element(e, ctx, bid)).join("")}</div>`;
    case "header":
      return `<div class="blk blk-header">${emojify(esc(b.text?.text))}</div>`;
    case "divider":
      return `<hr class="blk blk-divider">`;
    case "markdown":
      return `<div class="blk blk-markdown">${markdown(b.text, ctx)}</div>`;
    case "image": {
      const url = safeUrl(b.image_url) || (b.slack_file?.url ? b.slack_file.url : "");
      const title = b.title ? `<div class="img-title">${textObject(b.title, ctx)}</div>` : "";
      return `<div class="blk blk-image">${title}<img src="${esc(url)}" alt="${esc(b.alt_text)}"></div>`;
    }
    case "rich_text":
      return `<div class="blk blk-rich">${richText(b, ctx)}</div>`;
    case "input": {
      const el = b.element || {};
      const label = `<label class="input-label">${esc(b.label?.text)}${b.optional ? ' <span class="optional">(optional)</span>' : ""}</label>`;
      const attrs = `data-block-id="${esc(bid)}" data-action-id="${esc(el.action_id || "")}" placeholder="${esc(el.placeholder?.text || "")}"` +
        (el.max_length ? ` maxlength="${Number(el.max_length)}"` : "");
      const field = el.multiline
        ? `<textarea class="modal-input" rows="${el.initial_value && el.initial_value.length > 200 ? 14 : 4}" ${attrs}>${esc(el.initial_value || "")}</textarea>`
        : `<input class="modal-input" ${attrs} value="${esc(el.initial_value || "")}">`;
      return `<div class="blk blk-input" data-input-block="${esc(bid)}">${label}${field}<div class="input-error"></div></div>`;
    }
    default:
      return `<div class="blk unsupported">[unsupported block: ${esc(b.type)}]</div>`;
  }
}

function renderBlocks(blocks, ctx) {
  return (blocks || []).map((b) => block(b, ctx)).join("");
}

window.BlockKit = { renderBlocks, mrkdwn, markdown, esc, emojify, EMOJI };
})();
