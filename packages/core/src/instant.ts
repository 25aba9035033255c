import { z } from 'zod';

const EARLIEST = Date.parse('0001-01-01T00:00:00Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * An instant as the API takes it: ISO 8601 with `Z` or an offset, between 0001-01-01 and
 * 9999-12-31 in UTC. The format alone admits year 0000 (and an offset can move 0001-01-01 or
 * 9999-12-31 past either end), which PostgreSQL's timestamps have no year for and which would
 * not survive the trip back to ISO 8601's four-digit years.
 */
export const InstantInput = z.iso.datetime({ offset: true }).refine(
  (text) => {
    const at = Date.parse(text);
    return at >= EARLIEST && at <= LATEST;
  },
  { message: 'must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z' },
);
