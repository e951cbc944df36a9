// The page: upload with progress, poll the scan, then banner, timeline (plotly.js from the plotly package),
// face cards with the pictures the pipeline made, and the recent scans. User-provided text only via textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const pct = (p) => `${Math.round(p * 100)} %`;
const clock = (s) => {
  const t = Math.max(0, Math.round(s));
  return `${String(Math.floor(t / 60)).padStart(2, "0")}:${String(t % 60).padStart(2, "0")}`;
};
const el = (tag, props = {}, children = []) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) node.append(c);
  return node;
};
let pollTimer = null;
let shown = null; // the scan the page is showing: answers for another one (a poll still in flight) are dropped

function setStatus(text, progress) {
  $("progress-row").hidden = false;
  $("status").textContent = text;
  if (progress !== undefined) $("upload-progress").value = progress;
}

// API token: only when the server runs with --token. Asked once on a 401 and kept in this browser's localStorage.
const TOKEN_KEY = "deepfake-token";

function authHeaders() {
  const token = localStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function askToken() {
  const token = (prompt("This server needs its API token (the --token it was started with):") || "").trim();
  if (token) localStorage.setItem(TOKEN_KEY, token); else localStorage.removeItem(TOKEN_KEY);
  return Boolean(token);
}

async function apiFetch(url) {
  const res = await fetch(url, { headers: authHeaders() });
  return res.status === 401 && askToken() ? fetch(url, { headers: authHeaders() }) : res;
}

function upload(file) {
  clearTimeout(pollTimer);
  shown = null;
  $("result").hidden = true;
  const form = new FormData();
  form.append("file", file);
  form.append("keep", $("keep").checked ? "true" : "false");
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/v1/scans");
  for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) setStatus(`uploading ${file.name}… ${Math.round((100 * e.loaded) / e.total)} %`, (100 * e.loaded) / e.total);
  };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON: use the status line */ }
    if (xhr.status === 200 || xhr.status === 202) {
      setStatus(body.duplicate ? "already scanned: showing the stored result" : "queued", 100);
      history.replaceState(null, "", `#${body.id}`);
      poll(body.id);
    } else if (xhr.status === 401 && askToken()) {
      upload(file);
    } else {
      const retry = xhr.getResponseHeader("Retry-After");
      showFailure(body.error || `${xhr.status} ${xhr.statusText}`, retry ? ` (retry in ${retry} s)` : "");
    }
  };
  xhr.onerror = () => showFailure("the upload failed: no answer from the server", "");
  setStatus(`uploading ${file.name}…`, 0);
  xhr.send(form);
}

async function poll(id) {
  clearTimeout(pollTimer);
  shown = id;
  let scan;
  try {
    const res = await apiFetch(`/api/v1/scans/${encodeURIComponent(id)}`);
    scan = await res.json();
    if (id !== shown) return;
    if (!res.ok) return showFailure(scan.error || res.statusText, "");
  } catch (e) {
    if (id !== shown) return;
    pollTimer = setTimeout(() => poll(id), 2000);
    return setStatus("waiting for the server…");
  }
  if (scan.status === "queued" || scan.status === "running") {
    setStatus(scan.status === "queued" ? "queued…" : "scanning: finding faces and scoring them…");
    pollTimer = setTimeout(() => poll(id), 1000);
    return;
  }
  $("progress-row").hidden = true;
  refreshRecent();
  if (scan.status === "failed") return showFailure(scan.error, "");
  render(scan);
}

function showFailure(message, extra) {
  $("progress-row").hidden = true;
  $("result").hidden = false;
  const banner = $("banner");
  banner.className = "banner failed";
  banner.textContent = `Could not scan this file: ${message}${extra}`;
  for (const id of ["reason", "meta", "provenance"]) $(id).textContent = "";
  $("warnings").replaceChildren();
  $("faces").replaceChildren();
  $("timeline").replaceChildren();
  $("details").hidden = true; // a failed scan has no timeline or faces: no empty boxes
}

function deciding(report) {
  return (report.faces || []).find((f) => f.track_id === report.deciding_face) || null;
}

function headline(report) {
  const credentials = report.provenance || {};
  if (report.verdict === "FAKE" && credentials.decided) {
    return ["fake", "Declared AI-generated — by its content credentials"];
  }
  if (report.verdict === "NO_FACE") {
    return ["no-face", (report.faces || []).length ? "No face clear enough to judge" : "No face found"];
  }
  const worst = deciding(report);
  if (report.verdict === "FAKE") {
    const where = report.media.is_image ? "" : worst.span
      ? `, ${clock(worst.span[0])}–${clock(worst.span[1])}` : "";
    return ["fake", `Likely deepfake — ${pct(report.probability)} (face ${worst.track_id}${where})`];
  }
  return ["real", `No manipulation found — P(fake) ${pct(report.probability)} (face ${worst.track_id} decided)`];
}

function render(scan) {
  const report = scan.report;
  $("result").hidden = false;
  $("details").hidden = false;
  const [kind, text] = headline(report);
  $("banner").className = `banner ${kind}`;
  $("banner").textContent = text;
  $("reason").textContent = report.reason;
  renderProvenance(report.provenance);
  $("warnings").replaceChildren(...(report.warnings || []).map((w) => el("li", { textContent: w })));
  $("meta").textContent = `${scan.filename} · model ${report.model} · threshold ${report.threshold.toFixed(2)} · ` +
    `${report.media.width}×${report.media.height}` + (report.media.is_image ? "" : ` · ${report.media.duration.toFixed(1)} s`) +
    ` · scanned in ${(report.timings.total || 0).toFixed(1)} s`;
  renderTimeline(report);
  renderFaces(report);
}

// The content-credentials (C2PA) line: what they say and whether they hold. Reports from before issue 17 have none.
function renderProvenance(p) {
  const line = $("provenance");
  line.className = `provenance small state-${p ? p.state : "unchecked"}`;
  line.textContent = p ? p.summary + (p.decided ? " — this decided the verdict" : "") : "content credentials not checked";
  line.title = p && p.failures && p.failures.length ? `codes: ${p.failures.join(", ")}` : "";
}

function renderTimeline(report) {
  const box = $("timeline");
  box.replaceChildren();
  const faces = report.faces || [];
  if (!faces.length || typeof Plotly === "undefined") {
    box.append(el("p", { className: "muted", textContent: faces.length ? "chart library not loaded" : "no face to chart" }));
    return;
  }
  const traces = faces.map((f) => ({
    x: f.frames.map((fr) => fr.time), y: f.frames.map((fr) => fr.probability),
    type: "scatter", mode: "lines+markers", name: `face ${f.track_id}${f.judged === false ? " (not judged)" : ""}`,
    opacity: f.judged === false ? 0.35 : 1,
    hovertemplate: `face ${f.track_id}<br>%{x:.2f} s: P(fake) %{y:.2f}<extra></extra>`,
  }));
  const end = Math.max(report.media.duration || 0, ...faces.flatMap((f) => f.frames.map((fr) => fr.time)), 0.1);
  Plotly.newPlot(box, traces, {
    margin: { l: 50, r: 20, t: 10, b: 40 }, showlegend: faces.length > 1,
    xaxis: { title: { text: "time (s)" }, range: [0, end] },
    yaxis: { title: { text: "P(fake)" }, range: [0, 1] },
    shapes: [{ type: "line", x0: 0, x1: end, y0: report.threshold, y1: report.threshold,
               line: { dash: "dash", color: "#b3261e", width: 1 } }],
  }, { displayModeBar: false, responsive: true });
}

function picture(b64, cls, caption) {
  return el("figure", {}, [el("img", { className: cls, src: `data:image/jpeg;base64,${b64}`, alt: caption }),
                           el("figcaption", { textContent: caption })]);
}

function renderFaces(report) {
  const faces = report.faces || [];
  $("faces").replaceChildren(...faces.map((f) => {
    const seen = `${clock(f.frames[0].time)}–${clock(f.frames[f.frames.length - 1].time)}`;
    const decided = f.track_id === report.deciding_face;
    const cls = f.judged === false ? " not-judged" : decided && report.verdict === "FAKE" ? " suspect" : "";
    const card = el("div", { className: `face${cls}` }, [
      el("h3", { textContent: `face ${f.track_id} — P(fake) ${pct(f.probability)} · ${f.frames.length} frames` +
                              (report.media.is_image ? "" : ` · seen ${seen}`) + (decided ? " · decided the verdict" : "") }),
    ]);
    const q = f.quality;
    const status = f.judged === false ? `not judged: ${f.not_judged_reason}` : "judged";
    card.append(el("p", { className: "small quality", textContent: q
      ? `${status} — ${Math.round(q.size)} px, sharpness ${q.sharpness.toFixed(2)}, yaw ${Math.round(q.yaw)}°, ` +
        `detector ${q.detector_score.toFixed(2)}` : status }));
    const notes = [];
    if (f.components && Object.keys(f.components).length) {
      notes.push("models: " + Object.entries(f.components).map(([k, v]) => `${k} ${pct(v)}`).join(" · "));
    }
    if (f.dynamics) notes.push(`landmark motion ${pct(f.dynamics.probability)} (${f.dynamics.signal}; not in the verdict)`);
    if (notes.length) card.append(el("p", { className: "small muted", textContent: notes.join(" — ") }));
    const x = f.explanation;
    if (x) {
      card.append(el("div", { className: "pics" }, [
        picture(x.face_jpeg, "thumb", `face at ${x.time.toFixed(1)} s`),
        picture(x.heatmap_jpeg, "heat", `heatmap (${x.method})`),
        picture(x.frame_jpeg, "frame", `most suspicious frame: ${pct(x.probability)}`),
      ]));
    }
    return card;
  }));
}

async function refreshRecent() {
  try {
    const res = await apiFetch("/api/v1/scans?limit=10");
    if (!res.ok) return;
    const page = await res.json();
    $("recent").tBodies[0].replaceChildren(...page.items.map((s) => {
      const row = el("tr", {}, [
        el("td", { textContent: s.filename }),
        el("td", { textContent: s.status }),
        el("td", { className: `verdict-${s.verdict || ""}`, textContent: s.verdict || (s.error ? "error" : "") }),
        el("td", { textContent: s.probability == null ? "" : pct(s.probability) }),
        el("td", { textContent: new Date(s.created).toLocaleString() }),
      ]);
      row.addEventListener("click", () => { location.hash = s.id; });
      return row;
    }));
  } catch (_) { /* the list is a convenience; the scan itself already reported */ }
}

function wire() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => { if (e.target.files.length) upload(e.target.files[0]); });
  for (const ev of ["dragenter", "dragover"]) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  drop.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]); });
  refreshRecent();
  // The address is the scan shown: opening /#<id>, editing the hash and back/forward all switch to that scan.
  window.addEventListener("hashchange", showHashScan);
  showHashScan();
}

function showHashScan() {
  const id = location.hash.slice(1);
  if (id && id !== shown) poll(id);
}

document.addEventListener("DOMContentLoaded", wire);
