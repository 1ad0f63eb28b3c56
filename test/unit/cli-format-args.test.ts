/**
 * The CLI's pure helpers: how it words state values, durations and tables
 * (src/cli/format.ts), and how it parses and refuses arguments (src/cli/args.ts), row by row.
 */
import { describe, expect, it } from 'vitest';
import { CliFailure, findCommand, parseLine, parseMs, parseName, parsePath, UsageError } from '../../src/cli/args.js';
import { formatDuration, formatNode, formatState, formatTable } from '../../src/cli/format.js';

describe('formatState', () => {
  it.each([
    ['idle', 'idle'],
    [{ serving: 'busy' }, 'serving.busy'],
    [{ draining: { answering: 'waiting' } }, 'draining.answering.waiting'],
    [{ a: 'x', b: { c: 'y' } }, '(a.x, b.c.y)'],
    [undefined, 'undefined'],
    [null, 'null'],
    [3, '3'],
  ])('%j -> %s', (value, words) => {
    expect(formatState(value)).toBe(words);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [849.6, '850ms'],
    [999, '999ms'],
    [1000, '1s'],
    [59_999, '59s'],
    [60_000, '1m00s'],
    [185_000, '3m05s'],
    [3_599_999, '59m59s'],
    [3_600_000, '1h00m'],
    [7_620_000, '2h07m'],
    [86_399_999, '23h59m'],
    [86_400_000, '1d00h'],
    [273_600_000, '3d04h'],
    [-1, '-'],
    [Number.NaN, '-'],
    [Number.POSITIVE_INFINITY, '-'],
  ])('%d ms -> %s', (ms, words) => {
    expect(formatDuration(ms)).toBe(words);
  });
});

describe('formatNode and formatTable', () => {
  it('a Node version with its flags, in one cell', () => {
    expect(formatNode('v20.1.0', [])).toBe('v20.1.0');
    expect(formatNode('v20.1.0', ['--conditions=dev', '--trace'])).toBe('v20.1.0 --conditions=dev --trace');
  });

  it('left-aligned columns two spaces apart, the last one not padded, a missing cell empty', () => {
    expect(
      formatTable(
        ['A', 'LONG', 'Z'],
        [
          ['xyz', 'b', 'last'],
          ['1', 'longer cell'],
          ['', '', ''],
        ],
      ),
    ).toBe(`${['A    LONG         Z', 'xyz  b            last', '1    longer cell', ''].join('\n')}\n`);
  });
});

describe('the argument layer', () => {
  const options = { json: { type: 'boolean' }, out: { type: 'string' } } as const;

  it('parses a strict line, and refuses what it does not know in one lower-cased line naming the command', () => {
    expect(parseLine(['--json', 'a', '--out', 'd'], options, true, 'list')).toEqual({ values: { json: true, out: 'd' }, positionals: ['a'] });
    const unknown = (() => {
      try {
        parseLine(['--nope'], options, true, 'list');
      } catch (error) {
        return error;
      }
    })();
    expect(unknown).toBeInstanceOf(UsageError);
    expect((unknown as UsageError).exitCode).toBe(2);
    expect((unknown as Error).message).toMatch(/^list: unknown option '--nope'$/);
    expect(() => parseLine(['a'], options, false, undefined)).toThrow(/^unexpected argument 'a'$/);
    expect(() => parseLine(['--out'], options, false, 'clean')).toThrow(/^clean: option '--out <value>' argument missing$/);
  });

  it('lets an error that is not a parse error through unchanged', () => {
    const options = { bad: { type: 'nonsense' } } as unknown as Parameters<typeof parseLine>[1];
    expect(() => parseLine([], options, false, 'x')).toThrow(expect.not.objectContaining({ name: 'UsageError' }));
  });

  it('finds the command past the options that take a value; none after --', () => {
    expect(findCommand(['--runtime-dir', 'list', 'ping', 'x'], { 'runtime-dir': { type: 'string' } })).toBe(2);
    expect(findCommand(['--json', 'ping'], { json: { type: 'boolean' } })).toBe(1);
    expect(findCommand(['--', 'ping'], {})).toBe(-1);
    expect(findCommand([], {})).toBe(-1);
  });

  it('checks names, ms and paths, naming the option and the value', () => {
    expect(parseName('svc')).toBe('svc');
    expect(() => parseName('../x')).toThrow(/^invalid singleton name: /);
    expect(parseMs('timeout', '0', 0, 10)).toBe(0);
    expect(parseMs('timeout', '10', 0, 10)).toBe(10);
    for (const bad of ['11', '-1', '1.5', '', '1e3', '9007199254740993']) {
      expect(() => parseMs('timeout', bad, 0, 10)).toThrow(`expected \`--timeout\` to be a whole number of ms between 0 and 10, got ${JSON.stringify(bad)}`);
    }
    expect(() => parseMs('timeout', '4', 5, 10)).toThrow(UsageError);
    expect(parsePath('out', ' d ')).toBe(' d ');
    expect(() => parsePath('out', '  ')).toThrow('expected `--out` to be a directory, got an empty string');
  });

  it('a failure to carry a command out exits 1', () => {
    expect(new CliFailure('x')).toMatchObject({ name: 'CliFailure', exitCode: 1, message: 'x' });
    expect(new UsageError('y')).toMatchObject({ name: 'UsageError', exitCode: 2 });
  });
});
