/**
 * The time of a timestamp the agent stamped itself (`Date.prototype.toISOString`: 24
 * characters, `YYYY-MM-DDTHH:MM:SS.mmmZ`), read without `Date.parse` and without formatting it
 * back to check: the spool asks this of every message it records, and parsing then formatting
 * cost more than the rest of the record together (issue 21).
 *
 * Returns the milliseconds since the epoch when `ts` is exactly what `toISOString` gives for
 * them, else null (another format, a field out of range such as February 30, a year before
 * 1970): the caller then falls back to `Date.parse`.
 */
export function canonicalIsoMs(ts: string): number | null {
  if (
    ts.length !== 24 ||
    ts.charCodeAt(4) !== DASH ||
    ts.charCodeAt(7) !== DASH ||
    ts.charCodeAt(10) !== LETTER_T ||
    ts.charCodeAt(13) !== COLON ||
    ts.charCodeAt(16) !== COLON ||
    ts.charCodeAt(19) !== DOT ||
    ts.charCodeAt(23) !== LETTER_Z
  ) {
    return null;
  }
  const year = digits(ts, 0, 4);
  const month = digits(ts, 5, 2);
  const day = digits(ts, 8, 2);
  const hour = digits(ts, 11, 2);
  const minute = digits(ts, 14, 2);
  const second = digits(ts, 17, 2);
  const ms = digits(ts, 20, 3);
  if (
    year < 1970 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59 ||
    ms < 0
  ) {
    return null; // a negative field held a non-digit (see `digits`)
  }
  return (
    daysFromCivil(year, month, day) * 86_400_000 +
    hour * 3_600_000 +
    minute * 60_000 +
    second * 1_000 +
    ms
  );
}

const DASH = 0x2d;
const COLON = 0x3a;
const DOT = 0x2e;
const LETTER_T = 0x54;
const LETTER_Z = 0x5a;
const ZERO = 0x30;

/** The decimal number in `text[start, start + count)`, or -1 if a character is not a digit. */
function digits(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const d = text.charCodeAt(i) - ZERO;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra =
    yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}
