/**
 * JSON text of a Keras model config, parsed so that a float written in a call's arguments stays
 * a float. Python writes `x + 2.0` as `2.0` and `x + 2` as `2`; JSON.parse makes both the number
 * 2, and the dtype rule changes with it (Keras 3: an int tensor plus a Python float is float32,
 * plus a Python int stays int). Inside every `inbound_nodes` value (the recorded calls), a number
 * literal with a fraction or an exponent is read as `{"$float": value}`; call-args.ts turns that
 * into a float constant. Everything outside the calls (layer configs) parses as JSON.parse does.
 */

/** The marker a float literal in a call becomes. */
export interface FloatLiteral {
  $float: number;
}

export function isFloatLiteral(v: unknown): v is FloatLiteral {
  return !!v && typeof v === 'object' && !Array.isArray(v) && typeof (v as { $float?: unknown }).$float === 'number' && Object.keys(v).length === 1;
}

/** The number a constant stands for (a plain number or a float literal), else undefined. */
export function numberOf(v: unknown): number | undefined {
  return typeof v === 'number' ? v : isFloatLiteral(v) ? v.$float : undefined;
}

/** `v` with every float literal back to its number (for values read as data, such as `__numpy__` arrays). */
export function plainNumbers(v: unknown): unknown {
  if (isFloatLiteral(v)) return v.$float;
  if (Array.isArray(v)) return v.map(plainNumbers);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainNumbers(x)]));
  return v;
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\]|\\.)*"/y;
const SPACE = /\s*/y;

/** Rewrites the float literals inside `inbound_nodes` values; returns the text unchanged when there are none. */
function markCallFloats(text: string): string {
  if (!text.includes('inbound_nodes')) return text;
  const out: string[] = [];
  let copied = 0;
  // Per open container: whether it lies inside an inbound_nodes value.
  const stack: boolean[] = [];
  let key: string | null = null;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text[i]!;
    if (ch === '"') {
      STRING.lastIndex = i;
      const m = STRING.exec(text);
      if (!m) return text; // malformed: JSON.parse reports it
      i += m[0].length;
      SPACE.lastIndex = i;
      const after = i + SPACE.exec(text)![0].length;
      if (text[after] === ':') key = m[0].slice(1, -1);
      continue;
    }
    if (ch === '{' || ch === '[') {
      const parent = stack.length ? stack[stack.length - 1]! : false;
      stack.push(parent || key === 'inbound_nodes');
      key = null;
      i++;
      continue;
    }
    if (ch === '}' || ch === ']') {
      stack.pop();
      key = null;
      i++;
      continue;
    }
    if (ch === '-' || (ch >= '0' && ch <= '9')) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) return text;
      const end = i + m[0].length;
      if (stack.length && stack[stack.length - 1] && (m[1] !== undefined || m[2] !== undefined)) {
        out.push(text.slice(copied, i), `{"$float":${m[0]}}`);
        copied = end;
      }
      i = end;
      key = null;
      continue;
    }
    if (ch === ',') key = null;
    i++;
  }
  if (!copied) return text;
  out.push(text.slice(copied));
  return out.join('');
}

/** JSON.parse for Keras config text, float literals in calls kept as floats. */
export function parseKerasJson(text: string): unknown {
  return JSON.parse(markCallFloats(text));
}
