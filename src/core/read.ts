import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';

/**
 * A file's bytes in an ArrayBuffer of their own, copied once: `new Uint8Array(readFileSync(p))`
 * copied the Buffer Node had read into (for a 537 MB frozen graph, 537 MB more at once). Node
 * reads files under 4 KiB into a shared pool; those are copied out, so the bytes always start at
 * offset 0 of their own buffer, as typed-array views of them expect.
 */
export function readBytes(path: string): Uint8Array {
  const b = readFileSync(path);
  if (b.byteOffset === 0 && b.buffer.byteLength === b.byteLength) return new Uint8Array(b.buffer, 0, b.byteLength);
  return new Uint8Array(b);
}

/** Several files' bytes, one after the other, read straight into one buffer (each byte copied once). */
export function readConcatenated(paths: string[]): Uint8Array {
  if (paths.length === 1) return readBytes(paths[0]!);
  const fds = paths.map((p) => openSync(p, 'r'));
  try {
    const sizes = fds.map((fd) => fstatSync(fd).size);
    const out = new Uint8Array(sizes.reduce((s, n) => s + n, 0));
    let at = 0;
    for (const [i, fd] of fds.entries()) {
      const end = at + sizes[i]!;
      while (at < end) {
        const got = readSync(fd, out, at, Math.min(end - at, 1 << 30), null);
        if (got === 0) break;
        at += got;
      }
      at = end;
    }
    return out;
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/** The first `n` bytes of a file (for telling its format), without reading the rest. */
export function readHead(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const out = new Uint8Array(n);
    const got = readSync(fd, out, 0, n, 0);
    return out.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
