import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InspectorStore } from '../../src/inspector/model.js';
import { READ_BYTES, RecordsSource } from '../../src/inspector/records-source.js';

function line(to: string, name = 'svc', ts = Date.now(), event = 'e'): string {
  return `${JSON.stringify({ ts, pid: 5, area: 'client', name, actor: 'x:1', type: 'transition', to, event })}\n`;
}

function source(accept: (name: string) => boolean = () => true) {
  const file = join(mkdtempSync(join(tmpdir(), 'lbs-records-')), 'records.ndjson');
  const store = new InspectorStore();
  let changes = 0;
  const reader = new RecordsSource(file, store, () => changes++, accept);
  return { file, store, reader, changes: () => changes };
}

describe('RecordsSource', () => {
  it('reads what was appended since its last read, a line cut in two once it is whole', () => {
    const { file, store, reader, changes } = source();
    reader.read();
    expect(store.size).toBe(0);
    const two = line('connecting', 'svc', 2);
    writeFileSync(file, line('discovering', 'svc', 1) + two.slice(0, 20));
    reader.read();
    expect(store.rows().map((row) => row.to)).toEqual(['discovering']);
    appendFileSync(file, two.slice(20));
    reader.read();
    expect(store.rows().map((row) => row.to)).toEqual(['discovering', 'connecting']);
    expect(changes()).toBe(2);
    reader.read();
    expect(changes()).toBe(2);
  });

  it('skips lines that are not records, and records of singletons it does not show', () => {
    const { file, store, reader } = source((name) => name === 'svc');
    writeFileSync(file, `not json\n{"ts":1}\n${line('discovering', 'other')}${line('connecting')}`);
    reader.read();
    expect(store.rows().map((row) => [row.name, row.to])).toEqual([['svc', 'connecting']]);
    expect(reader.skipped).toBe(2);
  });

  it('reads a file that shrank (replaced or truncated) from its start', () => {
    const { file, store, reader } = source();
    writeFileSync(file, line('discovering', 'svc', 1) + line('connecting', 'svc', 2));
    reader.read();
    writeFileSync(file, line('locking', 'svc', 3));
    reader.read();
    expect(store.rows().map((row) => row.to)).toEqual(['discovering', 'connecting', 'locking']);
  });

  it('reads a long backlog a bounded amount at a time', () => {
    const { file, store, reader } = source();
    const event = 'e'.repeat(400);
    const count = Math.ceil((2.5 * READ_BYTES) / line('s0', 'svc', 0, event).length);
    writeFileSync(file, Array.from({ length: count }, (_, i) => line(`s${i}`, 'svc', i, event)).join(''));
    reader.read();
    const first = store.size;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(count);
    reader.read();
    reader.read();
    expect(store.size).toBe(count);
  });
});
