// The CSV reader's cell parsers: header fields (RFC 4180 quoting) and numbers, the latter on raw
// bytes through an exact fast path (Clinger: an integer mantissa < 2^53 scaled by an exact power of
// ten is one correctly rounded operation, i.e. bit-identical to Number(text)); only mantissas
// longer than ~15 digits fall back to Number().
import { DataError } from './errors.js';

export const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i); // exact doubles up to 1e22
const MANTISSA_LIMIT = 900719925474099; // floor(2^53 / 10): one more digit still fits exactly

/**
 * Parses a decimal number from bytes [s, e). Returns NaN for anything that is not a plain decimal
 * (empty, "NaN", "inf", "1,5", "0x10", ...) so the caller can report the cell.
 */
export function parseNumberBytes(buf: Uint8Array, s: number, e: number): number {
  while (s < e && (buf[s] === 32 || buf[s] === 9)) s++;
  while (e > s && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--;
  if (s === e) return Number.NaN;
  let p = s;
  let neg = false;
  let c = buf[p];
  if (c === 45) {
    neg = true;
    p++;
  } else if (c === 43) {
    p++;
  }
  let m = 0;
  let exp10 = 0;
  let digits = 0;
  let exact = true;
  while (p < e) {
    c = buf[p] - 48;
    if (c < 0 || c > 9) break;
    if (m < MANTISSA_LIMIT) m = m * 10 + c;
    else {
      exact = false;
      exp10++;
    }
    digits++;
    p++;
  }
  if (p < e && buf[p] === 46) {
    p++;
    while (p < e) {
      c = buf[p] - 48;
      if (c < 0 || c > 9) break;
      if (m < MANTISSA_LIMIT) {
        m = m * 10 + c;
        exp10--;
      } else if (c !== 0) {
        exact = false;
      }
      digits++;
      p++;
    }
  }
  if (digits === 0) return Number.NaN;
  if (p < e && (buf[p] === 101 || buf[p] === 69)) {
    p++;
    let eneg = false;
    if (p < e && (buf[p] === 45 || buf[p] === 43)) {
      eneg = buf[p] === 45;
      p++;
    }
    let ex = 0;
    let edigits = 0;
    while (p < e) {
      c = buf[p] - 48;
      if (c < 0 || c > 9) break;
      if (ex < 100000) ex = ex * 10 + c;
      edigits++;
      p++;
    }
    if (edigits === 0) return Number.NaN;
    exp10 += eneg ? -ex : ex;
  }
  if (p !== e) return Number.NaN;
  let v: number;
  if (m === 0) v = 0;
  else if (exact && exp10 >= -22 && exp10 <= 22) v = exp10 < 0 ? m / POW10[-exp10] : m * POW10[exp10];
  // The syntax is checked above, so Number() sees a plain decimal (sign included: return as is).
  else return Number(Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('latin1'));
  return neg ? -v : v;
}

/** Splits one header line into field names (RFC 4180 quoting, BOM stripped). */
export function splitHeader(text: string, file: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.endsWith('\r')) text = text.slice(0, -1);
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new DataError({ file, line: 1 }, 'unterminated quoted field in the header');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== ',') {
        throw new DataError(
          { file, line: 1 },
          `unexpected character ${JSON.stringify(text[i])} after a quoted header field`,
        );
      }
    } else {
      const j = text.indexOf(',', i);
      const end = j < 0 ? text.length : j;
      field = text.slice(i, end);
      i = end;
    }
    out.push(field.trim());
    if (i >= text.length) break;
    i++; // the comma
  }
  return out;
}
