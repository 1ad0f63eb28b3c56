import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../../src/version.js';

describe('version', () => {
  it("PACKAGE_VERSION equals package.json's version", () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(PACKAGE_VERSION).toBe(pkg.version);
  });

  it('PROTOCOL_VERSION is a positive integer', () => {
    expect(Number.isSafeInteger(PROTOCOL_VERSION) && PROTOCOL_VERSION > 0).toBe(true);
  });
});
