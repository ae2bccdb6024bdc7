// The web page: plain JavaScript, no build step. The API key is sent as a Bearer
// token and kept in this tab's sessionStorage: it lasts as long as the tab (a reload
// keeps it), and other tabs and later visits do not get it, as they did from
// localStorage.
// The server's Content-Security-Policy runs no script but this file's.
"use strict";
const $ = (id) => document.getElementById(id);
localStorage.removeItem("ragKey"); // where earlier versions of the page kept it
let apiKey = sessionStorage.getItem("ragKey") || "";
let history = [];
let me = null;

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${apiKey}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let message = `${response.status}`;
    try { message = (await response.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

async function login() {
  try {
    me = await (await api("/v1/me")).json();
    $("who").textContent = `${me.name} (${me.role})`;
    $("upload-tab").hidden = me.role !== "admin";
    $("stats-tab").hidden = me.role !== "admin";
    // Web results only where the server offers them (RAG_WEB__ENABLED).
    const web = Boolean(me.features && me.features.web_search);
    $("web-option").hidden = !web;
    if (!web) $("web").checked = false;
    showError("");
  } catch (e) {
    me = null;
    $("who").textContent = "";
    showError(`Clé refusée : ${e.message}`);
  }
}

// -- tabs ------------------------------------------------------------------------
document.querySelectorAll("nav button").forEach((button) => {
  button.addEventListener("click", () => {
    document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b === button));
    document.querySelectorAll(".tab").forEach((t) => { t.hidden = t.id !== button.dataset.tab; });
    if (button.dataset.tab === "documents") loadDocuments();
    if (button.dataset.tab === "stats") loadStats();
  });
});

// -- chat ------------------------------------------------------------------------
function turn(kind, text) {
  const div = document.createElement("div");
  div.className = `turn ${kind}`;
  div.textContent = text;
  $("conversation").appendChild(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

const isWeb = (c) => c.kind === "web";
const safeUrl = (url) => (/^https?:\/\//i.test(url || "") ? url : null);

// -- evidence: a citation opens its page, the quoted sentence highlighted ------------
// Document text is untrusted: it only ever goes into text nodes (textContent, append).
let citationOpener = null;
let citationRequest = 0;

const squash = (s) => (s || "").replace(/\s+/g, " ").trim();
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// [start, end) of the quote in the page's text, or null when it cannot be placed.
function locateQuote(c, page) {
  const text = page.text || "";
  const quote = squash(c.quote);
  if (!text || !quote) return null;
  // By offsets: the citation's are in the document's text, so is the page's start.
  if ([page.start, c.start, c.end].every(Number.isInteger)) {
    const from = c.start - page.start;
    const to = c.end - page.start;
    const start = Math.max(0, from);
    const end = Math.min(text.length, to);
    const found = squash(text.slice(start, end));
    // Offsets go stale when a document is imported again: trust them only while
    // they still hold the quote (or, for a quote across pages, this page's part of it).
    const clipped = start !== from || end !== to;
    const holds = clipped
      ? Boolean(found) && (quote.startsWith(found) || quote.endsWith(found))
      : found === quote;
    if (start < end && holds) return [start, end];
  }
  // By the quote's text, exact first, then across any difference in spacing.
  const at = text.indexOf(c.quote);
  if (at >= 0) return [at, at + c.quote.length];
  const match = new RegExp(quote.split(" ").map(escapeRegExp).join("\\s+")).exec(text);
  return match ? [match.index, match.index + match[0].length] : null;
}

function showPage(c, page) {
  const box = $("citation-page");
  const text = page.text || "";
  const where = locateQuote(c, page);
  box.textContent = "";
  // The quote above the page only when it could not be placed in it.
  $("citation-quote").hidden = Boolean(where);
  if (!where) { box.textContent = text; box.scrollTop = 0; return; }
  const mark = document.createElement("mark");
  mark.textContent = text.slice(where[0], where[1]);
  box.append(text.slice(0, where[0]), mark, text.slice(where[1]));
  mark.scrollIntoView({ block: "center", inline: "nearest" });
}

async function openCitation(c, opener) {
  citationOpener = opener || document.activeElement;
  const request = ++citationRequest;
  $("citation-title").textContent = c.title;
  $("citation-meta").textContent = `page ${c.page}` + (c.supported ? "" : " — citation non vérifiée / not supported");
  $("citation-quote").textContent = c.quote;
  $("citation-quote").hidden = true;
  $("citation-page").textContent = "Chargement… / Loading…";
  $("citation").hidden = false;
  document.body.classList.add("evidence-open");
  $("citation").focus();
  try {
    const id = encodeURIComponent(c.document_id);
    const page = await (await api(`/v1/documents/${id}/pages/${encodeURIComponent(c.page)}`)).json();
    if (request === citationRequest) showPage(c, page);
  } catch (err) {
    if (request !== citationRequest) return;
    $("citation-quote").hidden = false;
    $("citation-page").textContent = `Page indisponible / page unavailable : ${err.message}`;
  }
}

function closeCitation() {
  if ($("citation").hidden) return;
  $("citation").hidden = true;
  document.body.classList.remove("evidence-open");
  citationRequest++; // a page still on its way is not shown
  const opener = citationOpener;
  citationOpener = null;
  if (opener && opener.isConnected) opener.focus();
}
$("close-citation").addEventListener("click", closeCitation);
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("citation").hidden) { e.preventDefault(); closeCitation(); }
});

// A [n] marker: a document's opens its page; a web result's is a link out.
function citeMarker(label, c) {
  const unsupported = c.supported ? "" : " — non vérifiée / not supported";
  if (isWeb(c)) {
    const url = safeUrl(c.url);
    const link = document.createElement(url ? "a" : "span");
    link.className = "cite web" + (c.supported ? "" : " unsupported");
    link.textContent = label;
    link.title = `Web, externe / external : ${c.title}${unsupported}`;
    if (url) {
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer external";
      link.setAttribute("aria-label", `${label} : ${c.title} (lien externe / external link)`);
    }
    return link;
  }
  const button = document.createElement("button");
  button.type = "button";
  button.className = "cite" + (c.supported ? "" : " unsupported");
  button.textContent = label;
  button.title = `${c.title}, p. ${c.page}${unsupported}`;
  button.setAttribute("aria-haspopup", "dialog");
  button.addEventListener("click", () => openCitation(c, button));
  return button;
}

function webSourcesLine(answer) {
  // Web results stay apart from the documents: their own line, each a link.
  const line = document.createElement("div");
  line.className = "web-sources";
  line.appendChild(document.createTextNode("Web (externe / external) : "));
  for (const w of answer.web_sources) {
    const url = safeUrl(w.url);
    const item = document.createElement(url ? "a" : "span");
    if (url) { item.href = url; item.target = "_blank"; item.rel = "noopener noreferrer external"; }
    item.textContent = `[${w.n}] ${w.title}`;
    line.appendChild(item);
  }
  return line;
}

// Sentences the verifier took out of the answer: a count and the reasons, never their text.
const REMOVAL_REASONS = {
  unsupported: { fr: "sans appui dans les sources", en: "not supported by the sources" },
  off_topic: {
    fr: "sa source ne répond pas à la question",
    en: "its source does not answer the question",
  },
  restates_question: { fr: "ne fait que reprendre la question", en: "only repeats the question" },
  no_quantity: {
    fr: "ne dit pas combien, alors que la question le demande",
    en: "does not say how many or how much, as the question asks",
  },
  untrusted_url: {
    fr: "lien, image ou adresse absents des sources citées",
    en: "link, image or address not in the cited sources",
  },
  html: { fr: "balise HTML", en: "HTML tag" },
};

function removedNote(answer) {
  const removed = Array.isArray(answer.removed) ? answer.removed : [];
  if (!removed.length) return null;
  const lang = answer.language === "en" ? "en" : "fr";
  const reasons = [...new Set(removed.map((r) => {
    const reason = String((r && r.reason) || "").trim();
    const known = REMOVAL_REASONS[reason.toLowerCase().replace(/[\s-]+/g, "_")];
    return known ? known[lang] : reason.replace(/_/g, " ");
  }).filter(Boolean))];
  const n = removed.length;
  const s = n > 1 ? "s" : "";
  const note = document.createElement("div");
  note.className = "answer-note removed-note";
  note.textContent = lang === "en"
    ? `${n} sentence${s} removed${reasons.length ? `: ${reasons.join("; ")}` : ""}`
    : `${n} phrase${s} retirée${s}${reasons.length ? ` : ${reasons.join(" ; ")}` : ""}`;
  return note;
}

// The final answer replaces whatever was streamed: only `answer.answer` is shown as the answer.
function renderAnswer(div, answer) {
  const byNumber = new Map(answer.citations.map((c) => [String(c.n), c]));
  div.textContent = "";
  div.classList.remove("draft");
  div.classList.add(answer.mode);
  const body = document.createElement("div");
  body.className = "answer-text";
  for (const part of answer.answer.split(/(\[W?\d+\])/)) {
    const match = part.match(/^\[(W?\d+)\]$/);
    const citation = match && byNumber.get(match[1]);
    body.appendChild(citation ? citeMarker(match[1], citation) : document.createTextNode(part));
  }
  div.appendChild(body);
  const meta = document.createElement("div");
  meta.className = "meta";
  const labels = { generative: "", extractive: "Extraits des documents (LLM indisponible) · ", not_found: "" };
  meta.append(labels[answer.mode] || "");
  answer.citations.filter((c) => !isWeb(c)).forEach((c, i) => {
    if (i) meta.append(" · ");
    const source = document.createElement("button");
    source.type = "button";
    source.className = "source" + (c.supported ? "" : " unsupported");
    source.textContent = `[${c.n}] ${c.title}, p. ${c.page}`;
    source.setAttribute("aria-haspopup", "dialog");
    source.addEventListener("click", () => openCitation(c, source));
    meta.appendChild(source);
  });
  if (answer.notices.length) meta.append(` · ${answer.notices.join(" · ")}`);
  div.appendChild(meta);
  const note = removedNote(answer);
  if (note) div.appendChild(note);
  if (answer.web_sources && answer.web_sources.length) div.appendChild(webSourcesLine(answer));
  if (answer.id) div.appendChild(ratingBar(answer));
}

// -- rating an answer: up at once; down at once, then an optional comment and correction
const MAX_COMMENT = 2000;
const MAX_CORRECTION = 10000;

function ratingBar(answer) {
  const bar = document.createElement("div");
  bar.className = "rating";
  const status = document.createElement("span");
  status.setAttribute("aria-live", "polite");
  const choice = (label, title) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.title = title;
    b.setAttribute("aria-label", title);
    return b;
  };
  const up = choice("👍 Utile / useful", "Bonne réponse / good answer");
  const down = choice("👎 Faux / wrong", "Mauvaise réponse / wrong answer");
  const form = document.createElement("form");
  form.hidden = true;
  const comment = document.createElement("textarea");
  comment.rows = 2;
  comment.maxLength = MAX_COMMENT;
  comment.placeholder = "Qu'est-ce qui ne va pas ? (facultatif) / What is wrong? (optional)";
  const correction = document.createElement("textarea");
  correction.rows = 2;
  correction.maxLength = MAX_CORRECTION;
  correction.placeholder = "La bonne réponse, si vous la connaissez (facultatif) / The right answer, if known (optional)";
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = "Envoyer / Send";
  form.append(comment, correction, send);

  async function rate(rating, extra = {}) {
    status.textContent = "…";
    try {
      await api(`/v1/answers/${encodeURIComponent(answer.id)}/feedback`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ rating, ...extra }),
      });
      up.classList.toggle("chosen", rating === "up");
      down.classList.toggle("chosen", rating === "down");
      status.textContent = "Merci / thank you";
    } catch (err) {
      status.textContent = `Note non enregistrée / rating not saved : ${err.message}`;
    }
  }
  up.addEventListener("click", () => { form.hidden = true; rate("up"); });
  down.addEventListener("click", () => { form.hidden = false; rate("down"); comment.focus(); });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const extra = {};
    if (comment.value.trim()) extra.comment = comment.value.trim();
    if (correction.value.trim()) extra.correct_answer = correction.value.trim();
    form.hidden = true;
    rate("down", extra);
  });
  bar.append(up, down, status, form);
  return bar;
}

// Server-Sent Events over fetch (EventSource cannot POST or send headers).
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

$("ask-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("question").value = "";
  $("ask").disabled = true;
  turn("user", question);
  const div = turn("assistant", "…");
  div.classList.add("draft"); // until the final answer replaces it
  let text = "";
  let ended = false;
  try {
    const response = await api("/v1/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({
        question, history: history.slice(-6), stream: true,
        web: !$("web-option").hidden && $("web").checked,
      }),
    });
    for await (const { event, data } of sseEvents(response)) {
      if (ended) continue; // nothing after the final answer replaces it
      if (event === "token") { text += data.text; div.textContent = text; }
      else if (event === "reset") { text = ""; div.textContent = "…"; }
      else if (event === "done") {
        ended = true;
        renderAnswer(div, data);
        history.push({ role: "user", content: question }, { role: "assistant", content: data.answer });
      } else if (event === "error") { ended = true; div.classList.remove("draft"); div.textContent = data.error.message; }
    }
    if (!ended) {
      // The stream stopped before the final answer: what was streamed is not it.
      const note = document.createElement("div");
      note.className = "answer-note cut-note";
      note.textContent = "Réponse interrompue, non vérifiée / answer cut off, not checked";
      div.appendChild(note);
    }
  } catch (err) {
    div.classList.remove("draft");
    div.textContent = err.message;
  } finally {
    $("ask").disabled = false;
  }
});
$("question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask-form").requestSubmit(); }
});
$("new-chat").addEventListener("click", () => { history = []; $("conversation").textContent = ""; closeCitation(); });

// -- documents ---------------------------------------------------------------------
let shown = { id: null, page: 1, pages: [] };

async function loadDocuments() {
  try {
    const { documents } = await (await api("/v1/documents")).json();
    const body = $("document-list");
    body.textContent = "";
    for (const d of documents) {
      const row = body.insertRow();
      for (const value of [d.title, d.pages, d.groups.join(", "), d.updated_at.slice(0, 10)]) {
        row.insertCell().textContent = value;
      }
      row.addEventListener("click", () => openDocument(d.id));
    }
  } catch (err) { showError(err.message); }
}

async function openDocument(id, page) {
  try {
    if (shown.id !== id) {
      const doc = await (await api(`/v1/documents/${id}`)).json();
      shown = { id, page: 1, pages: doc.page_numbers, title: doc.title };
    }
    shown.page = page || shown.pages[0] || 1;
    const data = await (await api(`/v1/documents/${id}/pages/${shown.page}`)).json();
    $("page-title").textContent = shown.title;
    $("page-number").textContent = `page ${shown.page} / ${shown.pages.length}`;
    $("page-text").textContent = data.text;
    $("page-view").hidden = false;
  } catch (err) { showError(err.message); }
}
$("prev-page").addEventListener("click", () => shown.page > 1 && openDocument(shown.id, shown.page - 1));
$("next-page").addEventListener("click", () => shown.page < shown.pages.length && openDocument(shown.id, shown.page + 1));

// -- stats and gaps (admins) -------------------------------------------------------
const percent = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 1000) / 10} %`);
const seconds = (x) => (x === null || x === undefined ? "–" : `${x.toFixed(2)} s`);

async function loadStats() {
  try {
    const stats = await (await api("/v1/admin/stats")).json();
    $("stats-note").textContent = stats.question_log
      ? ""
      : "Journal des questions désactivé : notes seulement / question log off: ratings only";
    const body = $("stats-body");
    body.textContent = "";
    for (const row of [{ group: "Tous / all", ...stats.overall }, ...stats.by_group]) {
      const tr = body.insertRow();
      const cells = [
        row.group, row.questions, `${row.not_found} (${percent(row.not_found_rate)})`,
        `${row.down} / ${row.rated} (${percent(row.down_vote_rate)})`, seconds(row.median_first_token_s),
      ];
      for (const value of cells) tr.insertCell().textContent = value;
    }
    const days = $("per-day");
    days.textContent = "";
    for (const d of stats.overall.per_day) {
      const tr = days.insertRow();
      tr.insertCell().textContent = d.day;
      tr.insertCell().textContent = d.questions;
    }
    const report = await (await api("/v1/admin/gaps")).json();
    const list = $("gaps");
    list.textContent = "";
    for (const topic of report.topics) {
      const li = document.createElement("li");
      const head = document.createElement("strong");
      head.textContent = `${topic.count} question(s) — ${topic.not_found} non trouvée(s) / not found, ${topic.down} notée(s) fausse(s) / rated down`;
      const examples = document.createElement("ul");
      for (const q of topic.examples) {
        const item = document.createElement("li");
        item.textContent = q; // questions are user text: text nodes only
        examples.appendChild(item);
      }
      li.append(head, examples);
      if (topic.documents.length) {
        const cited = document.createElement("div");
        cited.className = "answer-note";
        cited.textContent = "Cités par les réponses notées fausses / cited by down-rated answers : "
          + topic.documents.map((d) => `${d.title} (${d.count})`).join(", ");
        li.appendChild(cited);
      }
      list.appendChild(li);
    }
    if (!report.topics.length) list.textContent = "Aucune / none";
  } catch (err) { showError(err.message); }
}

// -- upload (admins) ---------------------------------------------------------------
$("upload-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData();
  for (const file of $("files").files) form.append("files", file);
  if ($("groups").value.trim()) form.append("groups", $("groups").value.trim());
  try {
    const job = await (await api("/v1/ingest/jobs", { method: "POST", body: form })).json();
    followJob(job.id);
  } catch (err) { showError(err.message); }
});

function followJob(id) {
  const div = document.createElement("div");
  div.className = "job";
  $("jobs").prepend(div);
  const timer = setInterval(async () => {
    try {
      const job = await (await api(`/v1/ingest/jobs/${id}`)).json();
      div.textContent = `Job ${id} : ${job.status} — ${job.files_done}/${job.files_total} fichiers, ${job.chunks} passages (${job.chunks_per_s}/s)`;
      const bar = document.createElement("progress");
      bar.max = job.files_total || 1;
      bar.value = job.files_done;
      div.appendChild(bar);
      for (const error of job.errors) {
        const p = document.createElement("p");
        p.textContent = `${error.file} : ${error.reason}`;
        div.appendChild(p);
      }
      if (["succeeded", "partial", "failed"].includes(job.status)) clearInterval(timer);
    } catch (err) { clearInterval(timer); showError(err.message); }
  }, 1000);
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  apiKey = $("key").value.trim();
  sessionStorage.setItem("ragKey", apiKey);
  closeCitation(); // its page was fetched with the previous key
  login();
});
if (apiKey) login();
