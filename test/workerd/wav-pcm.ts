/**
 * @module The mono PCM of a 16-bit WAV, as a live-stream client would send it: plain TypeScript
 * with no runtime imports, so the workerd tests and the end-to-end tests (in Node) share it.
 */

/** The PCM of a 16-bit WAV's data chunk, mixed down to mono (channels averaged, rounded), and its rate. */
export function wavPcm(wav: Uint8Array): { pcm: Uint8Array; rate: number } {
  const view = new DataView(wav.buffer, wav.byteOffset, wav.byteLength);
  let channels = 1;
  let rate = 16000;
  for (let at = 12; at + 8 <= wav.length;) {
    const id = String.fromCharCode(...wav.subarray(at, at + 4));
    const size = view.getUint32(at + 4, true);
    if (id === "fmt ") {
      channels = view.getUint16(at + 10, true);
      rate = view.getUint32(at + 12, true);
    }
    if (id === "data") {
      const frames = Math.floor(size / (2 * channels));
      const mono = new Int16Array(frames);
      for (let f = 0; f < frames; f++) {
        let sum = 0;
        for (let c = 0; c < channels; c++) sum += view.getInt16(at + 8 + 2 * (f * channels + c), true);
        mono[f] = Math.round(sum / channels);
      }
      return { pcm: new Uint8Array(mono.buffer), rate };
    }
    at += 8 + size + (size % 2);
  }
  throw new Error("no data chunk");
}
