// The web page: plain JavaScript, no build step. The API key stays in this
// browser's localStorage and is sent as a Bearer token.
"use strict";
const $ = (id) => document.getElementById(id);
let apiKey = localStorage.getItem("ragKey") || "";
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

function showCitation(c) {
  $("citation-title").textContent = c.title;
  const where = isWeb(c) ? "Résultat web, externe et non vérifié / web result, external" : `page ${c.page}`;
  $("citation-meta").textContent = where + (c.supported ? "" : " — citation non vérifiée / not supported");
  $("citation-quote").textContent = c.quote;
  const link = $("citation-link");
  const url = isWeb(c) && safeUrl(c.url);
  link.hidden = !url;
  if (url) { link.href = url; link.textContent = url; }
  $("citation").hidden = false;
}

function webSourcesLine(answer) {
  // Web results stay apart from the documents: their own line, each a link.
  const line = document.createElement("div");
  line.className = "web-sources";
  line.appendChild(document.createTextNode("Web (externe / external) : "));
  for (const w of answer.web_sources) {
    const url = safeUrl(w.url);
    const item = document.createElement(url ? "a" : "span");
    if (url) { item.href = url; item.target = "_blank"; item.rel = "noopener noreferrer"; }
    item.textContent = `[${w.n}] ${w.title}`;
    line.appendChild(item);
  }
  return line;
}

function renderAnswer(div, answer) {
  const byNumber = new Map(answer.citations.map((c) => [String(c.n), c]));
  div.textContent = "";
  div.classList.add(answer.mode);
  const parts = answer.answer.split(/(\[W?\d+\])/);
  for (const part of parts) {
    const match = part.match(/^\[(W?\d+)\]$/);
    const citation = match && byNumber.get(match[1]);
    if (citation) {
      const button = document.createElement("button");
      button.className = "cite" + (isWeb(citation) ? " web" : "") + (citation.supported ? "" : " unsupported");
      button.textContent = match[1];
      button.title = isWeb(citation) ? `Web : ${citation.title}` : `${citation.title}, p. ${citation.page}`;
      button.addEventListener("click", () => showCitation(citation));
      div.appendChild(button);
    } else {
      div.appendChild(document.createTextNode(part));
    }
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  const labels = { generative: "", extractive: "Extraits des documents (LLM indisponible) · ", not_found: "" };
  const sources = answer.citations.filter((c) => !isWeb(c)).map((c) => `[${c.n}] ${c.title}, p. ${c.page}`).join(" · ");
  meta.textContent = (labels[answer.mode] || "") + sources + (answer.notices.length ? ` · ${answer.notices.join(" · ")}` : "");
  div.appendChild(meta);
  if (answer.web_sources && answer.web_sources.length) div.appendChild(webSourcesLine(answer));
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
  let text = "";
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
      if (event === "token") { text += data.text; div.textContent = text; }
      else if (event === "reset") { text = ""; div.textContent = "…"; }
      else if (event === "done") {
        renderAnswer(div, data);
        history.push({ role: "user", content: question }, { role: "assistant", content: data.answer });
      } else if (event === "error") { div.textContent = data.error.message; }
    }
  } catch (err) {
    div.textContent = err.message;
  } finally {
    $("ask").disabled = false;
  }
});
$("question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask-form").requestSubmit(); }
});
$("new-chat").addEventListener("click", () => { history = []; $("conversation").textContent = ""; });
$("close-citation").addEventListener("click", () => { $("citation").hidden = true; });

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
  localStorage.setItem("ragKey", apiKey);
  login();
});
if (apiKey) login();
