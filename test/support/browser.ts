/**
 * Headless Chromium for the page tests: Debian's `chromium` package (.ci/run installs it),
 * driven by playwright-core through its executable path. No browser is downloaded.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { onTestFinished } from 'vitest';

/** Where Chromium is: `CHROMIUM_PATH`, else Debian's. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Launches headless Chromium, or fails saying how to get it. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium), or set CHROMIUM_PATH to a Chromium binary`);
  }
  // The background services would try the network, which a test machine may not have.
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

/** `loopback-singleton inspect` as a real process; resolves with the address it printed. Stopped when the test ends. */
export async function startInspectorCli(root: string, args: readonly string[] = []): Promise<string> {
  const child = spawn(process.execPath, [CLI, 'inspect', '--runtime-dir', root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    await exited;
  });
  return new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const url = /^inspector: (\S+)$/m.exec(output)?.[1];
      if (url !== undefined) resolve(url);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    void exited.then(() => reject(new Error(`the inspector exited before printing its address:\n${output}`)));
  });
}
