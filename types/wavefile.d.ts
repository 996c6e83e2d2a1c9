/** wavefile's resampler, which its package ships as a module without declarations (wavefile 11). */
declare module "wavefile/lib/resampler/index.js" {
  export function resample(
    samples: ArrayLike<number>,
    oldSampleRate: number,
    sampleRate: number,
    options?: { method?: "point" | "linear" | "cubic" | "sinc"; LPF?: boolean; LPFType?: "IIR" | "FIR"; LPForder?: number },
  ): Float64Array;
}
