// RFC 3339 date-times (RFC 3339 §5.6), checked field by field: Date.parse takes 2026-02-30 as
// 2 March and 24:00 as the next day, which a deadline must never be.

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:(Z)|([+-])(\d{2}):(\d{2}))$/i;

/** Milliseconds since the epoch of an RFC 3339 date-time with its offset, to the millisecond;
 *  undefined for anything else, including dates and times the calendar does not have. */
export function parseInstant(text: string): number | undefined {
  const m = DATE_TIME.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const fraction = Math.floor(Number(`0${m[7] ?? ''}`) * 1000);
  const local = Date.UTC(year, month - 1, day, hour, minute, second, fraction);
  if (new Date(local).getUTCDate() !== day) return undefined;
  if (m[8] !== undefined) return local;
  const [offsetHours, offsetMinutes] = [Number(m[10]), Number(m[11])];
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  return local - (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
}
