import type protobuf from 'protobufjs';
import { FormatError } from '../core/errors.js';
import type { Graph } from '../graph/ir.js';
import { tfType } from '../proto/index.js';
import { graphFromGraphDef } from './tensor-proto.js';

/**
 * A protobuf text-format parser driven by protobufjs reflection, for any message type:
 * nested messages with `{}` or `<>` (the ':' before them optional), repeated fields (repeated
 * occurrences and `[a, b]` lists), maps as `key`/`value` entries, enums by name or number,
 * strings with C escapes (\n \t \\ \' \" \ooo \xHH) and adjacent-literal concatenation, bytes,
 * `#` comments, inf/nan, the `f` float suffix, and booleans in every spelling TF writes.
 * Errors carry `file:line:column` and say what was expected.
 */

type Tok = { kind: 'id' | 'num' | 'str' | 'punct' | 'eof'; text: string; bytes?: Uint8Array; line: number; col: number };

const MAX_DEPTH = 100;

class Lexer {
  private i = 0;
  private line = 1;
  private col = 1;
  private peeked: Tok | undefined;

  constructor(private readonly s: string, private readonly file: string) {}

  error(t: { line: number; col: number }, msg: string): FormatError {
    return new FormatError(`${this.file}:${t.line}:${t.col}: ${msg}`, { file: this.file });
  }

  private adv(n = 1): void {
    for (let k = 0; k < n; k++) {
      if (this.s[this.i] === '\n') {
        this.line++;
        this.col = 1;
      } else this.col++;
      this.i++;
    }
  }

  peek(): Tok {
    if (!this.peeked) this.peeked = this.lex();
    return this.peeked;
  }

  next(): Tok {
    const t = this.peek();
    this.peeked = undefined;
    return t;
  }

  private lex(): Tok {
    const s = this.s;
    for (;;) {
      while (this.i < s.length && /\s/.test(s[this.i]!)) this.adv();
      if (s[this.i] === '#') {
        while (this.i < s.length && s[this.i] !== '\n') this.adv();
        continue;
      }
      break;
    }
    const line = this.line;
    const col = this.col;
    if (this.i >= s.length) return { kind: 'eof', text: '', line, col };
    const c = s[this.i]!;
    if ('{}<>[]:,;'.includes(c)) {
      this.adv();
      return { kind: 'punct', text: c, line, col };
    }
    if (c === '"' || c === "'") return this.lexString(line, col);
    const m = /^(?:-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?|inf(?:inity)?|nan)(?![A-Za-z0-9_]))/i.exec(s.slice(this.i, this.i + 64));
    if (m && (c === '-' || /[0-9.]/.test(c))) {
      this.adv(m[0].length);
      return { kind: 'num', text: m[0], line, col };
    }
    const id = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(s.slice(this.i, this.i + 256));
    if (id) {
      this.adv(id[0].length);
      return { kind: 'id', text: id[0], line, col };
    }
    throw this.error({ line, col }, `unexpected character '${c}'`);
  }

  /** The raw text of an `[...]` name (`type.googleapis.com/pkg.Type`), after its '['. */
  bracketName(): string {
    if (this.peeked) throw new Error('bracketName() after peek()');
    const start = { line: this.line, col: this.col };
    const end = this.s.indexOf(']', this.i);
    const nl = this.s.indexOf('\n', this.i);
    if (end < 0 || (nl >= 0 && nl < end)) throw this.error(start, "expected ']' to close the bracketed type name");
    const name = this.s.slice(this.i, end).trim();
    this.adv(end + 1 - this.i);
    return name;
  }

  private lexString(line: number, col: number): Tok {
    const s = this.s;
    const q = s[this.i]!;
    this.adv();
    const bytes: number[] = [];
    const enc = new TextEncoder();
    while (this.i < s.length && s[this.i] !== q) {
      const c = s[this.i]!;
      if (c === '\n') throw this.error({ line, col }, 'string literal is not closed before the end of the line');
      if (c !== '\\') {
        const cp = s.codePointAt(this.i)!;
        const ch = String.fromCodePoint(cp);
        bytes.push(...enc.encode(ch));
        this.adv(ch.length);
        continue;
      }
      this.adv();
      const e = s[this.i];
      if (e === undefined) break;
      const simple: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '\\': 92, "'": 39, '"': 34, '?': 63 };
      if (e in simple) {
        bytes.push(simple[e]!);
        this.adv();
      } else if (/[0-7]/.test(e)) {
        const m = /^[0-7]{1,3}/.exec(s.slice(this.i, this.i + 3))![0];
        const v = parseInt(m, 8);
        if (v > 255) throw this.error({ line: this.line, col: this.col }, `octal escape \\${m} is larger than a byte`);
        bytes.push(v);
        this.adv(m.length);
      } else if (e === 'x' || e === 'X') {
        const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(this.i + 1, this.i + 3));
        if (!m) throw this.error({ line: this.line, col: this.col }, '\\x escape needs hex digits');
        bytes.push(parseInt(m[0], 16));
        this.adv(1 + m[0].length);
      } else if (e === 'u' || e === 'U') {
        const len = e === 'u' ? 4 : 8;
        const m = new RegExp(`^[0-9a-fA-F]{${len}}`).exec(s.slice(this.i + 1, this.i + 1 + len));
        if (!m) throw this.error({ line: this.line, col: this.col }, `\\${e} escape needs ${len} hex digits`);
        bytes.push(...enc.encode(String.fromCodePoint(parseInt(m[0], 16))));
        this.adv(1 + len);
      } else {
        throw this.error({ line: this.line, col: this.col }, `unknown escape '\\${e}'`);
      }
    }
    if (this.i >= s.length) throw this.error({ line, col }, 'string literal is not closed');
    this.adv();
    return { kind: 'str', text: '', bytes: Uint8Array.from(bytes), line, col };
  }
}

const INT_TYPES = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64']);

class Parser {
  constructor(private readonly lx: Lexer) {}

  expect(text: string): Tok {
    const t = this.lx.next();
    if (t.kind !== 'punct' || t.text !== text) throw this.lx.error(t, `expected '${text}', found ${describe(t)}`);
    return t;
  }

  message(T: protobuf.Type, close: string | null, depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) throw this.lx.error(this.lx.peek(), `messages nested deeper than ${MAX_DEPTH} levels`);
    const obj: Record<string, unknown> = {};
    for (;;) {
      const t = this.lx.peek();
      if (close === null && t.kind === 'eof') return obj;
      if (close !== null && t.kind === 'punct' && t.text === close) {
        this.lx.next();
        return obj;
      }
      if (t.kind === 'eof') throw this.lx.error(t, `expected '${close}' to close the message, found the end of the file`);
      if (t.kind === 'punct' && t.text === '[') {
        if (T.fullName !== '.google.protobuf.Any') throw this.lx.error(t, `extensions ([...]) are not supported (in ${T.fullName.replace(/^\./, '')})`);
        this.lx.next();
        this.anyExpansion(T, obj, t, depth);
        continue;
      }
      if (t.kind !== 'id') throw this.lx.error(t, `expected a field name of ${T.fullName.replace(/^\./, '')}, found ${describe(t)}`);
      this.lx.next();
      const field = T.fields[t.text];
      if (!field) {
        throw this.lx.error(t, `unknown field '${t.text}' in ${T.fullName.replace(/^\./, '')} (fields: ${Object.keys(T.fields).join(', ')})`);
      }
      field.resolve();
      this.field(field, obj, t, depth);
      const sep = this.lx.peek();
      if (sep.kind === 'punct' && (sep.text === ',' || sep.text === ';')) this.lx.next();
    }
  }

  /** `[type.googleapis.com/pkg.Type] { ... }` inside an Any: parsed as that type, stored as its bytes. */
  private anyExpansion(Any: protobuf.Type, obj: Record<string, unknown>, at: Tok, depth: number): void {
    const url = this.lx.bracketName();
    const typeName = url.slice(url.lastIndexOf('/') + 1);
    let Inner: protobuf.Type;
    try {
      Inner = Any.root.lookupType(typeName);
    } catch {
      throw this.lx.error(at, `Any holds '${url}', a message type tf-parity does not know`);
    }
    const c = this.lx.peek();
    if (c.kind === 'punct' && c.text === ':') this.lx.next();
    const o = this.lx.next();
    if (o.kind !== 'punct' || (o.text !== '{' && o.text !== '<')) throw this.lx.error(o, `expected '{' after [${url}], found ${describe(o)}`);
    const inner = this.message(Inner, o.text === '{' ? '}' : '>', depth + 1);
    if (obj.type_url !== undefined) throw this.lx.error(at, 'an Any holds two expansions');
    obj.type_url = url;
    obj.value = Inner.encode(Inner.fromObject(inner)).finish();
  }

  private isMessage(f: protobuf.Field): f is protobuf.Field & { resolvedType: protobuf.Type } {
    return !!f.resolvedType && 'fieldsArray' in f.resolvedType;
  }

  private field(f: protobuf.Field, obj: Record<string, unknown>, at: Tok, depth: number): void {
    if (f.map) {
      const mf = f as unknown as protobuf.MapField;
      const p = this.lx.peek();
      if (p.kind === 'punct' && p.text === ':') this.lx.next();
      const entries: [string, unknown][] = [];
      const one = () => {
        const open = this.lx.next();
        if (open.kind !== 'punct' || (open.text !== '{' && open.text !== '<')) throw this.lx.error(open, `expected '{' to start a map entry of '${f.name}', found ${describe(open)}`);
        const end = open.text === '{' ? '}' : '>';
        let key: string | undefined;
        let value: unknown;
        for (;;) {
          const t = this.lx.next();
          if (t.kind === 'punct' && t.text === end) break;
          if (t.kind !== 'id' || (t.text !== 'key' && t.text !== 'value')) throw this.lx.error(t, `expected 'key' or 'value' in a map entry of '${f.name}', found ${describe(t)}`);
          if (t.text === 'key') {
            this.expect(':');
            key = String(this.scalar(mf.keyType, null, t));
          } else if (this.isMessage(f)) {
            const c = this.lx.peek();
            if (c.kind === 'punct' && c.text === ':') this.lx.next();
            const o = this.lx.next();
            if (o.kind !== 'punct' || (o.text !== '{' && o.text !== '<')) throw this.lx.error(o, `expected '{' for the value of map '${f.name}', found ${describe(o)}`);
            value = this.message(f.resolvedType, o.text === '{' ? '}' : '>', depth + 1);
          } else {
            this.expect(':');
            value = this.scalar(f.type, f.resolvedType, t);
          }
          const sep = this.lx.peek();
          if (sep.kind === 'punct' && (sep.text === ',' || sep.text === ';')) this.lx.next();
        }
        if (key === undefined) throw this.lx.error(at, `map entry of '${f.name}' has no key`);
        entries.push([key, value ?? (this.isMessage(f) ? {} : undefined)]);
      };
      const nx = this.lx.peek();
      if (nx.kind === 'punct' && nx.text === '[') {
        this.lx.next();
        while (!(this.lx.peek().kind === 'punct' && this.lx.peek().text === ']')) {
          one();
          if (this.lx.peek().text === ',') this.lx.next();
        }
        this.lx.next();
      } else one();
      const m = (obj[f.name] as Record<string, unknown> | undefined) ?? {};
      for (const [k, v] of entries) m[k] = v;
      obj[f.name] = m;
      return;
    }
    const values: unknown[] = [];
    if (this.isMessage(f)) {
      const p = this.lx.peek();
      if (p.kind === 'punct' && p.text === ':') this.lx.next();
      const readOne = () => {
        const o = this.lx.next();
        if (o.kind !== 'punct' || (o.text !== '{' && o.text !== '<')) throw this.lx.error(o, `expected '{' to start field '${f.name}', found ${describe(o)}`);
        values.push(this.message(f.resolvedType, o.text === '{' ? '}' : '>', depth + 1));
      };
      const nx = this.lx.peek();
      if (nx.kind === 'punct' && nx.text === '[') {
        if (!f.repeated) throw this.lx.error(nx, `field '${f.name}' is not repeated`);
        this.lx.next();
        while (!(this.lx.peek().kind === 'punct' && this.lx.peek().text === ']')) {
          readOne();
          if (this.lx.peek().text === ',') this.lx.next();
        }
        this.lx.next();
      } else readOne();
    } else {
      this.expect(':');
      const nx = this.lx.peek();
      if (nx.kind === 'punct' && nx.text === '[') {
        if (!f.repeated) throw this.lx.error(nx, `field '${f.name}' is not repeated`);
        this.lx.next();
        while (!(this.lx.peek().kind === 'punct' && this.lx.peek().text === ']')) {
          values.push(this.scalar(f.type, f.resolvedType, at));
          const sep = this.lx.peek();
          if (sep.kind === 'punct' && sep.text === ',') this.lx.next();
          else if (!(sep.kind === 'punct' && sep.text === ']')) throw this.lx.error(sep, `expected ',' or ']' in the list of '${f.name}', found ${describe(sep)}`);
        }
        this.lx.next();
      } else values.push(this.scalar(f.type, f.resolvedType, at));
    }
    if (f.repeated) obj[f.name] = [...((obj[f.name] as unknown[]) ?? []), ...values];
    else {
      if (obj[f.name] !== undefined && !f.partOf) throw this.lx.error(at, `non-repeated field '${f.name}' is set twice`);
      obj[f.name] = values[0];
    }
  }

  private scalar(type: string, resolved: protobuf.ReflectionObject | null, at: Tok): unknown {
    const t = this.lx.next();
    if (resolved && 'values' in resolved) {
      const e = resolved as protobuf.Enum;
      if (t.kind === 'id') {
        // FullTypeId grows with every TF release and is never read: newer names become TFT_UNSET.
        if (!(t.text in e.values) && e.fullName === '.tensorflow.FullTypeId') return 0;
        if (!(t.text in e.values)) throw this.lx.error(t, `'${t.text}' is not a value of enum ${e.name}`);
        return e.values[t.text];
      }
      if (t.kind === 'num' && /^-?\d+$/.test(t.text)) return Number(t.text);
      throw this.lx.error(t, `expected an enum value of ${e.name}, found ${describe(t)}`);
    }
    if (type === 'string' || type === 'bytes') {
      if (t.kind !== 'str') throw this.lx.error(t, `expected a quoted string, found ${describe(t)}`);
      const parts = [t.bytes!];
      while (this.lx.peek().kind === 'str') parts.push(this.lx.next().bytes!);
      const total = parts.reduce((s, p) => s + p.length, 0);
      const b = new Uint8Array(total);
      let off = 0;
      for (const p of parts) {
        b.set(p, off);
        off += p.length;
      }
      return type === 'bytes' ? b : new TextDecoder().decode(b);
    }
    if (type === 'bool') {
      const v = t.text;
      if (['true', 't', 'True', '1'].includes(v)) return true;
      if (['false', 'f', 'False', '0'].includes(v)) return false;
      throw this.lx.error(t, `expected true or false, found ${describe(t)}`);
    }
    if (INT_TYPES.has(type)) {
      if (t.kind !== 'num' || !/^-?(0[xX][0-9a-fA-F]+|\d+)$/.test(t.text)) throw this.lx.error(t, `expected an integer, found ${describe(t)}`);
      const neg = t.text.startsWith('-');
      const body = neg ? t.text.slice(1) : t.text;
      let big = /^0[xX]/.test(body) ? BigInt(body) : /^0\d/.test(body) ? BigInt('0o' + body.slice(1)) : BigInt(body);
      if (neg) big = -big;
      if (type.startsWith('u') || type === 'fixed32' || type === 'fixed64') {
        if (big < 0n) throw this.lx.error(t, `expected a non-negative integer for ${type}`);
      }
      const limit = type.endsWith('64') ? 64n : 32n;
      const signed = !(type.startsWith('u') || type === 'fixed32' || type === 'fixed64');
      const max = signed ? (1n << (limit - 1n)) - 1n : (1n << limit) - 1n;
      const min = signed ? -(1n << (limit - 1n)) : 0n;
      if (big > max || big < min) throw this.lx.error(t, `integer ${big} is out of range for ${type}`);
      return limit === 64n ? big.toString() : Number(big);
    }
    if (type === 'float' || type === 'double') {
      if (t.kind === 'id' && /^-?(inf|infinity|nan)$/i.test(t.text)) return parseSpecial(t.text);
      if (t.kind !== 'num') throw this.lx.error(t, `expected a number, found ${describe(t)}`);
      // (inf/nan before stripping the float suffix: 'inf' ends in an 'f' too)
      if (/inf|nan/i.test(t.text)) return parseSpecial(t.text);
      const txt = t.text.replace(/[fF]$/, '');
      return /^-?0[xX]/.test(txt) ? Number.parseInt(txt, 16) : Number(txt);
    }
    throw this.lx.error(at, `unsupported field type ${type}`);
  }
}

function parseSpecial(s: string): number {
  const neg = s.startsWith('-');
  if (/nan/i.test(s)) return NaN;
  return neg ? -Infinity : Infinity;
}

function describe(t: Tok): string {
  if (t.kind === 'eof') return 'the end of the file';
  if (t.kind === 'str') return 'a string';
  return `'${t.text}'`;
}

/** Parses text format into a protobufjs message of type T (any message type of a loaded root). */
export function parseTextFormat(text: string, T: protobuf.Type, file: string): protobuf.Message {
  const lx = new Lexer(text, file);
  const obj = new Parser(lx).message(T, null, 0);
  try {
    return T.fromObject(obj);
  } catch (e) {
    throw new FormatError(`${file}: ${(e as Error).message}`, { file });
  }
}

/** Text-format GraphDef (.pbtxt) -> Graph. */
export function readGraphDefText(text: string, file: string): Graph {
  const msg = parseTextFormat(text, tfType('GraphDef'), file) as unknown as Record<string, unknown>;
  const nodes = (msg.node as unknown[] | undefined) ?? [];
  if (!nodes.length) throw new FormatError(`${file}: the GraphDef has no nodes`, { file });
  return graphFromGraphDef(msg, { path: file, format: 'pbtxt' });
}
