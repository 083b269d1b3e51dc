// One turn as a waterfall: each stage a bar starting where the previous one ended,
// on a shared axis in ms after the end of speech. Plain SVG, no libraries.
const SVG = "http://www.w3.org/2000/svg";
const SPEECH_SHOWN_MS = 600; // the tail of the speech shown before end of speech

// Through Home Assistant each stage is its own request: `handle_start` and `tts_start` say when
// it reached us, so the time Home Assistant spent in between is left as a gap.
const STAGES = [
  { key: "asr", label: "transcript", from: ["end_of_speech"], to: "transcript" },
  { key: "handle", label: "answer text", from: ["handle_start", "transcript"], to: "answer_text" },
  { key: "tts", label: "first audio", from: ["tts_start", "answer_text"], to: "first_audio" },
  { key: "play", label: "speaking", from: ["first_audio"], to: "last_audio" },
];

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function waterfall(ms) {
  const width = 720;
  const left = 90;
  const row = 18;
  const rows = [];
  if (ms.audio_start !== undefined) {
    rows.push({ key: "speech", label: "speech", start: Math.max(ms.audio_start, -SPEECH_SHOWN_MS), end: 0 });
  }
  for (const stage of STAGES) {
    const start = stage.from.map((mark) => ms[mark]).find((value) => value !== undefined);
    // Speaking lasts until the satellite says it played the answer, when it has said so.
    const end = stage.key === "play" ? (ms.played ?? ms[stage.to]) : ms[stage.to];
    if (start === undefined || end === undefined) continue;
    rows.push({ key: stage.key, label: stage.label, start, end });
  }
  const lastEnd = Math.max(1, ...rows.map((r) => r.end), ms.played ?? 0);
  const first = Math.min(0, ...rows.map((r) => r.start));
  const span = lastEnd - first;
  const x = (value) => left + ((value - first) / span) * (width - left - 60);
  const height = rows.length * row + 22;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "waterfall" });
  svg.appendChild(el("line", { x1: x(0), x2: x(0), y1: 0, y2: height - 16, class: "zero" }));
  rows.forEach((r, i) => {
    const y = i * row + 2;
    svg.appendChild(el("text", { x: 0, y: y + 12 }, r.label));
    const barWidth = Math.max(2, x(r.end) - x(r.start));
    svg.appendChild(el("rect", { x: x(r.start), y, width: barWidth, height: row - 5, rx: 2, class: `bar ${r.key}` }));
    const note = r.key === "speech" ? "" : `${Math.round(r.end)}`;
    svg.appendChild(el("text", { x: x(r.start) + barWidth + 4, y: y + 12 }, note));
  });
  const axisY = height - 4;
  svg.appendChild(el("text", { x: x(0) - 4, y: axisY }, "0"));
  svg.appendChild(el("text", { x: x(lastEnd) - 30, y: axisY }, `${Math.round(lastEnd)} ms`));
  return svg;
}
