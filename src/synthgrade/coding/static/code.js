// The coding page's script. Response text only ever goes into the page through textContent, never as markup.
"use strict";

const coder = document.body.dataset.coder;
const HEADERS = { "Content-Type": "application/json", "X-Synthgrade": "1" };
let current = null; // the response on screen, as /api/next returned it
let busy = false;

function byId(id) { return document.getElementById(id); }
function setText(id, text) { const el = byId(id); if (el) el.textContent = text == null ? "" : String(text); }

async function call(method, path, body) {
  const response = await fetch(path, { method, headers: HEADERS, body: body ? JSON.stringify(body) : undefined, credentials: "same-origin" });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : response.statusText;
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return data;
}

function show(data) {
  current = data.response;
  const done = !current;
  byId("done").hidden = !done;
  for (const button of document.querySelectorAll("button.label")) {
    button.disabled = done;
    button.classList.toggle("chosen", !done && current.label === button.dataset.label);
  }
  if (done) {
    for (const id of ["item-id", "reason", "item-text", "reference", "response-text", "suggestion"]) setText(id, "");
    byId("response-id").dataset.id = "";
    setText("response-id", "");
    byId("second").hidden = true;
    return;
  }
  byId("response-id").dataset.id = current.id;
  setText("response-id", "response " + current.id);
  setText("item-id", current.item_id ? "· item " + current.item_id : "");
  setText("reason", current.reason ? "· picked because: " + current.reason : "");
  setText("item-text", current.item_text || "(no item text)");
  setText("reference", current.reference || "(no reference answer)");
  setText("response-text", current.text);
  byId("second").hidden = !current.second_coder;
  const s = current.suggestion;
  setText("suggestion", s ? "Model suggests: " + s.label + " (" + Math.round(100 * s.confidence) + "% sure)" : "");
  byId("note").value = current.note || "";
}

async function act(path, body, message) {
  if (busy) return;
  busy = true;
  try {
    const data = await call("POST", path, body);
    setText("status", message);
    show(data);
    refreshPanelSoon();
  } catch (error) {
    setText("status", "Not saved: " + error.message);
    if (error.status === 409) await load();
  } finally {
    busy = false;
  }
}

function chooseLabel(label) {
  if (!current) return;
  act("/api/label", { id: current.id, coder, label, note: byId("note").value, base: current.label }, "saved " + current.id + " as " + label);
}

async function load() {
  try { show(await call("GET", "/api/next?coder=" + encodeURIComponent(coder))); }
  catch (error) { setText("status", "Could not load: " + error.message); }
}

function fillTable(table, header, rows) {
  table.replaceChildren();
  const head = table.insertRow();
  for (const cell of header) { const th = document.createElement("th"); th.textContent = cell; head.appendChild(th); }
  for (const row of rows) {
    const tr = table.insertRow();
    for (const cell of row) tr.insertCell().textContent = cell == null ? "–" : String(cell);
  }
}

function fmt(value, digits) { return value == null ? "–" : Number(value).toFixed(digits); }

let lastTrained = null;
async function refreshPanel() {
  let panel;
  try { panel = await call("GET", "/api/panel"); } catch (error) { return; }
  const c = panel.counts;
  setText("progress", c.coded + " of " + c.pool + " responses coded" + (c.disagreements ? "; " + c.disagreements + " disagreements to resolve" : ""));
  fillTable(byId("per-label"), ["label", "coded"], panel.labels.map((l) => [l, c.per_label[l]]));
  fillTable(byId("per-item"), ["item"].concat(panel.labels), Object.entries(c.per_item).map(([item, n]) => [item].concat(panel.labels.map((l) => n[l]))));
  const m = panel.model;
  setText("model-state", "Model: " + m.state + (m.selector ? "; next responses by " + m.selector : "") + (m.error ? " — " + m.error : ""));
  const f = panel.macro_f1;
  setText("f1", f ? "Cross-validated macro-F1 of a quick tfidf scorer " + fmt(f.macro_f1, 2) + " (95% CI " + fmt(f.ci_low, 2) + "–" + fmt(f.ci_high, 2) + ") at " + f.n + " coded rows" : "");
  setText("sentence", panel.sentence || "");
  if (m.trained_on !== lastTrained) { lastTrained = m.trained_on; byId("curve").src = "/curve.svg?n=" + encodeURIComponent(String(m.trained_on)); }
  const a = panel.agreement;
  setText("agreement", a.double_coded ? a.double_coded + " responses coded twice: " + fmt(a.overall.percent_agreement, 1) + "% agreement, Cohen's kappa " + fmt(a.overall.kappa, 2) : "No response coded by two coders yet.");
  fillTable(byId("agreement-items"), ["item", "pairs", "% agree", "kappa"], Object.entries(a.per_item).map(([item, v]) => [item, v.n, fmt(v.percent_agreement, 1), fmt(v.kappa, 2)]));
  showBuild(panel.build);
}

function showBuild(build) {
  setText("build-state", "Build: " + build.state + (build.seconds != null ? " (" + build.seconds + " s)" : ""));
  setText("build-log", build.log_tail);
  const report = byId("report");
  report.hidden = !build.report;
  if (build.report) report.href = build.report;
}

let panelTimer = null;
function refreshPanelSoon() { clearTimeout(panelTimer); panelTimer = setTimeout(refreshPanel, 300); }

function setUpCodingPage() {
  for (const button of document.querySelectorAll("button.label")) button.addEventListener("click", () => chooseLabel(button.dataset.label));
  byId("skip").addEventListener("click", () => current && act("/api/skip", { id: current.id, coder }, "skipped " + current.id));
  byId("undo").addEventListener("click", () => act("/api/undo", { coder }, "undone"));
  byId("finish").addEventListener("click", async () => {
    try { showBuild(await call("POST", "/api/finish")); } catch (error) { setText("build-state", "Build not started: " + error.message); }
  });
  const labelButtons = Array.from(document.querySelectorAll("button.label"));
  document.addEventListener("keydown", (event) => {
    const typing = event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement;
    if (typing) { if (event.key === "Escape") event.target.blur(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const digit = Number(event.key);
    if (Number.isInteger(digit) && digit >= 1 && digit <= Math.min(9, labelButtons.length)) {
      event.preventDefault();
      chooseLabel(labelButtons[digit - 1].dataset.label);
    } else if (event.key === "s") { event.preventDefault(); byId("skip").click(); }
    else if (event.key === "u") { event.preventDefault(); byId("undo").click(); }
    else if (event.key === "n") { event.preventDefault(); byId("note").focus(); }
  });
  load();
  refreshPanel();
  setInterval(refreshPanel, 4000);
}

function setUpQueuePage() {
  for (const button of document.querySelectorAll("button.resolve-button")) {
    button.addEventListener("click", async () => {
      const row = button.closest("li.row");
      try {
        await call("POST", "/api/resolve", { id: row.dataset.id, coder, label: button.dataset.label, kind: button.dataset.kind });
        row.remove();
      } catch (error) { window.alert("Not saved: " + error.message); }
    });
  }
  const audit = byId("run-audit");
  if (audit) audit.addEventListener("click", async () => { await call("POST", "/api/audit"); setText("audit-state", "requested; reload in a minute"); });
}

if (document.body.id === "coding") setUpCodingPage(); else setUpQueuePage();
