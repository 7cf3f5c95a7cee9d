import { unzipSync, zipSync } from 'fflate';
import { FormatError, LimitError, errorMessage } from '../core/errors.js';

/** Limits for reading untrusted zip archives (.keras, .npz). */
export interface ZipLimits {
  /** Largest total uncompressed size accepted, bytes. */
  maxTotalBytes: number;
  /** Largest uncompressed/compressed ratio for one entry (zip bomb guard). */
  maxRatio: number;
  maxEntries: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxTotalBytes: 8 * 1024 ** 3,
  maxRatio: 1000,
  maxEntries: 100_000,
};

/** Rejects names that would escape a folder if someone extracted the archive. */
export function checkEntryName(name: string, file: string): void {
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) {
    throw new FormatError(`${file}: zip entry '${name}' has an absolute path; refusing the archive`, { file });
  }
  if (name.split(/[\\/]/).some((p) => p === '..')) {
    throw new FormatError(`${file}: zip entry '${name}' contains '..'; refusing the archive`, { file });
  }
  if (name.includes('\0')) throw new FormatError(`${file}: zip entry name contains a NUL byte; refusing the archive`, { file });
}

/**
 * Reads every entry of a zip archive into memory, after checking names, duplicates, the
 * entry count and the declared sizes against `limits` (nothing is inflated before that).
 */
export function readZip(bytes: Uint8Array, file: string, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Map<string, Uint8Array> {
  if (bytes.length < 22 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    throw new FormatError(`${file}: not a zip archive (no 'PK' signature)`, { file });
  }
  const seen = new Set<string>();
  let total = 0;
  let problem: Error | undefined;
  let out: Record<string, Uint8Array>;
  try {
    out = unzipSync(bytes, {
      filter: (f) => {
        if (problem) return false;
        try {
          checkEntryName(f.name, file);
          if (seen.has(f.name)) throw new FormatError(`${file}: zip entry '${f.name}' appears twice; refusing the ambiguous archive`, { file });
          seen.add(f.name);
          if (seen.size > limits.maxEntries) throw new LimitError(`${file}: more than ${limits.maxEntries} zip entries`, { file });
          total += f.originalSize;
          if (total > limits.maxTotalBytes) {
            throw new LimitError(`${file}: declared uncompressed size exceeds ${limits.maxTotalBytes} bytes (at entry '${f.name}')`, { file });
          }
          if (f.size > 0 && f.originalSize / f.size > limits.maxRatio && f.originalSize > 1024 * 1024) {
            throw new LimitError(
              `${file}: zip entry '${f.name}' expands ${Math.round(f.originalSize / f.size)}x (over the ${limits.maxRatio}x limit); refusing a possible zip bomb`,
              { file },
            );
          }
        } catch (e) {
          problem = e as Error;
          return false;
        }
        return true;
      },
    });
  } catch (e) {
    if (problem) throw problem;
    throw new FormatError(`${file}: corrupt or truncated zip archive (${errorMessage(e)})`, { file, cause: e });
  }
  if (problem) throw problem;
  const map = new Map<string, Uint8Array>();
  for (const [k, v] of Object.entries(out)) {
    if (k.endsWith('/') && v.length === 0) continue; // folder entries
    map.set(k, v);
  }
  return map;
}

/** Writes a zip archive (stored, or deflated when `deflate`). Entry order is preserved. */
export function writeZip(entries: Map<string, Uint8Array> | [string, Uint8Array][], deflate = false): Uint8Array {
  const obj: Record<string, Uint8Array> = {};
  for (const [k, v] of entries) obj[k] = v;
  // Fixed mtime keeps archives byte-identical across runs.
  return zipSync(obj, { level: deflate ? 6 : 0, mtime: new Date('2000-01-01T00:00:00Z') });
}
