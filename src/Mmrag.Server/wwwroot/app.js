// mmrag page: plain JS, no build step. All server text goes into the page through textContent, never innerHTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { photo: null, photoUrl: null, imageUrls: new Map(), query: null };

function apiHeaders(extra) {
  const headers = new Headers(extra || {});
  const key = localStorage.getItem("mmrag-api-key");
  if (key) headers.set("X-Api-Key", key);
  return headers;
}

// State-changing requests carry the server's CSRF token (GET /api/csrf, readable by this page only); a restarted
// server has a new one, so a refusal fetches it again and retries once.
let csrf = null;
function csrfToken(refresh) {
  if (!csrf || refresh) {
    csrf = fetch("/api/csrf", { headers: apiHeaders() })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${r.status}: ${r.statusText}`))))
      .then((body) => body.token);
    csrf.catch(() => { csrf = null; });
  }
  return csrf;
}

async function api(path, options = {}) {
  const method = (options.method || "GET").toUpperCase();
  const send = async (refresh) => {
    const headers = apiHeaders(options.headers);
    if (method !== "GET" && method !== "HEAD") headers.set("X-CSRF-Token", await csrfToken(refresh));
    return fetch(path, { ...options, headers });
  };
  let response = await send(false);
  if (response.status === 403 && method !== "GET" && method !== "HEAD") response = await send(true);
  if (!response.ok) {
    let detail = response.statusText;
    try { const problem = await response.json(); detail = problem.detail || problem.title || detail; } catch { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function setStatus(text) { $("status").textContent = text; }

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// Images go through fetch so the API key header is sent; object URLs are cached per item.
async function imageUrl(id) {
  if (state.imageUrls.has(id)) return state.imageUrls.get(id);
  const promise = api(`/api/items/${encodeURIComponent(id)}/image`).then((r) => r.blob()).then((b) => URL.createObjectURL(b));
  state.imageUrls.set(id, promise);
  promise.catch(() => state.imageUrls.delete(id));
  return promise;
}

function loadImage(img, id) {
  imageUrl(id).then((url) => { img.src = url; }).catch(() => { img.alt = "image unavailable"; });
}

async function loadStats() {
  try {
    const kb = await (await api("/api/kb")).json();
    state.defaultThreshold = kb.default_threshold;
    $("kb-stats").textContent = `${kb.documents} documents · ${kb.images} images · ${kb.text_chunks} text chunks · model ${kb.model.id}` +
      (kb.llm_configured ? "" : " · no LLM configured (answers list sources only)");
  } catch (error) {
    $("kb-stats").textContent = `knowledge base unavailable (${error.message})`;
  }
}

// ---- the photo: drop, paste, or choose ----
function setPhoto(file) {
  if (file && !file.type.startsWith("image/")) { setStatus("That file is not an image."); return; }
  state.photo = file || null;
  if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
  state.photoUrl = file ? URL.createObjectURL(file) : null;
  $("photo-preview").hidden = !file;
  $("photo-clear").hidden = !file;
  if (file) $("photo-preview").src = state.photoUrl; else $("photo-preview").removeAttribute("src");
}

function wirePhoto() {
  const zone = $("drop-zone");
  zone.addEventListener("click", (e) => { if (e.target.id !== "photo-clear") $("photo").click(); });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("photo").click(); } });
  $("photo").addEventListener("change", () => setPhoto($("photo").files[0]));
  $("photo-clear").addEventListener("click", (e) => { e.stopPropagation(); setPhoto(null); $("photo").value = ""; zone.focus(); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("dragging"); setPhoto(e.dataTransfer.files[0]); });
  document.addEventListener("paste", (e) => {
    const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (item) { e.preventDefault(); setPhoto(item.getAsFile()); }
  });
}

function queryForm() {
  const form = new FormData();
  const text = $("question").value.trim();
  if (text) { form.set("text", text); form.set("question", text); }
  if (state.photo) form.set("image", state.photo, state.photo.name || "photo.png");
  form.set("target", $("target").value);
  form.set("strategy", $("strategy").value);
  if ($("threshold").value !== "") form.set("threshold", $("threshold").value);
  if ($("rerank").value) form.set("rerank", $("rerank").value);
  // The query the results will come from, for their thumbs (the form may change before they are clicked).
  state.query = { text, photo: state.photo };
  return { form, empty: !text && !state.photo };
}

// ---- results ----
// A web page's source is its URL, shown whole; a file's, its name.
const isUrl = (source) => /^https?:\/\//i.test(source || "");
const sourceName = (source) => (isUrl(source) ? source : (source || "").split(/[\\/]/).pop());

function where(hit) {
  const name = sourceName(hit.source);
  return name + (hit.page != null ? ` p.${hit.page}` : "") + (hit.section ? ` § ${hit.section}` : "");
}

// An image's description without its credit line, which is shown on its own (hit.attribution).
function described(hit) {
  return (hit.description || "").split("\n").filter(line => !line.startsWith("Image credit: ")).join("\n");
}

function resultCard(hit, number) {
  const card = el("li", { class: "result", tabindex: "-1", id: number ? `source-${number}` : `hit-${hit.id}` });
  const label = el("div", { class: "meta" },
    number ? el("strong", { text: `[${number}] ` }) : null,
    el("span", { class: "score", text: Number(hit.score).toFixed(3) }),
    hit.raw_score != null ? el("span", { class: "cos", text: ` (cos ${Number(hit.raw_score).toFixed(3)})` }) : null,
    document.createTextNode(` · ${hit.kind} · ${where(hit)}`));
  label.title = hit.source || "";
  if (isUrl(hit.source)) {
    // Only http(s) sources become links (the check above), opened without giving the page a handle on this one.
    label.append(document.createTextNode(" "), el("a", { href: hit.source, target: "_blank", rel: "noopener noreferrer", class: "source-link", text: "open source" }));
  }
  if (hit.kind === "image") {
    const img = el("img", { alt: hit.description || where(hit), loading: "lazy" });
    loadImage(img, hit.id);
    const open = el("button", { class: "thumb", type: "button", "aria-label": `Open image ${where(hit)}`, onclick: () => openViewer(hit) }, img);
    card.append(open, label, el("div", { class: "snippet", text: described(hit) }));
    if (hit.attribution) {
      // Its own line, never cut with the snippet: the image's licence asks for it.
      card.append(el("div", { class: "credit", text: `Credit: ${hit.attribution}` }));
    }
  } else {
    card.append(label, el("div", { class: "snippet", text: hit.text || "" }));
  }
  if (hit.rerank_grade != null) {
    card.append(el("div", { class: "rerank", text: `LLM grade ${hit.rerank_grade}/3${hit.rerank_reason ? `: ${hit.rerank_reason}` : ""}` }));
  }
  card.append(feedbackBar(hit, state.query));
  return card;
}

// How an LLM rerank went, for the status line ("" when none was asked).
function rerankNote(rerank) {
  if (!rerank) return "";
  if (rerank.status === "applied") return `; reranked by the LLM (${rerank.graded} of ${rerank.candidates} graded)`;
  return `; LLM rerank ${rerank.status}, search order kept: ${rerank.detail || ""}`;
}

// ---- feedback: a thumb up / down per result, recorded with the query the results came from ----
function dataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function feedbackBar(hit, query) {
  const ack = el("span", { class: "feedback-ack", role: "status" });
  const bar = el("div", { class: "feedback" });
  let stored = []; // the ids of this card's judgement, so that a change of mind replaces it and a second click undoes it
  const thumb = (relevant) => el("button", {
    type: "button", class: relevant ? "thumb-up" : "thumb-down", "aria-pressed": "false", text: relevant ? "✓" : "✗", // in every font, unlike the thumb emoji
    "aria-label": `${relevant ? "Relevant" : "Not relevant"}: ${where(hit)}`, title: relevant ? "Relevant to this query" : "Not relevant to this query",
    onclick: (e) => vote(relevant, e.currentTarget),
  });
  const up = thumb(true), down = thumb(false);
  async function vote(relevant, button) {
    if (!query) return;
    const undo = button.getAttribute("aria-pressed") === "true";
    up.disabled = down.disabled = true;
    try {
      for (const id of stored) await api(`/api/feedback/${encodeURIComponent(id)}`, { method: "DELETE" });
      stored = [];
      up.setAttribute("aria-pressed", "false");
      down.setAttribute("aria-pressed", "false");
      if (undo) { ack.textContent = "feedback removed"; return; }
      const body = { query: {}, item_id: hit.id, relevant, source: "page" };
      if (query.text) body.query.text = query.text;
      if (query.photo) { body.query.image = await dataUrl(query.photo); body.query.image_name = query.photo.name || "photo"; }
      const result = await (await api("/api/feedback", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      })).json();
      stored = result.ids;
      button.setAttribute("aria-pressed", "true");
      ack.textContent = relevant ? "thanks: marked relevant" : "thanks: marked not relevant";
    } catch (error) {
      ack.textContent = `feedback failed: ${error.message}`;
    } finally {
      up.disabled = down.disabled = false;
    }
  }
  bar.append(up, down, ack);
  return bar;
}

function showResults(hits, numbered) {
  const list = $("results");
  list.replaceChildren(...hits.map((hit) => resultCard(hit, numbered ? hit.n : null)));
  if (hits.length === 0) list.append(el("li", { class: "muted no-match", text: noMatchMessage() }));
}

// The CLI's wording (mmrag search): name the cut in force, the one typed or else the server's default.
function noMatchMessage() {
  const typed = $("threshold").value;
  const threshold = typed !== "" ? Number(typed) : state.defaultThreshold;
  const named = threshold == null || Number.isNaN(threshold) ? "" : ` (${threshold.toFixed(2)})`;
  return `Nothing scored above the threshold${named}: no good match in the knowledge base.`;
}

function openViewer(hit) {
  $("viewer-title").textContent = where(hit);
  $("viewer-description").textContent = described(hit);
  $("viewer-credit").textContent = hit.attribution ? `Credit: ${hit.attribution}` : "";
  const img = $("viewer-image");
  img.alt = hit.description || where(hit);
  loadImage(img, hit.id);
  $("viewer").showModal();
}

// ---- search ----
async function search() {
  const { form, empty } = queryForm();
  if (empty) { setStatus("Type something or add a photo."); return; }
  setStatus("Searching…");
  $("answer-panel").hidden = true;
  try {
    const result = await (await api("/api/search", { method: "POST", body: form })).json();
    showResults(result.hits, false);
    setStatus(`${result.hits.length} results (${Math.round(result.embed_ms + result.search_ms)} ms)${rerankNote(result.rerank)}`);
  } catch (error) {
    setStatus(`Search failed: ${error.message}`);
  }
}

// ---- ask, streamed over SSE (a fetch reader: EventSource cannot POST) ----
function citationLink(n) {
  return el("a", {
    class: "cite", href: `#source-${n}`, text: `[${n}]`, "aria-label": `source ${n}`,
    onclick: (e) => {
      e.preventDefault();
      const target = $(`source-${n}`);
      if (!target) return;
      document.querySelectorAll(".result.highlight").forEach((r) => r.classList.remove("highlight"));
      target.classList.add("highlight");
      target.scrollIntoView({ behavior: "smooth", block: "center" });
      target.focus({ preventScroll: true });
    },
  });
}

function renderAnswer(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    nodes.push(document.createTextNode(text.slice(last, match.index)));
    nodes.push($(`source-${match[1]}`) ? citationLink(match[1]) : document.createTextNode(match[0]));
    last = match.index + match[0].length;
  }
  nodes.push(document.createTextNode(text.slice(last)));
  $("answer").replaceChildren(...nodes);
}

function showCitedImages(citations) {
  const aside = $("cited-images");
  aside.replaceChildren();
  for (const c of citations.filter((c) => c.kind === "image")) {
    const img = el("img", { alt: `cited image [${c.n}]` });
    loadImage(img, c.id);
    aside.append(el("figure", {}, img, el("figcaption", {}, citationLink(c.n))));
  }
}

async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message", data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trimStart();
      }
      yield { name, data: data ? JSON.parse(data) : null };
    }
  }
}

async function ask() {
  const { form, empty } = queryForm();
  if (empty) { setStatus("Type a question or add a photo."); return; }
  setStatus("Retrieving sources…");
  $("answer-panel").hidden = false;
  $("answer").replaceChildren();
  $("cited-images").replaceChildren();
  let text = "";
  try {
    const response = await api("/api/ask", { method: "POST", body: form, headers: { Accept: "text/event-stream" } });
    for await (const event of readEvents(response)) {
      if (event.name === "sources") {
        showResults(event.data.sources, true);
        setStatus(event.data.no_context ? "Nothing relevant found; answering without sources…" : "Answering…");
      } else if (event.name === "token") {
        text += event.data.text;
        renderAnswer(text);
      } else if (event.name === "citations") {
        showCitedImages(event.data.citations);
      } else if (event.name === "done") {
        text = event.data.answer;
        renderAnswer(text);
        setStatus(`Answered (${event.data.citations.length} cited)${rerankNote(event.data.rerank)}.`);
      } else if (event.name === "error") {
        setStatus(`Answer failed: ${event.data.detail || event.data.title}`);
      }
    }
  } catch (error) {
    setStatus(`Ask failed: ${error.message}`);
  }
}

// ---- ingest ----
async function ingest(event) {
  event.preventDefault();
  const files = [...$("ingest-files").files, ...$("ingest-folder").files];
  const entries = $("ingest-urls").value.split(/\s+/).filter((u) => u.length > 0);
  // "wikipedia:Title" (underscores for spaces, as in article URLs) names an article; anything else is a web page.
  const wikipedia = entries.filter((e) => e.startsWith("wikipedia:")).map((e) => e.slice("wikipedia:".length).replaceAll("_", " "));
  const urls = entries.filter((e) => !e.startsWith("wikipedia:"));
  const ocr = $("ingest-ocr").checked;
  if (files.length === 0 && entries.length === 0) { setStatus("Choose files or a folder to upload, or give web page URLs or wikipedia:Title."); return; }
  if (entries.length) ingestUrls(urls, wikipedia, ocr);
  if (files.length === 0) return;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.webkitRelativePath || file.name);
  if (ocr) form.append("ocr", "true");
  const line = el("div", { class: "job", text: `uploading ${files.length} files…` });
  $("jobs").prepend(line);
  try {
    const job = await (await api("/api/ingest", { method: "POST", body: form })).json();
    await watchJob(job.job_id, line);
  } catch (error) {
    line.textContent = `upload failed: ${error.message}`;
  }
}

async function ingestUrls(urls, wikipedia, ocr) {
  const count = urls.length + wikipedia.length;
  const line = el("div", { class: "job", text: `fetching ${count} page${count === 1 ? "" : "s"}…` });
  $("jobs").prepend(line);
  const body = { ocr };
  if (urls.length) body.urls = urls;
  if (wikipedia.length) body.wikipedia = wikipedia;
  try {
    const job = await (await api("/api/ingest", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    })).json();
    $("ingest-urls").value = "";
    await watchJob(job.job_id, line);
  } catch (error) {
    line.textContent = `ingest failed: ${error.message}`;
  }
}

async function watchJob(id, line) {
  for (;;) {
    const job = await (await api(`/api/jobs/${id}`)).json();
    const p = job.progress;
    const bar = el("progress", { max: String(p?.files_total || 1), value: String(p?.files_done || 0) });
    const summary = job.summary
      ? `${job.summary.added} added, ${job.summary.unchanged} unchanged, ${job.summary.failed} failed, ${job.summary.items} items`
      : p ? `${p.files_done}/${p.files_total} files` : "";
    line.replaceChildren(el("strong", { text: `job ${id}: ${job.state} ` }), bar, document.createTextNode(` ${summary}`));
    if (job.failures.length) {
      line.append(el("ul", { class: "failures" }, ...job.failures.map((f) => el("li", { text: `${sourceName(f.source)}: ${f.reason}` }))));
    }
    if (job.error) line.append(el("div", { class: "failures", text: job.error }));
    if (!["queued", "running"].includes(job.state)) { loadStats(); return; }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

// ---- start ----
document.addEventListener("DOMContentLoaded", () => {
  const key = $("api-key");
  key.value = localStorage.getItem("mmrag-api-key") || "";
  key.addEventListener("change", () => { localStorage.setItem("mmrag-api-key", key.value); state.imageUrls.clear(); csrf = null; loadStats(); });
  wirePhoto();
  $("query-form").addEventListener("submit", (e) => {
    e.preventDefault();
    (e.submitter?.dataset.action === "search" ? search : ask)();
  });
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); ask(); }
  });
  $("ingest-form").addEventListener("submit", ingest);
  loadStats();
});
