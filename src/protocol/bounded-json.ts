/**
 * JSON text from outside, decoded within a byte limit and a nesting limit that are checked
 * before anything recursive runs.
 *
 * V8's JSON.parse does not itself overflow on deep text, but nearly everything after it does:
 * JSON.stringify (the outbox, the spool, the wire to apps and clients), the logger serialising
 * a value, structuredClone, our validators. A payload nested 5000 levels deep, once let in,
 * kills the process the first time one of those touches it. So the depth is measured on the
 * text itself, by a linear scan that counts `[` and `{` outside strings, and text deeper than
 * the limit is refused before JSON.parse builds a value at all.
 *
 * One limit serves every entry point: the agent and the hub keep a value at the level where it
 * arrived when they relay it (an app's `data.payload` and the `user` frame's `payload.payload`
 * are both on level 3; the hub passes a client's command payload on as it came), so whatever
 * one side let in, the next side lets in too.
 */
export const MAX_JSON_DEPTH = 64;

export type JsonRefusal = 'too_large' | 'too_deep' | 'invalid_json';

export type JsonDecoded =
  { ok: true; value: unknown } | { ok: false; reason: JsonRefusal; message: string };

export interface JsonLimits {
  /** Largest text accepted, in UTF-8 bytes. */
  maxBytes: number;
  /** Deepest nesting accepted: `{}` and `[1]` are 1 level, `{"a":[]}` is 2. */
  maxDepth?: number;
}

const OPEN_BRACE = 0x7b; // {
const CLOSE_BRACE = 0x7d; // }
const OPEN_BRACKET = 0x5b; // [
const CLOSE_BRACKET = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Decodes `text`; never throws. The message says what was wrong and reads on after a subject:
 * `larger than 1048576 bytes`, `nested deeper than 64 levels`, `not valid JSON: …`.
 */
export function decodeJson(text: string, limits: JsonLimits): JsonDecoded {
  const { maxBytes, maxDepth = MAX_JSON_DEPTH } = limits;
  // A UTF-16 unit is at most 3 UTF-8 bytes: only long text needs counting.
  if (text.length * 3 > maxBytes && utf8LengthExceeds(text, maxBytes)) {
    return { ok: false, reason: 'too_large', message: `larger than ${maxBytes} bytes` };
  }
  if (nestingExceeds(text, maxDepth)) {
    return { ok: false, reason: 'too_deep', message: `nested deeper than ${maxDepth} levels` };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return {
      ok: false,
      reason: 'invalid_json',
      message: `not valid JSON: ${(err as Error).message}`,
    };
  }
}

/**
 * True when the text opens more than `maxDepth` arrays/objects at once. Brackets inside strings
 * do not count: a string is skipped to its closing quote, the first one not escaped by an odd
 * run of backslashes (`"\\"` ends, `"\"` does not), found with indexOf because strings make
 * up most of a large payload. Broken text (unbalanced, unterminated) is left for JSON.parse.
 */
export function nestingExceeds(text: string, maxDepth: number): boolean {
  if (text.length <= maxDepth) return false; // too short to open that many levels
  if (openersAtMost(text, maxDepth)) return false; // the common case, found by native search
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit === QUOTE) {
      i = closingQuote(text, i);
      if (i < 0) return false;
    } else if (unit === OPEN_BRACE || unit === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (unit === CLOSE_BRACE || unit === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/**
 * True when the text holds at most `limit` `{` and `[` in all (inside strings too): it cannot
 * open more levels than that. Counted with indexOf, which is native, so a typical line (a few
 * objects) is cleared without the scan above visiting each character (issue 21).
 */
function openersAtMost(text: string, limit: number): boolean {
  let count = 0;
  for (const opener of ['{', '[']) {
    for (let at = text.indexOf(opener); at >= 0; at = text.indexOf(opener, at + 1)) {
      if (++count > limit) return false;
    }
  }
  return true;
}

/** Index of the quote that ends the string opened at `open`, or -1 if it never ends. */
function closingQuote(text: string, open: number): number {
  let at = open;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

/**
 * True when the UTF-8 encoding of `text` is longer than `maxBytes`, counted without encoding
 * it (not Buffer.byteLength: the browser console decodes its frames with this module too).
 * Every unit is one byte and a native regex scan finds the rest, so ASCII text costs little.
 */
function utf8LengthExceeds(text: string, maxBytes: number): boolean {
  if (text.length > maxBytes) return true;
  let bytes = text.length;
  for (const match of text.matchAll(/[\u0080-\uffff]+/g)) {
    const run = match[0];
    for (let i = 0; i < run.length && bytes <= maxBytes; i++) {
      const unit = run.charCodeAt(i);
      if (unit < 0x800) bytes += 1;
      else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(run.charCodeAt(i + 1))) {
        bytes += 2; // a pair (two units) is one 4-byte code point beyond U+FFFF
        i++;
      } else bytes += 2; // 3 bytes; a lone surrogate is written as U+FFFD, also 3
    }
    if (bytes > maxBytes) return true;
  }
  return false;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}
