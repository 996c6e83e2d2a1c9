/**
 * @module The function API's answers to what is wrong with a request, through the real Worker:
 * the listing, and for `POST /v1/functions/{name}` 401 (key), 403 (a model the key may not use),
 * 404 (no such function), 415 (content type), 400 (malformed, truncated, corrupt or empty media;
 * bad options), 429 (the tier's rate), 413 (over the tier's body limit, or more than a function takes), 503 (a clip
 * whose predicted runs cannot finish before the deadline, refused before it runs). Always
 * `{"error": "..."}`.
 */
import { encode as encodePng } from "fast-png";
import { WaveFile } from "wavefile";
import { beforeAll, describe, expect, it } from "vitest";
import { TIERS } from "../../config/tiers.ts";
import { ADMIN, call, createTenant, ensureDemoModel, fixtureBytes } from "./helpers.ts";
import { expectRefusal } from "./refusals.ts";

let premium: string;
let free: string;
let mlpOnly: string;
let speech: Uint8Array;
let textline: Uint8Array;

beforeAll(async () => {
  await ensureDemoModel("silero-vad");
  await ensureDemoModel("ppocr-rec");
  premium = await createTenant("functions-errors", "premium");
  free = await createTenant("functions-errors-free", "free");
  mlpOnly = await createTenant("functions-errors-mlp", "premium", ["mlp-tiny"]);
  speech = await fixtureBytes("fixtures/speech.wav");
  textline = await fixtureBytes("fixtures/textline.png");
});

function post(name: string, body: Uint8Array, contentType: string | undefined, key = premium, query = ""): Promise<Response> {
  const headers: Record<string, string> = { "x-hotpath-timeout-ms": "10000" };
  if (contentType !== undefined) headers["content-type"] = contentType;
  return call(`/v1/functions/${name}${query}`, { method: "POST", key, body, headers });
}

/** Asserts the status and an `{"error"}` body matching `pattern`. */
async function expectError(response: Response, status: number, pattern: RegExp): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  const body = JSON.parse(text) as { error?: unknown };
  expect(body.error, text).toMatch(pattern);
}

/** A WAV made by wavefile from `samples` at `bitDepth` ("8", "16", "32f", ...). */
function wav(channels: number, sampleRate: number, bitDepth: string, samples: number[] | Float64Array): Uint8Array {
  const file = new WaveFile();
  file.fromScratch(channels, sampleRate, bitDepth, samples);
  return file.toBuffer();
}

describe("GET /v1/functions", () => {
  it("lists each function with what it accepts, the models it runs and its options", async () => {
    const response = await call("/v1/functions", { key: premium });
    expect(response.status).toBe(200);
    const { functions } = (await response.json()) as { functions: { name: string; accepts: string[]; models: string[]; options: Record<string, unknown> }[] };
    expect(functions.map((f) => f.name)).toEqual(["vad", "ocr-line", "ocr"]);
    const vad = functions[0]!;
    expect(vad.accepts).toEqual(["audio/wav", "audio/x-wav", "audio/wave"]);
    expect(vad.models).toEqual(["silero-vad"]);
    expect(Object.keys(vad.options)).toEqual(["threshold", "min_silence_ms", "min_speech_ms", "speech_pad_ms"]);
    expect(vad.options.threshold).toMatchObject({ type: "number", default: 0.5, min: 0.01, max: 0.99 });
    expect(functions[1]).toMatchObject({ accepts: ["image/png", "image/jpeg"], models: ["ppocr-rec"], options: {} });
  });

  it("lists the deadline a call with this key gets when it asks for none: the tier's, or the function's own when longer", async () => {
    const deadlines = async (key: string) => {
      const { functions } = (await (await call("/v1/functions", { key })).json()) as { functions: { name: string; default_deadline_ms: number }[] };
      return Object.fromEntries(functions.map((f) => [f.name, f.default_deadline_ms]));
    };
    // vad (up to 60 s of audio) and ocr (two model steps) declare 5 s; ocr-line takes the tier's default.
    expect(await deadlines(premium)).toEqual({ vad: 5_000, "ocr-line": TIERS.premium.defaultDeadlineMs, ocr: 5_000 });
    expect(await deadlines(free)).toEqual({ vad: 5_000, "ocr-line": TIERS.free.defaultDeadlineMs, ocr: 5_000 });
  });

  it("needs a tenant key (401), and an admin token is not one", async () => {
    await expectError(await call("/v1/functions"), 401, /missing API key/);
    await expectError(await call("/v1/functions", { key: ADMIN }), 401, /unknown API key/);
  });
});

describe("POST /v1/functions/{name}: who may call", () => {
  it("401 without a key or with an unknown one", async () => {
    await expectError(await call("/v1/functions/vad", { method: "POST", body: speech, headers: { "content-type": "audio/wav" } }), 401, /missing API key/);
    await expectError(await post("vad", speech, "audio/wav", `hp_${"A".repeat(43)}`), 401, /unknown API key/);
  });

  it("403 when the key may not use a model the function runs, naming it", async () => {
    await expectError(await post("vad", speech, "audio/wav", mlpOnly), 403, /may not use model 'silero-vad', which function 'vad' runs/);
    await expectError(await post("ocr-line", textline, "image/png", mlpOnly), 403, /may not use model 'ppocr-rec'/);
  });

  it("404 for a function that does not exist", async () => {
    await expectError(await post("nope", speech, "audio/wav"), 404, /no function 'nope'/);
    await expectError(await post("x".repeat(300), speech, "audio/wav"), 404, /no function 'x{64}\.\.\.'/);
    // Malformed escapes: counted as an unknown function, answered as one, never a 500.
    for (const name of ["%E0", "%ZZ"]) {
      expect((await post(name, speech, "audio/wav", "")).status).toBe(401);
      expect((await post(name, speech, "audio/wav")).status).toBe(404);
    }
  });
});

describe("POST /v1/functions/{name}: content types (415)", () => {
  for (const [name, type] of [
    ["vad", "image/png"],
    ["vad", "application/octet-stream"],
    ["vad", undefined],
    ["ocr-line", "audio/wav"],
    ["ocr-line", "image/gif"],
  ] as const) {
    it(`${name} refuses ${type ?? "no content type"}, listing what it accepts`, async () => {
      await expectError(await post(name, speech, type), 415, new RegExp(`function '${name}' accepts .+; the content type was '${type ?? ""}'`));
    });
  }
});

describe("POST /v1/functions/vad: malformed audio (400)", () => {
  const cases: [string, () => Uint8Array, RegExp][] = [
    ["an empty body", () => new Uint8Array(0), /the body is empty/],
    ["a truncated WAV", () => speech.slice(0, 1000), /the WAV is truncated: its header declares \d+ bytes of samples, 956 are present/],
    ["a WAV cut inside its header", () => speech.slice(0, 30), /not a readable WAV file/],
    ["bytes that are no WAV", () => new TextEncoder().encode("RIFF\u0000\u0000\u0000\u0000WAVEjunkjunkjunk"), /not a readable WAV file/],
    ["a PNG sent as audio/wav", () => textline, /not a readable WAV file/],
    ["8-bit PCM", () => wav(1, 16000, "8", new Array(16000).fill(128)), /must be 16-bit PCM, got format 1 with 8-bit samples/],
    ["32-bit float", () => wav(1, 16000, "32f", new Float64Array(16000)), /must be 16-bit PCM, got format 3/],
    ["a 4 kHz sample rate", () => wav(1, 4000, "16", new Array(4000).fill(0)), /sample rate is 4000 Hz; 8000 to 96000 Hz are taken/],
    ["no samples", () => wav(1, 16000, "16", []), /the WAV has no samples/],
  ];
  for (const [what, body, pattern] of cases) {
    it(`answers 400 for ${what}`, async () => {
      await expectError(await post("vad", body(), "audio/wav"), 400, pattern);
    });
  }
});

describe("POST /v1/functions/ocr-line: malformed images (400)", () => {
  const cases: [string, string, () => Uint8Array, RegExp][] = [
    ["an empty body", "image/png", () => new Uint8Array(0), /the body is empty/],
    ["a truncated PNG", "image/png", () => textline.slice(0, 100), /not a readable PNG image/],
    ["a PNG cut inside its header", "image/png", () => textline.slice(0, 20), /truncated or malformed: no IHDR/],
    ["a WAV sent as image/png", "image/png", () => speech, /not a PNG image \(no PNG signature\)/],
    ["a PNG sent as image/jpeg", "image/jpeg", () => textline, /not a readable JPEG image/],
    ["random bytes as image/jpeg", "image/jpeg", () => Uint8Array.from({ length: 512 }, (_, k) => (k * 37) & 255), /not a readable JPEG image/],
  ];
  for (const [what, type, body, pattern] of cases) {
    it(`answers 400 for ${what}`, async () => {
      await expectError(await post("ocr-line", body(), type), 400, pattern);
    });
  }

  it("answers 400 for a truncated JPEG", async () => {
    const jpeg = await fixtureBytes("fixtures/textline.jpg");
    await expectError(await post("ocr-line", jpeg.slice(0, jpeg.length >> 1), "image/jpeg"), 400, /not a readable JPEG image/);
  });
});

describe("POST /v1/functions/{name}: options (400)", () => {
  const cases: [string, string, RegExp][] = [
    ["vad", "?threshold=2", /option 'threshold' must be between 0.01 and 0.99, got 2/],
    ["vad", "?threshold=abc", /option 'threshold' must be a number, got 'abc'/],
    ["vad", "?threshold=", /option 'threshold' must be a number, got ''/],
    ["vad", "?threshold=0x10", /must be a number, got '0x10'/],
    ["vad", "?min_silence_ms=1.5", /option 'min_silence_ms' must be a whole number/],
    ["vad", "?threshold=0.4&threshold=0.6", /option 'threshold' is given 2 times/],
    ["vad", "?treshold=0.4", /unknown option 'treshold' for function 'vad': its options are threshold, min_silence_ms, min_speech_ms, speech_pad_ms/],
    ["ocr-line", "?lang=en", /unknown option 'lang' for function 'ocr-line': it takes no options/],
  ];
  for (const [name, query, pattern] of cases) {
    it(`${name}${query}`, async () => {
      await expectError(await post(name, name === "vad" ? speech : textline, name === "vad" ? "audio/wav" : "image/png", premium, query), 400, pattern);
    });
  }

  it("a malformed timeout header is a 400 too", async () => {
    const response = await call("/v1/functions/vad", {
      method: "POST",
      key: premium,
      body: speech,
      headers: { "content-type": "audio/wav", "x-hotpath-timeout-ms": "soon" },
    });
    await expectError(response, 400, /x-hotpath-timeout-ms must be a positive number of milliseconds/);
  });
});

describe("POST /v1/functions/{name}: the tier's rate (429)", () => {
  it("counts function calls and listings in the tenant's bucket, and refuses past its burst with Retry-After", async () => {
    const key = await createTenant("functions-errors-rate", "free"); // burst 20 at 10/s
    const listings = await Promise.all(Array.from({ length: 20 }, () => call("/v1/functions", { key })));
    expect(listings.map((r) => r.status)).toEqual(new Array<number>(20).fill(200));
    const message = await expectRefusal(await post("vad", speech, "audio/wav", key), 429);
    expect(message).toMatch(/rate limit of 10 requests\/s exceeded/);
  });
});

describe("POST /v1/functions/{name}: size (413) and time (503)", () => {
  it("a body over the tier's limit is 413 (free: 1 MB)", async () => {
    const stereo = await fixtureBytes("fixtures/speech-gaps-44k-stereo.wav");
    expect(stereo.length).toBeGreaterThan(1024 * 1024);
    await expectError(await post("vad", stereo, "audio/wav", free), 413, /exceeds the limit of 1048576 bytes/);
    expect((await post("vad", stereo, "audio/wav", premium)).status).toBe(200);
  });

  it("a clip longer than vad takes is 413, refused from its header", async () => {
    await expectError(
      await post("vad", wav(1, 8000, "16", new Array(61 * 8000).fill(0)), "audio/wav"),
      413,
      /the audio is 61.0 s long; vad takes at most 60 s/,
    );
  });

  it("an image over 4 megapixels is 413, refused from its header before it is decoded", async () => {
    const side = 2100;
    const png = encodePng({ width: side, height: side, channels: 1, depth: 8, data: new Uint8Array(side * side) });
    await expectError(await post("ocr-line", png, "image/png"), 413, /the image is 2100x2100, more than 4194304 pixels/);
  });

  it("a clip whose predicted runs cannot finish before its deadline is refused at once (503, Retry-After), not run", async () => {
    const minute = wav(1, 16000, "16", new Array(60 * 16000).fill(0));
    expect((await post("vad", speech, "audio/wav")).status).toBe(200); // the host has measured Silero's runs
    const response = await call("/v1/functions/vad", {
      method: "POST",
      key: premium,
      body: minute,
      headers: { "content-type": "audio/wav", "x-hotpath-timeout-ms": "300" },
    });
    const message = await expectRefusal(response, 503);
    expect(message).toMatch(/cannot finish before the deadline: .*1875 runs, predicted \d+ ms/);
  });
});
