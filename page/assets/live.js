// Live mode's microphone: the browser's audio, resampled to 16 kHz mono 16-bit, posted to this app's own
// server (same origin, the loopback address the page came from) every SEND_MS. No WebRTC, so no ICE server
// of anyone's is asked for anything. One capture per recording token, however often the page redraws this
// script; it ends when the server answers 410 (Stop pressed, the recording ended) or the tab goes away.
window.__asrStartLive = (config) => {
  const captures = (window.__asrLive = window.__asrLive || {});
  if (captures[config.token]) return;
  const SEND_MS = 100; // a pause reaches the server within 0.1 s: its text is due then
  const capture = { pending: [], stopped: false, sending: false };
  captures[config.token] = capture;

  const say = (text) => {
    const box = document.getElementById(config.statusId);
    if (box) box.textContent = text;
  };

  const stop = () => {
    if (capture.stopped) return;
    capture.stopped = true;
    clearInterval(capture.timer);
    capture.stream?.getTracks().forEach((track) => track.stop());
    capture.context?.close();
  };
  window.addEventListener("pagehide", stop);

  const send = async () => {
    if (capture.sending || capture.stopped || !capture.pending.length) return;
    const length = capture.pending.reduce((n, part) => n + part.length, 0);
    const samples = new Int16Array(length);
    let at = 0;
    for (const part of capture.pending) {
      samples.set(part, at);
      at += part.length;
    }
    capture.pending = [];
    capture.sending = true;
    try {
      const answer = await fetch(config.url, {
        method: "POST",
        body: samples.buffer,
        headers: { "Content-Type": "application/octet-stream" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (answer.status === 410) stop();
    } catch (error) {
      capture.pending.unshift(samples); // the server was busy: send it with the next piece
    } finally {
      capture.sending = false;
    }
  };

  const toInt16 = (floats) => {
    const out = new Int16Array(floats.length);
    for (let i = 0; i < floats.length; i++) {
      const s = Math.max(-1, Math.min(1, floats[i]));
      out[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
    }
    return out;
  };

  const WORKLET = `registerProcessor("asr-pcm", class extends AudioWorkletProcessor {
    process(inputs) { if (inputs[0][0]) this.port.postMessage(inputs[0][0].slice(0)); return true; }
  });`;

  (async () => {
    try {
      capture.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
      });
    } catch (error) {
      say(config.denied);
      stop();
      return;
    }
    if (capture.stopped) return stop();
    const context = new AudioContext({ sampleRate: 16000 }); // the browser resamples the microphone
    capture.context = context;
    const source = context.createMediaStreamSource(capture.stream);
    const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
    await context.audioWorklet.addModule(url);
    URL.revokeObjectURL(url);
    const node = new AudioWorkletNode(context, "asr-pcm");
    node.port.onmessage = (event) => capture.pending.push(toInt16(event.data));
    const mute = context.createGain(); // pulls the node through the graph without playing anything
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(context.destination);
    capture.timer = setInterval(send, SEND_MS);
    say(config.listening);
  })();
};
