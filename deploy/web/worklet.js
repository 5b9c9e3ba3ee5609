// AudioWorklet processor: the microphone's float frames at the context's rate -> mono -> the model's rate ->
// int16, posted to the page in blocks of `blockSamples` (the page pushes each one into kws_process).
import { Resampler, toInt16 } from "./resample.js";

class KwsCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { inputRate, outputRate, blockSamples } = options.processorOptions;
    this.resampler = new Resampler(inputRate, outputRate);
    this.blockSamples = blockSamples;
    this.block = new Int16Array(blockSamples);
    this.filled = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length > 0) {
      const n = channels[0].length;
      const mono = new Float64Array(n);
      for (const ch of channels) for (let i = 0; i < n; i++) mono[i] += ch[i] / channels.length;
      const samples = toInt16(this.resampler.push(mono));
      for (let i = 0; i < samples.length; i++) {
        this.block[this.filled++] = samples[i];
        if (this.filled === this.block.length) {
          this.port.postMessage(this.block, [this.block.buffer]);
          this.block = new Int16Array(this.blockSamples); // the old one went to the page (transferred)
          this.filled = 0;
        }
      }
    }
    return true; // keep listening while the source is silent or not yet started
  }
}

registerProcessor("kws-capture", KwsCapture);
