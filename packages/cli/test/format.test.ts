import { describe, expect, it } from 'vitest';
import { duration, printable, table } from '../src/format.js';

describe('format helpers', () => {
  it('writes durations in words', () => {
    expect(duration(0)).toBe('0 seconds');
    expect(duration(60)).toBe('1 minute');
    expect(duration(7_776_000)).toBe('90 days');
    expect(duration(93_784)).toBe('1 day 2 hours 3 minutes 4 seconds');
  });

  it('aligns columns and neutralises control characters', () => {
    expect(
      table(
        ['id', 'label'],
        [
          ['1', 'a\nb'],
          ['22', 'c'],
        ],
      ),
    ).toEqual(['id  label', '1   a?b', '22  c']);
    expect(printable('\u001b[2Jx\t')).toBe('?[2Jx?');
  });
});
