// Microphone → 16 kHz s16le mono, in 512-sample (32 ms) frames: the size silero takes.
// Runs on the audio thread; averages the input samples that fall into each output sample
// (a box filter: cheap anti-aliasing before decimation) from whatever rate the context has.
const TARGET_RATE = 16000;
const FRAME = 512;

class Downsampler extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE;
    this.phase = 0;
    this.sum = 0;
    this.count = 0;
    this.frame = new Int16Array(FRAME);
    this.filled = 0;
    this.energy = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const channels = input.length;
    const length = input[0].length;
    for (let i = 0; i < length; i++) {
      let sample = 0;
      for (let c = 0; c < channels; c++) sample += input[c][i];
      this.sum += sample / channels;
      this.count += 1;
      this.phase += 1;
      if (this.phase >= this.step) {
        this.phase -= this.step;
        this.push(this.sum / this.count);
        this.sum = 0;
        this.count = 0;
      }
    }
    return true;
  }

  push(value) {
    const clipped = Math.max(-1, Math.min(1, value));
    this.frame[this.filled++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
    this.energy += clipped * clipped;
    if (this.filled === FRAME) {
      const rms = Math.sqrt(this.energy / FRAME);
      this.port.postMessage({ pcm: this.frame.buffer, rms }, [this.frame.buffer]);
      this.frame = new Int16Array(FRAME);
      this.filled = 0;
      this.energy = 0;
    }
  }
}

registerProcessor("downsampler", Downsampler);
