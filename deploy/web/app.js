// The page: the engine (kws.js) fed by the microphone (worklet.js), by a dropped audio file, or by ?wav=NAME
// (a WAV served beside the page). Every detection goes into #detections as the JSON line `tinykws detect
// --jsonl` prints, so `chromium --headless --dump-dom` (or a test) can read them; body[data-state] says what
// the page is doing: loading, ready, starting, listening, running, done or error.
import { jsonLine, loadEngine } from "./kws.js";
import { Resampler, levelDbfs, toInt16 } from "./resample.js";

const PLOT_SECONDS = 10;
const BLOCK_SECONDS = 0.05; // microphone blocks and file pieces pushed into kws_process
const METER_FLOOR_DB = -60;
const SCORE_RANGE = [-256, 256]; // a smoothed score is a difference of int8 logits

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let engine = null;
let card = {};
let run = null; // the current source: {name, points: [[t, score]], hits: [[t, keyword]], lines: [...]}
let mic = null; // {ctx, stream, node}

function setState(state, text) {
  document.body.dataset.state = state;
  $("status").textContent = text;
}

// --- the engine and what it found ------------------------------------------------------------------------------

function newRun(name) {
  engine.reset();
  run = { name, points: [], hits: [], lines: [], seconds: 0 };
  $("detection-list").replaceChildren();
  $("detections").textContent = "";
  draw();
}

/** Push int16 samples at the model's rate into kws_process; keep the scores and the detections. */
function push(samples) {
  const { detections, hops } = engine.process(samples);
  for (const h of hops) {
    if (h.sums) run.points.push([engine.hopEndSeconds(h.hop), engine.topScore(h.sums).score]);
  }
  const keepFrom = run.points.length - Math.ceil((2 * PLOT_SECONDS * engine.info.sampleRate) / engine.info.hopSamples);
  if (keepFrom > 0) run.points.splice(0, keepFrom);
  for (const d of detections) {
    const rec = engine.record(d);
    run.lines.push(jsonLine(rec));
    run.hits.push([rec.t, rec.keyword]);
    const li = document.createElement("li");
    li.innerHTML = `<span class="t"></span> s &nbsp;<span class="kw"></span> &nbsp;score <span class="s"></span>`;
    li.querySelector(".t").textContent = rec.t.toFixed(2);
    li.querySelector(".kw").textContent = rec.keyword;
    li.querySelector(".s").textContent = rec.score.toFixed(1);
    $("detection-list").append(li);
    li.scrollIntoView({ block: "nearest" });
  }
  if (detections.length) $("detections").textContent = run.lines.join("\n") + "\n";
  run.seconds += samples.length / engine.info.sampleRate;
}

function showLevel(samples) {
  const db = levelDbfs(samples, METER_FLOOR_DB);
  $("level-bar").style.width = `${(100 * (db - METER_FLOOR_DB)) / -METER_FLOOR_DB}%`;
  $("level").textContent = `${db.toFixed(0)} dBFS`;
}

// --- the plot: smoothed score of the best keyword against the threshold, the last PLOT_SECONDS ---------------

function draw() {
  const canvas = $("plot");
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const h = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  if (!engine) return;
  const pad = { l: 44, r: 10, t: 10, b: 22 };
  const points = run ? run.points : [];
  const end = Math.max(PLOT_SECONDS, points.length ? points[points.length - 1][0] : 0);
  const x = (t) => pad.l + ((t - (end - PLOT_SECONDS)) / PLOT_SECONDS) * (w - pad.l - pad.r);
  const y = (s) => {
    const c = Math.max(SCORE_RANGE[0], Math.min(SCORE_RANGE[1], s));
    return pad.t + ((SCORE_RANGE[1] - c) / (SCORE_RANGE[1] - SCORE_RANGE[0])) * (h - pad.t - pad.b);
  };
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#667085";
  g.strokeStyle = "#eef0f3";
  for (let t = Math.ceil(end - PLOT_SECONDS); t <= end; t++) {
    g.beginPath();
    g.moveTo(x(t), pad.t);
    g.lineTo(x(t), h - pad.b);
    g.stroke();
    g.fillText(`${t} s`, x(t) - 8, h - 6);
  }
  for (const s of [SCORE_RANGE[0], 0, SCORE_RANGE[1]]) g.fillText(String(s), 4, y(s) + 4);
  g.strokeStyle = "#c7cdd8";
  g.beginPath();
  g.moveTo(pad.l, y(0));
  g.lineTo(w - pad.r, y(0));
  g.stroke();
  const threshold = engine.info.threshold;
  g.strokeStyle = "#dc2626";
  g.setLineDash([6, 4]);
  g.beginPath();
  g.moveTo(pad.l, y(threshold));
  g.lineTo(w - pad.r, y(threshold));
  g.stroke();
  g.setLineDash([]);
  g.fillStyle = "#dc2626";
  g.fillText(`threshold ${threshold}`, w - pad.r - 80, y(threshold) - 4);
  for (const [t, keyword] of run ? run.hits : []) {
    if (t < end - PLOT_SECONDS) continue;
    g.fillRect(x(t) - 1, pad.t, 2, h - pad.t - pad.b);
    g.fillText(keyword, x(t) + 4, pad.t + 12);
  }
  g.strokeStyle = "#2563eb";
  g.lineWidth = 1.5;
  g.beginPath();
  let started = false;
  for (const [t, s] of points) {
    if (t < end - PLOT_SECONDS) continue;
    if (started) g.lineTo(x(t), y(s));
    else g.moveTo(x(t), y(s));
    started = true;
  }
  g.stroke();
  g.lineWidth = 1;
}

function drawWhileListening() {
  draw();
  if (mic) requestAnimationFrame(drawWhileListening);
}

// --- the microphone ---------------------------------------------------------------------------------------------

function micError(e) {
  if (e.name === "NotAllowedError" || e.name === "SecurityError") {
    return "Microphone access was refused: allow it for this page (the icon in the address bar) and press " +
      "Listen again, or drop a WAV file.";
  }
  if (e.name === "NotFoundError" || e.name === "OverconstrainedError") {
    return "No microphone found: plug one in and press Listen again, or drop a WAV file.";
  }
  if (e.name === "NotReadableError") return "The microphone could not be started: another program may hold it.";
  return `Cannot open the microphone: ${e.name}: ${e.message}`;
}

async function startMic() {
  if (mic) return;
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setState("error", "This page has no microphone access: open it from http://127.0.0.1 (tinykws web) or https.");
    return;
  }
  $("listen").disabled = true;
  setState("starting", "asking for the microphone…");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
  } catch (e) {
    $("listen").disabled = false;
    setState("error", micError(e));
    return;
  }
  const ctx = new AudioContext(); // the device's rate: the worklet resamples (Firefox refuses mixed rates)
  try {
    await ctx.audioWorklet.addModule("worklet.js");
  } catch (e) {
    stream.getTracks().forEach((t) => t.stop());
    $("listen").disabled = false;
    setState("error", `This browser cannot run the audio worklet: ${e.message}`);
    return;
  }
  const node = new AudioWorkletNode(ctx, "kws-capture", {
    processorOptions: {
      inputRate: ctx.sampleRate,
      outputRate: engine.info.sampleRate,
      blockSamples: Math.round(engine.info.sampleRate * BLOCK_SECONDS),
    },
  });
  // Pulled through a silent gain to the output: the page plays nothing.
  ctx.createMediaStreamSource(stream).connect(node).connect(new GainNode(ctx, { gain: 0 })).connect(ctx.destination);
  newRun("microphone");
  node.port.onmessage = (ev) => {
    push(ev.data);
    showLevel(ev.data);
  };
  const track = stream.getAudioTracks()[0];
  track.onended = () => {
    stopMic();
    setState("error", "The microphone stopped (unplugged?): press Listen to start again.");
  };
  mic = { ctx, stream, node };
  await ctx.resume();
  $("stop").disabled = false;
  setState("listening", `listening to ${track.label || "the microphone"} (${ctx.sampleRate} Hz, resampled to ` +
    `${engine.info.sampleRate} Hz)`);
  drawWhileListening();
}

function stopMic() {
  if (!mic) return;
  mic.node.port.onmessage = null;
  mic.stream.getTracks().forEach((t) => t.stop());
  mic.ctx.close();
  mic = null;
  $("listen").disabled = false;
  $("stop").disabled = true;
  setState("ready", `stopped after ${run.seconds.toFixed(1)} s: ${run.lines.length} detections`);
  draw();
}

// --- files: a dropped file or ?wav=NAME, at full speed -----------------------------------------------------------

/** A RIFF WAVE file's samples: {rate, channels: [Float32Array...], int16: Int16Array | null (16-bit mono)}. */
function parseWav(bytes) {
  const v = new DataView(bytes);
  const tag = (o) => String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2), v.getUint8(o + 3));
  if (bytes.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") return null;
  let fmt = null;
  for (let o = 12; o + 8 <= bytes.byteLength; ) {
    const id = tag(o);
    const size = v.getUint32(o + 4, true);
    const body = o + 8;
    if (id === "fmt " && size >= 16) {
      let format = v.getUint16(body, true);
      if (format === 0xfffe && size >= 26) format = v.getUint16(body + 24, true); // WAVE_FORMAT_EXTENSIBLE
      fmt = { format, channels: v.getUint16(body + 2, true), rate: v.getUint32(body + 4, true),
        bits: v.getUint16(body + 14, true) };
    } else if (id === "data") {
      if (!fmt) throw new Error("the data chunk comes before the fmt chunk");
      return decodeSamples(v, body, Math.min(size, bytes.byteLength - body), fmt);
    }
    o = body + size + (size % 2);
  }
  throw new Error("no data chunk");
}

function decodeSamples(v, offset, length, { format, channels, rate, bits }) {
  const width = bits / 8;
  const readers = {
    "1/8": (o) => (v.getUint8(o) - 128) / 128,
    "1/16": (o) => v.getInt16(o, true) / 32768,
    "1/24": (o) => ((v.getUint8(o) | (v.getUint8(o + 1) << 8) | (v.getInt8(o + 2) << 16)) / 8388608),
    "1/32": (o) => v.getInt32(o, true) / 2147483648,
    "3/32": (o) => v.getFloat32(o, true),
    "3/64": (o) => v.getFloat64(o, true),
  };
  const read = readers[`${format}/${bits}`];
  if (!read || channels < 1) throw new Error(`unsupported WAV format (format ${format}, ${bits} bits, ${channels} channels)`);
  const frames = Math.floor(length / (width * channels));
  if (frames === 0) throw new Error("no audio samples");
  if (format === 1 && bits === 16 && channels === 1) {
    const int16 = new Int16Array(frames);
    for (let i = 0; i < frames; i++) int16[i] = v.getInt16(offset + 2 * i, true);
    return { rate, channels: null, int16 };
  }
  const out = Array.from({ length: channels }, () => new Float32Array(frames));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) out[c][i] = read(offset + (i * channels + c) * width);
  }
  return { rate, channels: out, int16: null };
}

/** Mono int16 at the model's rate: 16-bit mono WAVs at that rate exactly as stored, anything else converted. */
async function samplesOf(bytes) {
  const rate = engine.info.sampleRate;
  let wav = parseWav(bytes);
  if (wav && wav.int16 && wav.rate === rate) return { samples: wav.int16, note: "" };
  if (!wav) {
    // Not a WAV: whatever the browser decodes (MP3, Ogg, ...), resampled by it to the model's rate.
    const decoded = await new OfflineAudioContext(1, 1, rate).decodeAudioData(bytes.slice(0));
    wav = { rate, channels: [...Array(decoded.numberOfChannels).keys()].map((c) => decoded.getChannelData(c)) };
  }
  const chans = wav.channels || [Float32Array.from(wav.int16, (s) => s / 32768)];
  const n = chans[0].length;
  const mono = new Float64Array(n);
  for (const ch of chans) for (let i = 0; i < n; i++) mono[i] += ch[i] / chans.length;
  const r = new Resampler(wav.rate, rate);
  const want = Math.round((n * rate) / wav.rate);
  const parts = [r.push(mono), r.push(new Float64Array(r.half + 1))]; // flush the filter's look-ahead
  const all = new Float64Array(parts[0].length + parts[1].length);
  all.set(parts[0]);
  all.set(parts[1], parts[0].length);
  const note = ` (converted: ${chans.length} channel(s) at ${wav.rate} Hz -> mono ${rate} Hz)`;
  return { samples: toInt16(all.subarray(0, want)), note };
}

async function runFile(name, bytes) {
  if (mic) stopMic();
  setState("running", `running ${name}…`);
  let samples;
  let note;
  try {
    ({ samples, note } = await samplesOf(bytes));
  } catch (e) {
    setState("error", `${name}: not audio this page can read (${e.message})`);
    return;
  }
  newRun(name);
  const block = Math.round(engine.info.sampleRate * BLOCK_SECONDS);
  const start = performance.now();
  for (let i = 0; i < samples.length; i += block) push(samples.subarray(i, i + block));
  const ms = performance.now() - start;
  showLevel(samples);
  draw();
  const seconds = samples.length / engine.info.sampleRate;
  window.kwsLastRun = { name, seconds, ms, detections: run.lines.length };
  setState("done", `${name}${note}: ${seconds.toFixed(1)} s of audio in ${ms.toFixed(0)} ms ` +
    `(${Math.round((seconds * 1000) / Math.max(ms, 1e-3))}x real time), ${run.lines.length} detections`);
}

async function runUrl(name) {
  setState("running", `fetching ${name}…`);
  const response = await fetch(name).catch((e) => ({ ok: false, statusText: e.message }));
  if (!response.ok) {
    setState("error", `?wav=${name}: cannot fetch it beside the page (${response.status || response.statusText})`);
    return;
  }
  await runFile(name, await response.arrayBuffer());
}

function acceptDrops() {
  addEventListener("dragover", (e) => {
    e.preventDefault();
    document.body.classList.add("dragging");
  });
  addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  addEventListener("drop", async (e) => {
    e.preventDefault();
    document.body.classList.remove("dragging");
    const file = e.dataTransfer.files[0];
    if (file) await runFile(file.name, await file.arrayBuffer());
  });
}

// --- the model card -------------------------------------------------------------------------------------------

function showCard(wasmBytes) {
  const words = engine.keywords.map((k) => engine.labels[k]);
  $("word").textContent = words.length === 1 ? `“${words[0]}”` : `${words.length} keywords`;
  const i = engine.info;
  const rows = [
    ["keyword" + (words.length > 1 ? "s" : ""), words.join(", ")],
    ["model", `${engine.modelId}${card.source ? ` (${card.source})` : ""}`],
    ["size", `${i.weightBytes.toLocaleString("en")} B of int8 weights and int32 biases, ` +
      `${i.macsPerHop.toLocaleString("en")} MACs per ${(1000 * i.hopSamples) / i.sampleRate} ms hop`],
    ["engine", `kws.wasm ${(wasmBytes / 1024).toFixed(1)} KB, state ${i.stateBytes.toLocaleString("en")} B`],
    ["detector", `score ≥ ${i.threshold} over ${i.smoothingHops} hops, then ${i.refractoryHops} hops quiet`],
    ...(card.figures || []),
  ];
  $("card").replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    return [dt, dd];
  }));
}

async function main() {
  try {
    const [cardResponse, wasmResponse] = await Promise.all([fetch("model.json"), fetch("kws.wasm")]);
    if (!wasmResponse.ok) throw new Error(`kws.wasm: HTTP ${wasmResponse.status}`);
    card = cardResponse.ok ? await cardResponse.json() : {};
    const wasm = await wasmResponse.arrayBuffer();
    engine = await loadEngine(wasm);
    showCard(wasm.byteLength);
  } catch (e) {
    setState("error", `The engine did not load: ${e.message}`);
    return;
  }
  window.kws = { engine, card };
  $("listen").onclick = startMic;
  $("stop").onclick = stopMic;
  $("listen").disabled = false;
  acceptDrops();
  setState("ready", "press Listen and say the word, or drop a WAV file");
  draw();
  if (params.has("wav")) await runUrl(params.get("wav"));
  else if (params.has("listen")) await startMic();
}

main();
