import { z } from 'zod';

/** The value types a csv-import column can be checked against. */
export const columnTypes = ['string', 'integer', 'number', 'boolean', 'date'] as const;
export type ColumnType = (typeof columnTypes)[number];
export const columnType = z.enum(columnTypes);

/** A check for one non-empty cell, and how to say what the cell should have been. */
export interface ValueCheck {
  test(value: string): boolean;
  /** Completes "quantity: "abc" is not …". */
  readonly expected: string;
}

const INTEGER = /^[+-]?\d+$/;
// Decimal only: `Number()` alone would also accept "0x1f", "Infinity", " 12 " and "".
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const BOOLEANS = new Set(['true', 'false', '1', '0', 'yes', 'no']);
// Shape only; ranges (month 13, February 30, 25:00, +24:00) are checked by isIsoDate.
const ISO_DATE =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** Null for `string`: every value is a string, so there is nothing to run per cell. */
export const valueChecks: Readonly<Record<ColumnType, ValueCheck | null>> = {
  string: null,
  integer: { test: (v) => INTEGER.test(v), expected: 'an integer' },
  number: { test: (v) => NUMBER.test(v) && Number.isFinite(Number(v)), expected: 'a number' },
  boolean: {
    test: (v) => v.length <= 5 && BOOLEANS.has(v.toLowerCase()),
    expected: 'a boolean (true/false/yes/no/1/0)',
  },
  date: { test: isIsoDate, expected: 'an ISO 8601 date (YYYY-MM-DD[Thh:mm[:ss][Z|±hh:mm]])' },
};

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(s: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) n = n * 10 + (s.charCodeAt(i) - 48);
  return n;
}

/**
 * `YYYY-MM-DD`, optionally followed by `Thh:mm[:ss[.fff]]` and `Z` or `±hh[:mm]`, that names a
 * real calendar date and time. A space is accepted in place of `T` (RFC 3339 and most database
 * exports write it that way). `Date.parse` is not used: it rolls 2023-02-30 over to March 2.
 */
export function isIsoDate(value: string): boolean {
  if (!ISO_DATE.test(value)) return false;
  const year = digits(value, 0, 4);
  const month = digits(value, 5, 2);
  const day = digits(value, 8, 2);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0)) return false;
  if (value.length === 10) return true;
  if (digits(value, 11, 2) > 23 || digits(value, 14, 2) > 59) return false;
  if (value.charCodeAt(16) === 58 /* : */ && digits(value, 17, 2) > 59) return false;
  // The zone, if any, is the only `+` or `-` after the date part.
  let zone = value.indexOf('+', 16);
  if (zone === -1) zone = value.indexOf('-', 16);
  if (zone === -1) return true;
  if (digits(value, zone + 1, 2) > 23) return false;
  const zoneMinutes = value.length - zone > 3 ? value.length - 2 : -1;
  return zoneMinutes === -1 || digits(value, zoneMinutes, 2) <= 59;
}

/** A cell for a log line: quoted, and cut short so one huge cell cannot flood the job's logs. */
export function quoteValue(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}
