/**
 * What `npm run diagrams` writes into diagrams/: one Mermaid file and one SVG per statechart
 * in machines/ and a README that shows them all. No fs, so tests can regenerate in memory
 * and compare with what is committed. The SVGs need Graphviz (WebAssembly), which svg.ts
 * loads only when `renderDiagrams` runs, never on import.
 */
import { clientMachine } from '../../machines/client.machine.js';
import type { AnyStateMachine } from 'xstate';
import { daemonMachine } from '../../machines/daemon.machine.js';
import { clientHandshakeMachine } from '../../machines/client-handshake.machine.js';
import { daemonHandshakeMachine } from '../../machines/daemon-handshake.machine.js';
import { mailboxMachine } from '../../machines/mailbox.machine.js';
import { supervisorMachine } from '../../machines/supervisor.machine.js';
import { toDot } from './dot.js';
import { toMermaid } from './mermaid.js';
import { renderSvg } from './svg.js';

/** One statechart to draw. */
export interface DiagramSource {
  /** File stem in diagrams/ (`<name>.mmd`, `<name>.svg`) and in machines/ (`<name>.machine.ts`). */
  readonly name: string;
  readonly machine: AnyStateMachine;
  /** One paragraph for the README: what the machine governs and how to read it. */
  readonly summary: string;
}

/** Every machine that gets a diagram, in README order. Add a machine here and nowhere else. */
export const DIAGRAM_SOURCES: readonly DiagramSource[] = [
  {
    name: 'client',
    machine: clientMachine,
    summary:
      'One connect attempt of a client, bounded by `startTimeout`. `discovering` reads the metadata and ' +
      '`connecting` runs the handshake with the daemon it names. When there is none, or it is stale, dead or ' +
      'foreign, the client waits in `locking` for the spawn lock (or goes back to discovering when a daemon ' +
      'gets published meanwhile). Inside `locked` the lock is held: `rechecking` looks once more, ' +
      '`cleaningStale` removes what a dead daemon left, `spawning` and `awaitingReady` start the daemon and ' +
      "wait for its boot report, and `connecting` shakes hands with it. With `onMismatch: 'replace'`, a daemon " +
      'running another factory is asked to drain in `replacing` before the new one is spawned. Leaving `locked`, ' +
      'whichever way, releases the lock. A factory error, a factory mismatch or another protocol version ends ' +
      'in `failed`.',
  },
  {
    name: 'supervisor',
    machine: supervisorMachine,
    summary:
      'A proxy supervising its daemon, as an OTP supervisor supervises a child. While `connected`, calls go ' +
      'straight to the connection and never enter this machine. When the daemon is lost, calls in flight ' +
      'reject (they are never replayed) and the proxy is `disconnected`; the next call restarts the daemon in ' +
      '`reconnecting` (rediscover, respawn under the lock, re-handshake). More than `maxRestarts` restarts ' +
      'within `periodMs` put the proxy in `backingOff`, where calls fail fast with `RestartLimitError` until ' +
      'the period has passed. With `restart: false` a lost daemon leaves the proxy `failed`.',
  },
  {
    name: 'daemon',
    machine: daemonMachine,
    summary:
      'The daemon process from start to exit. In `starting`, `booting` imports the factory and constructs ' +
      'the hosted object, `binding` opens the socket and `publishing` writes the metadata, all of it bounded ' +
      'by one `bootTimeout`. `serving` is `busy` while an authenticated connection is open and `idle` otherwise; ' +
      'an idle daemon drains itself after `idleTtl`. `draining` stops accepting, unpublishes, answers every ' +
      'accepted call and closes the connections before `stopped`. A shutdown request drains the daemon ' +
      'early, even during start-up (a forced one skips the wait for queued calls), and a crash in any state ' +
      'ends in `failed`.',
  },
  {
    name: 'client-handshake',
    machine: clientHandshakeMachine,
    summary:
      "One connection's handshake, client side, bounded by `handshakeTimeout` (the connect + handshake " +
      'budget). Once the socket connects it sends `hello`; in `awaitingChallenge` it believes nothing before ' +
      "the challenge's proof verifies (`unauthenticated` otherwise), and only then its version (`checkingVersion`: " +
      '`versionDiffers`, or `auth` and `awaitingWelcome`). Before the daemon has proved itself, only a signed ' +
      'version refusal is believed (`versionRefused`); any other refusal is `refusedUnproven`, a foreign or ' +
      'stale listener. After it, a refusal is `rejected` as the daemon states it. Every other ending is a final ' +
      'state named for it; the runtime turns it into the error `Connection.open` rejects with.',
  },
  {
    name: 'daemon-handshake',
    machine: daemonHandshakeMachine,
    summary:
      "One accepted connection's handshake, daemon side, bounded by `handshakeTimeout` (`handshakeTimeoutMs` " +
      'from accept). A `hello` of another version is refused (signed when its nonce is readable); one of ours ' +
      'has its nonce checked (`checkingNonce`) and gets the challenge. In `awaitingAuth` a proof that verifies ' +
      'is welcomed (`authenticated`: the runtime opens the connection); any other is refused with ' +
      '`ERR_AUTH_FAILED`. Out-of-phase or invalid frames close the connection with their protocol error; the ' +
      'deadline and the admission (the oldest of too many awaiting their handshake is `evicted`) drop it.',
  },
  {
    name: 'mailbox',
    machine: mailboxMachine,
    summary:
      "The hosted object's only door. While `accepting`, calls are admitted (per-call admission is a plain " +
      'check in src/, not an event of this machine). A graceful `mailbox.close` moves it to `draining`, ' +
      'where every admitted call still runs until `awaitIdle` settles; a forced close rejects the waiting ' +
      'calls without running them and closes at once.',
  },
];

/** The generated-file notice (a Mermaid comment once prefixed with `%% `). */
function notice(name: string): string {
  return `Generated from machines/${name}.machine.ts by \`npm run diagrams\`. Do not edit by hand.`;
}

function readme(diagrams: ReadonlyArray<{ source: DiagramSource; mermaid: string }>): string {
  const sections = diagrams.map(({ source, mermaid }) =>
    [`## ${source.name}`, '', source.summary, '', `![The ${source.name} statechart](${source.name}.svg)`, '', '```mermaid', mermaid.trimEnd(), '```', ''].join('\n'),
  );
  return [
    '# Statechart diagrams',
    '',
    'Generated by `npm run diagrams` from the statecharts in `machines/`. Do not edit these files by hand:',
    'change the machine and run `npm run diagrams` again (`test/diagrams.test.ts` fails while they are stale).',
    '',
    'How to read them: an arrow is labelled with the event type that takes it; `after <delay>` is a',
    'timeout (a named delay of the machine), `done: <id>` / `error: <id>` is the invoked actor `<id>`',
    'finishing or failing, and `[guard]` names the guard that must hold. An arrow with no event is',
    'taken as soon as its guard holds (`always`). An arrow back to its own state is an event handled',
    'without leaving it. Actions are not drawn: read the machine for those.',
    '',
    'Each machine is drawn twice from the same walk of its states: an SVG laid out by Graphviz',
    '(`<name>.svg`, shown first) and the Mermaid source it matches (`<name>.mmd`, rendered by GitHub).',
    'In the SVGs a compound state is a box with its name on top, where its own arrows start; the',
    'events it handles without leaving it are listed under that name. A black dot marks where a box',
    'is entered and a final state has a double border. Transitions between the same two states share',
    'one arrow, a label line each; `error:` arrows are red and timeouts dashed.',
    '',
    ...sections,
  ].join('\n');
}

/**
 * Renders every diagram file: `<name>.mmd` and `<name>.svg` per machine and `README.md`,
 * keyed by file name relative to diagrams/. Deterministic (for the Graphviz build in the
 * lockfile), so the result can be compared with the committed files.
 *
 * @example
 * ```ts
 * for (const [file, content] of await renderDiagrams()) writeFileSync(join(dir, file), content);
 * ```
 */
export async function renderDiagrams(sources: readonly DiagramSource[] = DIAGRAM_SOURCES): Promise<Map<string, string>> {
  const diagrams = sources.map((source) => ({ source, mermaid: toMermaid(source.machine) }));
  const files = new Map<string, string>();
  for (const { source, mermaid } of diagrams) {
    // The notice goes after the header line, where every Mermaid version takes `%%` as a comment.
    const [header, ...rest] = mermaid.split('\n');
    files.set(`${source.name}.mmd`, [header, `  %% ${notice(source.name)}`, ...rest].join('\n'));
    files.set(`${source.name}.svg`, await renderSvg(toDot(source.machine), notice(source.name)));
  }
  files.set('README.md', readme(diagrams));
  return files;
}
