/**
 * Makes the tfjs wasm backend's heap a shared WebAssembly memory, so that the metrics thread
 * can read activations where they are (no copy). tfjs-backend-wasm's single-threaded module
 * defines its own memory; while the backend initialises, its binary is rewritten to import
 * that memory instead (the memory section becomes an import of `env.memory`, declared
 * shared, with the same initial size), and the memory is given in the imports. Nothing else
 * in the module changes: a shared memory behaves like any other to code that does not use
 * atomics. Anything unexpected and the binary is instantiated as it was.
 */

interface WasmNs {
  instantiate(bytes: unknown, imports?: Record<string, Record<string, unknown>>): Promise<{ instance: unknown; module: unknown }>;
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: ArrayBuffer | SharedArrayBuffer };
}

function readLeb(b: Uint8Array, at: number): { v: number; next: number } {
  let v = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    const byte = b[i++]!;
    v += (byte & 0x7f) * 2 ** shift;
    if (!(byte & 0x80)) break;
    shift += 7;
    if (shift > 35) throw new Error('bad LEB128');
  }
  return { v, next: i };
}

function leb(v: number): number[] {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

/** The module with its one defined memory turned into a shared import; null when it does not have exactly that shape. */
export function importSharedMemory(bin: Uint8Array, maximumPages: number): { bytes: Uint8Array; initialPages: number; maximumPages: number } | null {
  if (bin.length < 8 || bin[0] !== 0 || bin[1] !== 0x61 || bin[2] !== 0x73 || bin[3] !== 0x6d) return null;
  const sections: { id: number; body: Uint8Array }[] = [];
  let p = 8;
  while (p < bin.length) {
    const id = bin[p]!;
    const { v: size, next } = readLeb(bin, p + 1);
    if (next + size > bin.length) return null;
    sections.push({ id, body: bin.subarray(next, next + size) });
    p = next + size;
  }
  const mem = sections.find((s) => s.id === 5);
  const imp = sections.find((s) => s.id === 2);
  if (!mem || !imp) return null;
  const { v: count, next: lp } = readLeb(mem.body, 0);
  if (count !== 1) return null;
  const flags = mem.body[lp]!;
  if (flags !== 0 && flags !== 1) return null; // already shared, or 64-bit: leave it alone
  const { v: initial, next: mp } = readLeb(mem.body, lp + 1);
  // A shared memory needs a maximum: the module's own when it has one (tfjs: 4 GiB).
  const maximum = flags === 1 ? readLeb(mem.body, mp).v : Math.max(initial, maximumPages);
  // The import section with one more entry: env.memory, limits {shared, min, max}.
  const { v: nImports, next: ip } = readLeb(imp.body, 0);
  const enc = (x: string) => [...leb(x.length), ...Buffer.from(x, 'utf8')];
  const entry = [...enc('env'), ...enc('memory'), 0x02, 0x03, ...leb(initial), ...leb(maximum)];
  const countBytes = leb(nImports + 1);
  const newImp = new Uint8Array(countBytes.length + (imp.body.length - ip) + entry.length);
  newImp.set(countBytes, 0);
  newImp.set(imp.body.subarray(ip), countBytes.length);
  newImp.set(entry, countBytes.length + imp.body.length - ip);
  // Section by section, with typed-array copies (the code section is megabytes).
  const kept = sections.filter((x) => x !== mem).map((x) => ({ head: [x.id, ...leb((x === imp ? newImp : x.body).length)], body: x === imp ? newImp : x.body }));
  const out = new Uint8Array(8 + kept.reduce((a, x) => a + x.head.length + x.body.length, 0));
  out.set(bin.subarray(0, 8), 0);
  let o = 8;
  for (const x of kept) {
    out.set(x.head, o);
    o += x.head.length;
    out.set(x.body, o);
    o += x.body.length;
  }
  return { bytes: out, initialPages: initial, maximumPages: maximum };
}

/**
 * Runs `init` (the backend's initialisation) with WebAssembly.instantiate rewriting the
 * binaries it is given; `accept(imports)` says whether a binary is the one to rewrite.
 */
export async function withSharedHeap<T>(init: () => Promise<T>, accept: (imports: Record<string, Record<string, unknown>> | undefined) => boolean): Promise<{ value: T; shared: boolean }> {
  const WA = (globalThis as unknown as { WebAssembly: WasmNs }).WebAssembly;
  if (typeof SharedArrayBuffer === 'undefined') return { value: await init(), shared: false };
  const original = WA.instantiate;
  let shared = false;
  WA.instantiate = async function (bytes, imports) {
    if (!shared && (bytes instanceof ArrayBuffer || ArrayBuffer.isView(bytes)) && accept(imports)) {
      try {
        const u8 = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array((bytes as Uint8Array).buffer, (bytes as Uint8Array).byteOffset, (bytes as Uint8Array).byteLength);
        const patched = importSharedMemory(u8, 65536);
        if (patched) {
          const memory = new WA.Memory({ initial: patched.initialPages, maximum: patched.maximumPages, shared: true });
          const r = await original.call(WA, patched.bytes, { ...imports, env: { ...(imports?.env ?? {}), memory } });
          shared = true;
          return r;
        }
      } catch {
        // fall through to the binary as it was
      }
    }
    return original.call(WA, bytes, imports);
  } as WasmNs['instantiate'];
  try {
    return { value: await init(), shared };
  } finally {
    WA.instantiate = original;
  }
}
