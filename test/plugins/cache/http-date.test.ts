import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseHttpDate } from '../../../plugins/cache/http-date.ts';

// A reading of the clock in 2026: rfc850 years more than 50 years ahead of it are the century before.
const now = Date.UTC(2026, 11, 7, 17, 0, 0);

describe('cache: HTTP-date, exactly as RFC 9110 5.6.7 writes it', () => {
  const valid: [string, string][] = [
    ['Sun, 06 Nov 1994 08:49:37 GMT', '1994-11-06T08:49:37.000Z'],
    ['Sunday, 06-Nov-94 08:49:37 GMT', '1994-11-06T08:49:37.000Z'],
    ['Sun Nov  6 08:49:37 1994', '1994-11-06T08:49:37.000Z'],
    ['Sun Nov 16 08:49:37 1994', '1994-11-16T08:49:37.000Z'],
    ['Thu, 01 Dec 2050 16:00:00 GMT', '2050-12-01T16:00:00.000Z'],
    ['Thu, 29 Feb 2024 00:00:00 GMT', '2024-02-29T00:00:00.000Z'],
    ['Fri, 31 Dec 9999 23:59:59 GMT', '9999-12-31T23:59:59.000Z'],
    ['Sat, 01 Jan 0050 00:00:00 GMT', '0050-01-01T00:00:00.000Z'],
    ['Wednesday, 01-Jan-70 00:00:00 GMT', '2070-01-01T00:00:00.000Z'],
    ['Tuesday, 01-Jan-80 00:00:00 GMT', '1980-01-01T00:00:00.000Z'],
    ['Thursday, 01-Jan-76 00:00:00 GMT', '2076-01-01T00:00:00.000Z'],
    ['Saturday, 01-Jan-77 00:00:00 GMT', '1977-01-01T00:00:00.000Z'],
    // a leap second is the next second
    ['Sat, 31 Dec 2016 23:59:60 GMT', '2017-01-01T00:00:00.000Z'],
    // surrounding whitespace is not part of a field value
    [' Sun, 06 Nov 1994 08:49:37 GMT\t', '1994-11-06T08:49:37.000Z'],
    // the grammar does not tie the day name to the date
    ['Mon, 06 Nov 1994 08:49:37 GMT', '1994-11-06T08:49:37.000Z'],
  ];
  for (const [text, iso] of valid) {
    it(`reads ${JSON.stringify(text)}`, () => {
      assert.equal(new Date(parseHttpDate(text, now)).toISOString(), iso);
    });
  }

  const invalid = [
    'Thu, 01 Dec 2050 16:00:00 UTC',
    'Thu, 01 Dec 2050 16:00:00 +0000',
    'Thu, 01 Dec 2050 16:00:00',
    'Thu 01 Dec 2050 16:00:00 GMT',
    'Thu,  01 Dec 2050 16:00:00 GMT',
    'Thu, 01  Dec 2050 16:00:00 GMT',
    'Thu, 01 Dec  2050 16:00:00 GMT',
    'Thu, 01 Dec 2050  16:00:00 GMT',
    'Thu, 01-Dec-2050 16:00:00 GMT',
    'Thu, 1 Dec 2050 16:00:00 GMT',
    'Thu, 01 Dec 50 16:00:00 GMT',
    'Thu, 01 Dec 2050 6:00:00 GMT',
    'Thu, 01 Dec 2050 16:0:00 GMT',
    'Thu, 01 Dec 2050 16:00 GMT',
    'Thu, 01 Dec 2050 16:00:00 gmt',
    'thu, 01 Dec 2050 16:00:00 GMT',
    'Thu, 01 dec 2050 16:00:00 GMT',
    'Thursday, 01 Dec 2050 16:00:00 GMT',
    'Thu, 01 December 2050 16:00:00 GMT',
    'Thu, 32 Dec 2050 16:00:00 GMT',
    'Thu, 00 Dec 2050 16:00:00 GMT',
    'Tue, 29 Feb 2050 16:00:00 GMT',
    'Thu, 31 Apr 2050 16:00:00 GMT',
    'Thu, 01 Dec 2050 24:00:00 GMT',
    'Thu, 01 Dec 2050 16:60:00 GMT',
    'Thu, 01 Dec 2050 16:00:61 GMT',
    'Thu, 01 Dec 20500 16:00:00 GMT',
    'Thu, 01 Dec 2050 16:00:00 GMT, Fri, 02 Dec 2050 16:00:00 GMT',
    'Thu, 01 Dec 2050 16:00:00 GMT junk',
    'Thu, 01 Dec 2050 16:00:00.5 GMT',
    'Thu, 01 Dec 2050 16:00:00 GMT+1',
    'Thu, ０１ Dec 2050 16:00:00 GMT',
    'Thu, 01-Dec-50 16:00:00 GMT',
    'Thursday, 01-Dec-2050 16:00:00 GMT',
    'Thursday, 01 Dec 50 16:00:00 GMT',
    'Thursday, 1-Dec-50 16:00:00 GMT',
    'Thu Dec 1 16:00:00 2050',
    'Thu Dec  1 16:00:00 2050 GMT',
    'Thu Dec 01 16:00:00 50',
    'Thursday Dec  1 16:00:00 2050',
    '2050-12-01T16:00:00Z',
    '2050-12-01',
    '2524608000',
    '0',
    '-1',
    '',
    'Thu, 01 Dec 2050',
  ];
  for (const text of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.ok(Number.isNaN(parseHttpDate(text, now)));
    });
  }
});
