/**
 * A `.ts` factory module, on whatever Node runs this test (CI runs Node 20, 22 and 24): where
 * Node strips types (22.18+, 24: `process.features.typescript`), it is hosted and answers with
 * no flag and no loader; where it does not (Node 20), `proxy()` fails at once with a
 * FactoryError that names the remedies, not a bare "Unknown file extension".
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { closeRemote, FactoryError } from '../../dist/src/index.js';
import { service } from '../support/clients.js';
import { FIXTURES } from '../support/daemon.js';

const COUNTER_TS = pathToFileURL(join(FIXTURES, 'counter.ts')).href;
const PARAMETER_PROPERTY_TS = pathToFileURL(join(FIXTURES, 'parameter-property.ts')).href;

/** True when this Node imports .ts files by itself. */
const nodeStripsTypes = ['strip', 'transform'].includes(String((process.features as { typescript?: unknown }).typescript));

interface TypedCounter {
  inc(): number;
}

/** The error `proxy()` rejected with, or a failure if it resolved. */
async function proxyError(factory: string): Promise<FactoryError> {
  const error = await service<TypedCounter>({}, factory)
    .proxy()
    .then(
      () => new Error('proxy() resolved'),
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(FactoryError);
  return error as FactoryError;
}

describe(`a .ts factory module on Node ${process.version} (${nodeStripsTypes ? 'strips types' : 'does not strip types'})`, () => {
  it(nodeStripsTypes ? 'is hosted natively, no flag and no loader' : 'fails with a FactoryError that names the remedies', async () => {
    if (nodeStripsTypes) {
      const svc = service<TypedCounter>({ args: [10, { step: 2 }] }, `${COUNTER_TS}:TypedCounter`);
      const counter = await svc.proxy();
      expect(await counter.inc()).toBe(12);
      expect(await counter.inc()).toBe(14);
      expect((await svc.ping()).execArgv).not.toContain('--experimental-strip-types');
      await closeRemote(counter);
    } else {
      const error = await proxyError(`${COUNTER_TS}:TypedCounter`);
      expect(error.code).toBe('ERR_FACTORY');
      expect(error.remoteCode).toBe('ERR_UNKNOWN_FILE_EXTENSION');
      expect(error.message).toContain('counter.ts is TypeScript');
      expect(error.message).toContain('Node 22.18+ or 24');
      expect(error.message).toContain('--import tsx');
      expect(error.message).toContain('`execArgv` option');
    }
  });

  it('syntax that type stripping cannot erase fails with a FactoryError that says so, or as above', async () => {
    const error = await proxyError(`${PARAMETER_PROPERTY_TS}:ParameterProperty`);
    expect(error.code).toBe('ERR_FACTORY');
    if (nodeStripsTypes) {
      expect(error.remoteCode).toBe('ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX');
      expect(error.message).toContain('parameter-property.ts uses TypeScript that Node');
      expect(error.message).toContain('erasableSyntaxOnly');
      expect(error.message).toContain('--experimental-transform-types');
    } else {
      expect(error.remoteCode).toBe('ERR_UNKNOWN_FILE_EXTENSION');
      expect(error.message).toContain('Node 22.18+ or 24');
    }
  });
});
