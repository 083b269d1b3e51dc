// The browser satellite: microphone → worklet (16 kHz s16le) → WebSocket; answer audio back,
// scheduled gap-free with Web Audio as it arrives. The server decides where speech ends.
// Counters for tests and curious users live on <body> as data attributes.
export class Talker {
  constructor(wsUrl, ui) {
    this.wsUrl = wsUrl;
    this.ui = ui;
    this.ctx = null;
    this.ws = null;
    this.sending = false;
    this.handsFree = false;
    this.audio = null; // {rate, next, sources, stopped}
    this.endOfSpeechAt = null;
  }

  async ensureAudio() {
    if (!this.ctx) {
      this.ctx = new AudioContext();
      await this.ctx.audioWorklet.addModule(new URL("worklet.js", import.meta.url));
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      const source = this.ctx.createMediaStreamSource(stream);
      const node = new AudioWorkletNode(this.ctx, "downsampler");
      const mute = this.ctx.createGain();
      mute.gain.value = 0;
      source.connect(node).connect(mute).connect(this.ctx.destination);
      node.port.onmessage = (event) => this.onFrame(event.data);
    }
    if (this.ctx.state !== "running") await this.ctx.resume();
  }

  async ensureSocket() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return;
    const ws = new WebSocket(this.wsUrl("api/satellite"));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("could not connect"));
    });
    ws.onmessage = (event) => this.onMessage(event.data);
    ws.onclose = () => {
      this.sending = false;
      this.handsFree = false;
      this.ui.state("disconnected", "bad");
      this.ui.active(false);
    };
    this.send({ type: "hello", name: "browser", area: this.ui.area() || null });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  async start(mode) {
    await this.ensureAudio();
    await this.ensureSocket();
    this.stopPlayback();
    this.handsFree = mode === "hands-free";
    this.mode = mode;
    this.send({ type: "start", mode });
    this.sending = true;
    this.ui.active(true);
  }

  release() {
    if (this.mode === "push-to-talk" && this.sending) {
      this.sending = false;
      this.send({ type: "stop" });
    }
  }

  cancel() {
    this.handsFree = false;
    this.sending = false;
    this.send({ type: "cancel" });
    this.stopPlayback();
    this.ui.active(false);
    this.ui.state("idle");
  }

  onFrame({ pcm, rms }) {
    this.ui.level(rms);
    if (this.sending && this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(pcm);
  }

  onMessage(data) {
    if (data instanceof ArrayBuffer) {
      this.onAudio(data);
      return;
    }
    const message = JSON.parse(data);
    switch (message.type) {
      case "listening": this.ui.state("listening", "warn"); break;
      case "speech-started": this.ui.state("hearing you", "warn"); break;
      case "end-of-speech":
        this.sending = false; // half duplex: the mic stays quiet while the answer plays
        this.endOfSpeechAt = performance.now();
        this.ui.state("thinking");
        break;
      case "no-speech":
        this.sending = false;
        this.ui.state("heard nothing");
        if (this.handsFree) this.start("hands-free");
        else this.ui.active(false);
        break;
      case "transcript": this.ui.transcript(message.text); break;
      case "answer": this.ui.answer(message.text, message.handled); break;
      case "audio-start":
        this.audio = { rate: message.rate, next: 0, sources: new Set(), stopped: false, played: false };
        break;
      case "audio-stop":
        if (this.audio) {
          this.audio.stopped = true;
          this.maybePlayed();
        }
        break;
      case "turn": this.ui.turnDone(message.turn); break;
      case "error": this.ui.state(message.message, "bad"); break;
      default: break;
    }
  }

  onAudio(buffer) {
    const body = document.body.dataset;
    if (this.endOfSpeechAt !== null) {
      body.eosToFirstAudioMs = String(Math.round(performance.now() - this.endOfSpeechAt));
      this.ui.latency(Number(body.eosToFirstAudioMs));
      this.endOfSpeechAt = null;
    }
    body.audioBytes = String(Number(body.audioBytes) + buffer.byteLength);
    body.audioChunks = String(Number(body.audioChunks) + 1);
    if (!this.audio || !this.ctx) return;
    const samples = new Int16Array(buffer);
    const floats = new Float32Array(samples.length);
    for (let i = 0; i < samples.length; i++) floats[i] = samples[i] / 32768;
    const clip = this.ctx.createBuffer(1, floats.length, this.audio.rate);
    clip.copyToChannel(floats, 0);
    const source = this.ctx.createBufferSource();
    source.buffer = clip;
    source.connect(this.ctx.destination);
    const at = Math.max(this.ctx.currentTime + 0.02, this.audio.next);
    source.start(at);
    this.audio.next = at + clip.duration;
    const audio = this.audio;
    audio.sources.add(source);
    this.ui.state("speaking", "ok");
    source.onended = () => {
      audio.sources.delete(source);
      body.playedMs = String(Math.round(Number(body.playedMs || 0) + clip.duration * 1000));
      this.maybePlayed();
    };
  }

  maybePlayed() {
    const audio = this.audio;
    if (!audio || !audio.stopped || audio.sources.size > 0 || audio.played) return;
    audio.played = true;
    this.send({ type: "played" });
    document.body.dataset.played = String(Number(document.body.dataset.played) + 1);
    if (this.handsFree) {
      this.start("hands-free");
    } else {
      this.ui.state("idle");
      this.ui.active(false);
    }
  }

  stopPlayback() {
    if (!this.audio) return;
    this.audio.played = true; // cut off: not "played"
    for (const source of this.audio.sources) source.stop();
    this.audio = null;
  }
}
