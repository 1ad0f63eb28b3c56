/**
 * The client processes' side of the inspector: the NDJSON file that `LOOPBACK_SINGLETON_INSPECT`
 * makes every process (and the daemons they start) append its transitions to. The file is read
 * from where the last read stopped, every {@link POLL_MS}, a bounded amount at a time; a file
 * that shrinks (truncated, replaced) is read again from its start.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isInspectRecord, type InspectorStore } from './model.js';
import type { Changed } from './daemon-source.js';

/** How often the file is looked at: what bounds how late a client's transition shows. */
export const POLL_MS = 50;
/** At most this much is read per look; a longer backlog is read over the next ones. */
export const READ_BYTES = 1024 * 1024;
/** A line longer than this is no record of ours: skipped. */
const MAX_LINE_BYTES = 64 * 1024;

/** Tails one records file until stopped. */
export class RecordsSource {
  readonly #file: string;
  readonly #store: InspectorStore;
  readonly #changed: Changed;
  readonly #accept: (name: string) => boolean;
  #offset = 0;
  #partial = '';
  #timer: NodeJS.Timeout | undefined;
  /** Lines that were not records, for the inspector's own log line. */
  skipped = 0;

  constructor(file: string, store: InspectorStore, changed: Changed, accept: (name: string) => boolean) {
    this.#file = file;
    this.#store = store;
    this.#changed = changed;
    this.#accept = accept;
  }

  start(): void {
    this.read();
    this.#timer = setInterval(() => this.read(), POLL_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Reads what was appended since the last read (at most {@link READ_BYTES}). */
  read(): void {
    let fd: number;
    try {
      fd = openSync(this.#file, 'r');
    } catch {
      return;
    }
    let text: string;
    try {
      const { size } = fstatSync(fd);
      if (size < this.#offset) {
        this.#offset = 0;
        this.#partial = '';
      }
      if (size === this.#offset) return;
      const length = Math.min(size - this.#offset, READ_BYTES);
      const buffer = Buffer.alloc(length);
      const read = readSync(fd, buffer, 0, length, this.#offset);
      this.#offset += read;
      text = this.#partial + buffer.toString('utf8', 0, read);
    } finally {
      closeSync(fd);
    }
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    if (this.#partial.length > MAX_LINE_BYTES) {
      this.#partial = '';
      this.skipped++;
    }
    let applied = false;
    for (const line of lines) {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        this.skipped++;
        continue;
      }
      if (!isInspectRecord(value)) {
        this.skipped++;
        continue;
      }
      if (!this.#accept(value.name)) continue;
      if (this.#store.apply(value) !== undefined) applied = true;
    }
    if (applied) this.#changed();
  }
}
