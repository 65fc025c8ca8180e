// HTTP-date exactly as RFC 9110 5.6.7 writes it: IMF-fixdate, and the obsolete rfc850
// and asctime forms, case-sensitive, nothing else. Date.parse accepts far more (`UTC`,
// no comma, dashes, one-digit hours, `0`), and RFC 9111 5.3 reads any other Expires as
// already expired, so the cache must not guess.

const dayNames = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].join('|');
const longDayNames = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'].join('|');
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const month = `(${months.join('|')})`;
const time = '(\\d\\d):(\\d\\d):(\\d\\d)';

/** Sun, 06 Nov 1994 08:49:37 GMT */
const imfFixdate = new RegExp(`^(?:${dayNames}), (\\d\\d) ${month} (\\d{4}) ${time} GMT$`);
/** Sunday, 06-Nov-94 08:49:37 GMT */
const rfc850 = new RegExp(`^(?:${longDayNames}), (\\d\\d)-${month}-(\\d\\d) ${time} GMT$`);
/** Sun Nov  6 08:49:37 1994 (the day is two digits or a space and one digit) */
const asctime = new RegExp(`^(?:${dayNames}) ${month} (\\d\\d| \\d) ${time} (\\d{4})$`);

/**
 * The time (ms since the epoch) an HTTP-date names, or NaN when the value is not one.
 * `now` (ms) places an rfc850 two-digit year: more than 50 years ahead of it means the
 * century before. The day name is not checked against the date (the grammar does not
 * tie them together).
 */
export function parseHttpDate(value: string, now: number): number {
  const text = value.replace(/^[ \t]+|[ \t]+$/g, '');
  let m = imfFixdate.exec(text);
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  m = asctime.exec(text);
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]), m[3]!, m[4]!, m[5]!);
  m = rfc850.exec(text);
  if (m) {
    const thisYear = new Date(now).getUTCFullYear();
    let year = thisYear - (thisYear % 100) + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    else if (year <= thisYear - 50) year += 100;
    return utc(year, m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  }
  return NaN;
}

function utc(year: number, monthName: string, day: number, hour: string, minute: string, second: string): number {
  const h = Number(hour);
  const min = Number(minute);
  // 60 is a leap second (RFC 5322 3.3); the time is then the next second's.
  const s = Number(second);
  if (h > 23 || min > 59 || s > 60) return NaN;
  const mon = months.indexOf(monthName);
  // setUTCFullYear, not Date.UTC: that one reads years 0 to 99 as 1900 to 1999.
  const d = new Date(0);
  d.setUTCFullYear(year, mon, day);
  if (day < 1 || d.getUTCMonth() !== mon) return NaN;
  d.setUTCHours(h, min, s, 0);
  return d.getTime();
}
