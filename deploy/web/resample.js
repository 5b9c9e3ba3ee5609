// Audio on its way to the engine: any rate -> the model's rate, float -> int16, in a stream of blocks of any
// size (the AudioWorklet's 128-frame render quanta, or a whole decoded file). Used by worklet.js for the
// microphone and by app.js for WAV files that are not already at the model's rate.

// The front end's mel filters reach 7.6 kHz (FeatureConfig.mel_high_hz), so the low-pass must pass that flat:
// cutoff at the output's Nyquist frequency (8 kHz), with enough taps that the transition (7.6-8.4 kHz) is over
// before 8.4 kHz, whose alias lands at 7.6 kHz. 56 zero crossings a side: flat within 0.01 dB to 7.6 kHz,
// >= 75 dB down from 8.4 kHz (16 crossings and a 7.2 kHz cutoff took 3.6 dB off 7 kHz and 14 dB off 7.6 kHz).
// tinykws/config.py LiveConfig holds the same two numbers for firmware/resample.py (`listen`); a test runs both.
const HALF_TAPS = 56; // zero crossings of the low-pass on either side of an output sample
const PASSBAND = 1.0; // cutoff as a share of the lower of the two Nyquist frequencies

function gcd(a, b) {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Streaming windowed-sinc resampler for integer rates: output sample m sits at input position m * in / out,
 * a rational number, so each of the out / gcd phases has one fixed table of taps (computed when first used).
 * Equal rates pass samples through untouched.
 */
export class Resampler {
  constructor(inRate, outRate) {
    const g = gcd(inRate, outRate);
    this.step = inRate / g; // input samples per `phases` outputs
    this.phases = outRate / g;
    this.same = inRate === outRate;
    const ratio = inRate / outRate;
    this.cutoff = (PASSBAND * 0.5) / Math.max(1, ratio); // cycles per input sample
    this.half = Math.ceil(HALF_TAPS * Math.max(1, ratio)); // taps each side, in input samples
    this.tables = [];
    // Input not yet used up, buf[0] being input sample `base`: `half` zeros of history to start with.
    this.base = -this.half;
    this.buf = new Float64Array(4 * this.half + 256);
    this.len = this.half;
    this.ipos = 0; // next output's position: ipos + phase / phases
    this.phase = 0;
  }

  taps(phase) {
    let t = this.tables[phase];
    if (t) return t;
    const n = 2 * this.half;
    t = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const d = this.half - 1 - j + phase / this.phases; // distance from the output position, input samples
      const x = 2 * this.cutoff * d;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const w = 0.42 + 0.5 * Math.cos((Math.PI * d) / this.half) + 0.08 * Math.cos((2 * Math.PI * d) / this.half);
      t[j] = 2 * this.cutoff * sinc * w; // Blackman-windowed sinc, unit gain at DC
    }
    this.tables[phase] = t;
    return t;
  }

  /** Resample the next block (Float32Array / Float64Array, full scale +-1); returns the outputs it completes. */
  push(input) {
    if (this.same) return Float64Array.from(input);
    if (this.len + input.length > this.buf.length) {
      const grown = new Float64Array(2 * (this.len + input.length));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(input, this.len);
    this.len += input.length;
    const { buf, len, half, base, step, phases } = this;
    const out = new Float64Array(Math.ceil((input.length * phases) / step) + 2);
    let n = 0;
    let { ipos, phase } = this;
    // Output at ipos + phase / phases needs inputs ipos - half + 1 .. ipos + half.
    while (ipos + half - base < len) {
      const t = this.taps(phase);
      const first = ipos - half + 1 - base;
      let acc = 0;
      for (let j = 0; j < t.length; j++) acc += t[j] * buf[first + j];
      out[n++] = acc;
      phase += step;
      ipos += Math.floor(phase / phases);
      phase %= phases;
    }
    this.ipos = ipos;
    this.phase = phase;
    const used = this.ipos - this.half + 1 - this.base; // inputs before the first one the next output needs
    if (used > 0) {
      buf.copyWithin(0, used, this.len);
      this.len -= used;
      this.base += used;
    }
    return out.subarray(0, n);
  }
}

/**
 * Float samples (Web Audio's full scale +-1, i.e. int16 / 32768) as int16 PCM: x * 32768 rounded half to
 * even and clipped, as data/wav.py to_int16 does, so 16-bit audio at the model's rate comes back unchanged.
 */
export function toInt16(samples) {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i] * 32768;
    let r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) r -= 1; // Math.round takes halves up: make them even
    out[i] = Math.max(-32768, Math.min(32767, r));
  }
  return out;
}

/** Level of int16 samples in dBFS, floored (firmware/listen.py level_dbfs). */
export function levelDbfs(samples, floorDb = -60) {
  if (samples.length === 0) return floorDb;
  let sq = 0;
  for (let i = 0; i < samples.length; i++) sq += samples[i] * samples[i];
  const rms = Math.sqrt(sq / samples.length);
  return Math.max(floorDb, 20 * Math.log10(Math.max(rms, 1e-9) / 32768));
}
