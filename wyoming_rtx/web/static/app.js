// The status page: live status over a WebSocket, the waterfall of recent turns, and the
// talk panel. Every URL is relative to the page, so it works at / and under HA ingress.
import { Talker } from "./talk.js";
import { waterfall } from "./waterfall.js";

const $ = (id) => document.getElementById(id);

// Opened with ?token=...: the server answered with a cookie that carries it from now on, so
// take it out of the address bar (history, bookmarks, screenshots). The WebSockets still name
// it, in case this browser keeps no cookies.
const token = new URLSearchParams(location.search).get("token");
if (token) {
  const clean = new URL(location.href);
  clean.searchParams.delete("token");
  history.replaceState(history.state, "", clean.pathname + clean.search + clean.hash);
}

function wsUrl(path) {
  const url = new URL(path, document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (token) url.searchParams.set("token", token);
  return url.toString();
}

function node(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined && text !== null) element.textContent = String(text);
  if (className) element.className = className;
  return element;
}

function badge(text, kind) {
  return node("span", text, `badge ${kind || ""}`);
}

function ago(epochSeconds) {
  const seconds = Math.max(0, Date.now() / 1000 - epochSeconds);
  return seconds < 60 ? `${Math.round(seconds)} s ago` : `${Math.round(seconds / 60)} min ago`;
}

function renderModels(status) {
  const facts = $("models");
  facts.replaceChildren();
  const asr = status.models.asr;
  const device = status.device;
  const gpu = device.gpus
    .map((g) => (g.memory_total_mib ? `${g.name} (${g.memory_used_mib} / ${g.memory_total_mib} MiB)` : g.name))
    .join(", ");
  const rows = [
    ["Device", device.kind === "cuda" ? `CUDA: ${gpu || "GPU"}` : "CPU"],
    ["Speech-to-text", `${asr.name} (${asr.device}, ${asr.compute_type}, beam ${asr.beam_size})`],
    ["Voice", `${status.models.tts.voice} (${status.models.tts.sample_rate} Hz)`],
    ["Uptime", `${Math.round(status.uptime_s)} s`],
  ];
  for (const [key, value] of rows) {
    facts.append(node("dt", key), node("dd", value));
  }
}

function renderServices(status) {
  const list = $("services");
  list.replaceChildren();
  for (const service of status.services) {
    const item = node("li");
    item.dataset.kind = service.kind;
    item.append(badge(service.kind.toUpperCase(), service.ready ? "ok" : "warn"), node("strong", service.name));
    item.append(node("span", service.models.join(", "), "muted"));
    list.append(item);
  }
}

function renderReach(status) {
  const list = $("reach");
  list.replaceChildren();
  const home = status.reachability.home;
  const homeItem = node("li");
  homeItem.append(
    badge(home.available ? "up" : "down", home.available ? "ok" : "bad"),
    node("strong", home.kind === "home-assistant" ? "Home Assistant" : "Home file"),
  );
  if (home.url) homeItem.append(node("span", home.url, "muted"));
  list.append(homeItem);
  const ollama = status.reachability.ollama;
  const llmItem = node("li");
  const llmName = ollama.kind === "openai" ? "LLM server" : "Ollama";
  if (!ollama.configured) {
    llmItem.append(badge("off"), node("strong", "LLM"), node("span", "no LLM configured", "muted"));
  } else {
    const state = ollama.reachable === null ? ["checking", "warn"] : ollama.reachable ? ["up", "ok"] : ["down", "bad"];
    llmItem.append(badge(...state), node("strong", llmName), node("span", `${ollama.url} · ${ollama.model}`, "muted"));
  }
  list.append(llmItem);
}

function renderSatellites(status) {
  const body = $("satellites").querySelector("tbody");
  body.replaceChildren();
  if (status.satellites.length === 0) {
    const row = node("tr");
    const cell = node("td", "none connected", "muted");
    cell.colSpan = 4;
    row.append(cell);
    body.append(row);
  }
  for (const sat of status.satellites) {
    const row = node("tr");
    row.append(node("td", sat.name), node("td", sat.area || "–"), node("td", sat.state), node("td", ago(sat.last_seen)));
    body.append(row);
  }
}

function renderAreas(status) {
  const select = $("area");
  if (select.options.length > 1 || !status.areas.length) return;
  for (const area of status.areas) select.append(new Option(area, area));
}

// How a turn arrived, and how each outcome looks: only a real answer is green.
const ENTRY_NAMES = { satellite: "satellite", browser: "browser", "home-assistant": "via Home Assistant" };
const OUTCOME_KINDS = { done: "ok", running: "warn", cancelled: "warn", "not-handled": "bad", error: "bad" };

function renderTurns(turns) {
  const box = $("turns");
  if (!turns.length) return;
  box.replaceChildren();
  for (const turn of turns) {
    const card = node("div", undefined, "turn");
    card.dataset.turnId = turn.turn_id;
    card.dataset.outcome = turn.outcome;
    card.dataset.entry = turn.entry;
    card.dataset.satellite = turn.satellite;
    card.dataset.played = String(turn.ms_after_end_of_speech.played !== undefined);
    const ms = turn.ms_after_end_of_speech;
    const head = node("div", undefined, "head");
    head.append(
      node("strong", `#${turn.turn_id}`),
      node("span", `${turn.satellite}${turn.area ? " / " + turn.area : ""}`),
      node("span", ENTRY_NAMES[turn.entry] || turn.entry || "", "muted"),
      badge(turn.outcome, OUTCOME_KINDS[turn.outcome] || "bad"),
      node("span", turn.source || "", "muted"),
      node("span", ms.first_audio !== undefined ? `first audio ${Math.round(ms.first_audio)} ms` : "", "muted"),
      node("span", new Date(turn.started_wall * 1000).toLocaleTimeString(), "muted"),
    );
    const said = node("div", undefined, "said");
    said.append(node("span", `“${turn.transcript}”`), node("span", "  →  ", "muted"), node("span", turn.answer));
    card.append(head, said, waterfall(ms));
    box.append(card);
  }
}

function render(status) {
  $("version").textContent = `v${status.version}`;
  const ready = $("ready");
  ready.textContent = status.ready ? "ready" : "loading models…";
  ready.className = `badge ${status.ready ? "ok" : "warn"}`;
  document.body.dataset.ready = String(status.ready);
  renderModels(status);
  renderServices(status);
  renderReach(status);
  renderSatellites(status);
  renderAreas(status);
  renderTurns(status.turns);
}

function connectEvents(delay = 1000) {
  const ws = new WebSocket(wsUrl("api/events"));
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "status") render(message.status);
  };
  ws.onopen = () => { delay = 1000; };
  ws.onclose = () => {
    const ready = $("ready");
    ready.textContent = "disconnected";
    ready.className = "badge bad";
    setTimeout(() => connectEvents(Math.min(delay * 2, 15000)), delay);
  };
}

const ui = {
  area: () => $("area").value,
  state: (text, kind) => {
    const el = $("talk-state");
    el.textContent = text;
    el.className = `badge ${kind || ""}`;
  },
  active: (on) => {
    $("talk").classList.toggle("active", on);
    $("talk").textContent = on ? ($("mode").value === "hands-free" ? "Stop" : "Talking…") : "Talk";
  },
  level: (rms) => { $("level").style.width = `${Math.min(100, rms * 400)}%`; },
  transcript: (text) => { $("transcript").textContent = text || "(nothing heard)"; $("transcript").className = ""; },
  answer: (text) => { $("answer").textContent = text; $("answer").className = ""; },
  latency: (ms) => { $("latency").textContent = `End of speech → first answer audio in this browser: ${ms} ms`; },
  turnDone: () => {},
};

// Browsers give a page the microphone only in a secure context: https, or http://localhost.
// Opened over plain http from another machine, getUserMedia is simply missing: say what to do
// instead of failing on the first click.
function micUnavailable() {
  if (!window.isSecureContext) return "insecure";
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioWorkletNode) {
    return "unsupported";
  }
  return null;
}

function explainNoMic(reason) {
  const help = $("talk-help");
  const port = location.port ? `:${location.port}` : "";
  const local = `http://localhost${port}/`;
  if (reason === "insecure") {
    const link = node("a", local);
    link.href = local;
    help.append(
      "Talk needs the microphone, and browsers allow it only on a secure page: https, or http://localhost. ",
      "Open this page on the server itself (",
      link,
      "), or reach it through Home Assistant (the add-on's ingress panel) or an https reverse proxy.",
    );
  } else {
    help.append(
      "Talk needs the microphone, and this browser gives the page none (no navigator.mediaDevices). ",
      "Use a current Chrome, Firefox or Safari, over https or http://localhost.",
    );
  }
  help.hidden = false;
  const talk = $("talk");
  talk.disabled = true;
  talk.title = "The microphone needs https or http://localhost";
  document.body.dataset.talk = reason;
  ui.state("no microphone here", "warn");
}

// What went wrong, in words: the browser's own error names mean nothing to most people.
function describeFailure(err) {
  switch (err && err.name) {
    case "NotAllowedError": return "microphone blocked: allow it in the browser's site settings";
    case "NotFoundError": return "no microphone found";
    case "NotReadableError": return "the microphone is busy in another program";
    default: return String((err && err.message) || err);
  }
}

const talker = new Talker(wsUrl, ui);
const talk = $("talk");
const failed = (err) => { ui.state(describeFailure(err), "bad"); ui.active(false); };
const noMic = micUnavailable();
if (noMic) explainNoMic(noMic);
else document.body.dataset.talk = "available";

talk.addEventListener("click", () => {
  if (noMic || $("mode").value !== "hands-free") return;
  if (talk.classList.contains("active")) talker.cancel();
  else talker.start("hands-free").catch(failed);
});
talk.addEventListener("pointerdown", () => {
  if (!noMic && $("mode").value === "push-to-talk") talker.start("push-to-talk").catch(failed);
});
for (const type of ["pointerup", "pointerleave"]) {
  talk.addEventListener(type, () => {
    if ($("mode").value === "push-to-talk") talker.release();
  });
}

$("area").addEventListener("change", () => {
  talker.send({ type: "hello", name: "browser", area: $("area").value || null });
});

connectEvents();
