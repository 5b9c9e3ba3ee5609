// The firmware's C engine compiled to WebAssembly (firmware/boards/wasm/kws_wasm.c): push int16 samples at the
// model's rate, get the detections and every hop's logits and smoothed sums, the same integers as the host
// and the Cortex-M4 builds. Detections print as `tinykws detect --jsonl` prints them (jsonLine).
//
//   const engine = await loadEngine("kws.wasm");
//   const { detections, hops } = engine.process(int16Samples);   // any chunking gives the same results
//   detections.map((d) => jsonLine(engine.record(d)));

// kws_wasm_info keys, in the order of the enum in kws_wasm.c.
const INFO_KEYS = [
  "sampleRate", "hopSamples", "windowSamples", "numClasses", "smoothingHops", "threshold", "refractoryHops",
  "inputFrames", "weightBytes", "macsPerHop", "stateBytes", "inputCapacity",
];
const HOP_HAS_LOGITS = 1;
const HOP_HAS_SUMS = 2;
const DETECTION_WORDS = 3; // kws_detection_t: uint32 hop, int32 keyword, int32 score_sum

/** Compile and instantiate the engine: `source` is a URL, bytes (ArrayBuffer / typed array) or a Module. */
export async function loadEngine(source) {
  let module = source;
  if (typeof source === "string" || source instanceof URL) {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`${source}: HTTP ${response.status}`);
    module = await WebAssembly.compile(await response.arrayBuffer());
  } else if (!(source instanceof WebAssembly.Module)) {
    module = await WebAssembly.compile(source);
  }
  return new KwsEngine(await WebAssembly.instantiate(module, {}));
}

export class KwsEngine {
  constructor(instance) {
    this.x = instance.exports;
    this.info = Object.fromEntries(INFO_KEYS.map((k, i) => [k, this.x.kws_wasm_info(i)]));
    const classes = [...Array(this.info.numClasses).keys()];
    this.labels = classes.map((k) => this.string(this.x.kws_wasm_label(k)));
    this.keywords = classes.filter((k) => this.x.kws_wasm_is_keyword(k) === 1);
    this.modelId = this.string(this.x.kws_wasm_model_id());
    this.featureHash = this.string(this.x.kws_wasm_feature_hash());
    this.reset();
  }

  /** Forget all audio (kws_engine_init). */
  reset() {
    const rc = this.x.kws_wasm_init();
    if (rc !== 0) throw new Error(`kws_engine_init failed (${rc}): the model does not fit this engine`);
    this.samples = 0;
  }

  string(ptr) {
    const bytes = new Uint8Array(this.x.memory.buffer, ptr);
    return new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0)));
  }

  /**
   * Push int16 samples (Int16Array, any length) through kws_process. Returns the detections they completed,
   * {hop, keyword, scoreSum}, and with `record` (default) every hop's {hop, logits, sums, keyword}: logits an
   * Int8Array or null before the network's window is full, sums an Int32Array or null before the detector's.
   */
  process(samples, record = true) {
    const x = this.x;
    const { inputCapacity, numClasses } = this.info;
    const detections = [];
    const hops = [];
    for (let start = 0; start < samples.length; start += inputCapacity) {
      const part = samples.subarray(start, start + inputCapacity);
      new Int16Array(x.memory.buffer, x.kws_wasm_input(), part.length).set(part);
      const n = x.kws_wasm_process(part.length);
      if (n < 0) throw new Error(`kws_process failed (${n})`);
      const d = new Int32Array(x.memory.buffer, x.kws_wasm_detections(), n * DETECTION_WORDS);
      for (let i = 0; i < n; i++) {
        const w = i * DETECTION_WORDS;
        detections.push({ hop: d[w] >>> 0, keyword: d[w + 1], scoreSum: d[w + 2] });
      }
      if (record) {
        const count = x.kws_wasm_hop_count();
        const index = new Uint32Array(x.memory.buffer, x.kws_wasm_hop_index(), count);
        const flags = new Int32Array(x.memory.buffer, x.kws_wasm_hop_flags(), count);
        const logits = new Int8Array(x.memory.buffer, x.kws_wasm_hop_logits(), count * numClasses);
        const sums = new Int32Array(x.memory.buffer, x.kws_wasm_hop_sums(), count * numClasses);
        for (let i = 0; i < count; i++) {
          const row = [i * numClasses, (i + 1) * numClasses];
          hops.push({
            hop: index[i],
            logits: flags[i] & HOP_HAS_LOGITS ? logits.slice(...row) : null,
            sums: flags[i] & HOP_HAS_SUMS ? sums.slice(...row) : null,
          });
        }
      }
    }
    this.samples += samples.length;
    return { detections, hops };
  }

  /** Seconds at which hop `hop` is complete: the end of its analysis window (train/engine.py hop_end_seconds). */
  hopEndSeconds(hop) {
    return (hop * this.info.hopSamples + this.info.windowSamples) / this.info.sampleRate;
  }

  /** The smoothed score the detector compares with its threshold: the largest keyword sum / smoothing hops. */
  topScore(sums) {
    let best = -Infinity;
    let keyword = -1;
    for (const k of this.keywords) {
      if (sums[k] > best) [best, keyword] = [sums[k], k];
    }
    return { keyword, score: best / this.info.smoothingHops };
  }

  /** A detection as firmware/detect.py detection_record makes it: {t, hop, keyword, score}. */
  record(det) {
    return {
      t: round6(this.hopEndSeconds(det.hop)),
      hop: det.hop,
      keyword: this.labels[det.keyword],
      score: round6(det.scoreSum / this.info.smoothingHops),
    };
  }
}

/** Python's round(x, 6) for the values detections hold (no exact ties at the 7th decimal). */
function round6(x) {
  return Number(x.toFixed(6));
}

/** A number as Python's repr(float) writes it: 42.0, 2.87, 1e-05. */
export function pyFloat(x) {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity";
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-4 || a >= 1e16)) {
    const [m, e] = x.toExponential().split("e");
    const exp = Number(e);
    return `${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

/** A string as Python's json.dumps writes it (ensure_ascii: every non-ASCII UTF-16 unit as \uXXXX). */
function pyString(s) {
  return JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** One JSON line exactly as Python's json.dumps writes a detection record (`tinykws detect --jsonl`). */
export function jsonLine(rec) {
  return `{"t": ${pyFloat(rec.t)}, "hop": ${rec.hop}, "keyword": ${pyString(rec.keyword)}, "score": ${pyFloat(rec.score)}}`;
}
