/**
 * A consumer project's tsconfig.json, as the README's Quick start is compiled in the tests
 * (test/readme.test.ts, test/await-using.test.ts, test/integration/package.test.ts): NodeNext
 * modules, strict, the given target (ES2022 by default, with `ESNext.Disposable` for
 * `await using`), Node's types from this checkout.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Writes `<project>/tsconfig.json` compiling `<project>/*.ts` into `<project>/out`. */
export function writeConsumerTsconfig(project: string, target = 'ES2022', extra: Record<string, unknown> = {}): void {
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target,
        lib: [target === 'ESNext' ? 'ESNext' : target, 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        outDir: 'out',
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
        ...extra,
      },
      include: ['*.ts'],
    }),
  );
}
