import zlib from 'node:zlib';

export type GunzipResult =
  { ok: true; data: Buffer } | { ok: false; reason: 'bomb' | 'corrupt'; error: Error };

/**
 * Inflates a gzip from an untrusted sender. zlib stops at maxOutputLength and fails with a
 * RangeError, so a decompression bomb costs at most the cap in memory; the size field in the gzip
 * trailer is never consulted.
 */
export function gunzipCapped(content: Buffer, maxOutputLength: number): Promise<GunzipResult> {
  return new Promise((resolve) => {
    zlib.gunzip(content, { maxOutputLength }, (err, inflated) => {
      if (err instanceof RangeError) resolve({ ok: false, reason: 'bomb', error: err });
      else if (err) resolve({ ok: false, reason: 'corrupt', error: err });
      else resolve({ ok: true, data: inflated });
    });
  });
}

/** Every gzip member starts with these two bytes (RFC 1952 §2.3.1). */
export const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
