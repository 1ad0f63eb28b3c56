/**
 * What each command accepts and says about itself. Pure data: main.ts parses and answers
 * `--help` from here, and loads a command's implementation only once its arguments are
 * valid, so a bad command line never loads the protocol stack.
 */
import type { OptionSpecs } from './args.js';
import type { CommandModule } from './types.js';

/** One option, with what `--help` says about it. */
export interface OptionDoc {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Placeholder of a string option's value in the help, e.g. `ms`. */
  readonly value?: string;
  readonly help: string;
}

/** One command of the CLI. */
export interface CommandSpec {
  readonly name: string;
  /** One line for the top-level help. */
  readonly summary: string;
  /** Arguments after the command name, for the usage line. */
  readonly synopsis: string;
  /** What the command does, for its own `--help`. */
  readonly description: string;
  readonly options: Readonly<Record<string, OptionDoc>>;
  /** How many positionals it takes. */
  readonly positionals: { readonly min: number; readonly max: number; readonly label: string };
  readonly load: () => Promise<CommandModule>;
}

/** Options every command (and the top level) accepts. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionDoc>> = {
  'runtime-dir': {
    type: 'string',
    value: 'dir',
    help: 'runtime root (default: $LOOPBACK_SINGLETON_RUNTIME_DIR, $XDG_RUNTIME_DIR/loopback-singleton or ~/.cache/loopback-singleton)',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

/** Help text is wrapped to this many columns. */
const HELP_WIDTH = 92;

const JSON_OPTION: OptionDoc = { type: 'boolean', help: 'print JSON instead of text' };
const NAME = { min: 1, max: 1, label: 'name' } as const;

/** Every command, in help order. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'list',
    summary: 'every singleton under the runtime root, live or stale',
    synopsis: '[--json] [--registry <endpoints> [--secret-env <name>] [--tls-cert <file> --tls-key <file> --tls-ca <file>] [--timeout <ms>]]',
    description:
      'Lists every singleton directory under the runtime root with its status: alive (answered a ping), ' +
      'unresponsive (its pid runs but it did not answer), stale (metadata left by a daemon that is gone) or ' +
      'absent (no daemon). Live rows show the daemon state, address, connections and queued calls, uptime ' +
      "and version, asked over the daemon's protocol. The CLI connects as an observer, which the daemon does " +
      'not count: CONNS is its clients only, and looking never keeps an idle daemon alive. With --registry, ' +
      'lists the cluster singletons an etcd cluster records instead (scope: cluster): for each, the daemon that ' +
      'holds its place (its machine, address and pid), its fencing token, the daemons waiting behind it and a ' +
      'start under way (needs the optional peer dependency etcd3); and each serving daemon probed over its ' +
      'protocol, in parallel, as an observer: PROBE is reachable (with its live STATE and CONNS), refused (it ' +
      'answered no: another secret, another CA, TLS needed; NOTE says what it said), timeout or unreachable. ' +
      'Probing needs the cluster secret, read from the environment variable LOOPBACK_SINGLETON_SECRET (or the ' +
      'one --secret-env names), never from the command line, where ps shows it to every user; without it, ' +
      'daemons are listed as not probed. Daemons off loopback need --tls-cert, --tls-key and --tls-ca. An etcd ' +
      'that does not answer exits 1 with one line naming the endpoints.',
    options: {
      json: JSON_OPTION,
      registry: { type: 'string', value: 'endpoints', help: "an etcd cluster's client endpoints, e.g. etcd://10.0.0.1:2379,10.0.0.2:2379" },
      'secret-env': {
        type: 'string',
        value: 'name',
        help: 'with --registry: the environment variable holding the cluster secret (default: LOOPBACK_SINGLETON_SECRET); never pass the secret itself',
      },
      'tls-cert': { type: 'string', value: 'file', help: "with --registry: this machine's certificate (PEM), for daemons over TLS" },
      'tls-key': { type: 'string', value: 'file', help: 'with --registry: its private key (PEM)' },
      'tls-ca': { type: 'string', value: 'file', help: "with --registry: the CA (PEM) that issued the daemons' certificates" },
      timeout: { type: 'string', value: 'ms', help: "with --registry: the deadline of one daemon's probe (default: 1500)" },
    },
    positionals: { min: 0, max: 0, label: '' },
    load: () => import('./list.js'),
  },
  {
    name: 'ping',
    summary: "a running daemon's live info",
    synopsis: '<name> [--json]',
    description:
      "Pings the daemon of singleton <name> and prints its live info; --json prints the daemon's info object " +
      'as it sends it (the CLI connects as an observer: it is not counted in `active` and never keeps the daemon alive). Exits 1 when no daemon runs.',
    options: { json: JSON_OPTION },
    positionals: NAME,
    load: () => import('./ping.js'),
  },
  {
    name: 'stop',
    summary: 'stop a daemon (graceful by default) and wait until its process is gone',
    synopsis: '<name> [--force] [--timeout <ms>]',
    description:
      'Asks the daemon of singleton <name> to shut down and waits until its process has exited. Graceful by ' +
      'default: it stops accepting, answers every call it already accepted (within its drain deadline), exits and ' +
      'removes its metadata. With --force, the recorded process is stopped whatever it is doing: queued calls are ' +
      'rejected, and it is killed (SIGKILL) if it still runs after a short grace; its files are removed. Exits 1 ' +
      'when no daemon runs, or when it is still running after --timeout (it goes on draining).',
    options: {
      force: { type: 'boolean', help: 'reject queued calls and kill the process if it does not exit at once' },
      timeout: { type: 'string', value: 'ms', help: 'how long to wait for the process to exit (default: 30000)' },
    },
    positionals: NAME,
    load: () => import('./stop.js'),
  },
  {
    name: 'watch',
    summary: 'follow state, connections, queue depth and calls/s live',
    synopsis: '<name> [--interval <ms>]',
    description:
      'Pings the daemon of singleton <name> every --interval ms over one connection and shows its state, ' +
      'connections (not counting this one), queued and running calls, calls/s and calls served: redrawn in ' +
      'place on a terminal, one line per sample otherwise. Runs until Ctrl-C or until the daemon goes away, ' +
      'then prints a final line and exits 0. It connects as an observer: watching never keeps the daemon alive, ' +
      'which idles out as it would unwatched.',
    options: { interval: { type: 'string', value: 'ms', help: 'time between samples (default: 1000)' } },
    positionals: NAME,
    load: () => import('./watch.js'),
  },
  {
    name: 'inspect',
    summary: 'a live statechart inspector in the browser (local, offline)',
    synopsis: '[<name>...] [--port <n>] [--open] [--records <file>]',
    description:
      'Serves a web page on 127.0.0.1 that draws the statecharts of the singletons under the runtime root (or ' +
      "only the <name>s given) with each live actor's current state marked, a timeline of transitions across " +
      "processes, and each daemon's figures (connections, queued and running calls, calls/s, memory, uptime, start " +
      "reason, per-call records; a failed or vanished daemon's error and the tail of its log). It prints the " +
      "page's address, which carries a random token: only that address is served. Daemons are followed over " +
      'their protocol as an observer (never counted, never kept alive); client processes are followed through ' +
      'the NDJSON file they write when LOOPBACK_SINGLETON_INSPECT is set (--records, default: that variable). ' +
      'Every asset ships in the package: it works with no network. Runs until Ctrl-C.',
    options: {
      port: { type: 'string', value: 'n', help: 'port on 127.0.0.1 (default: 0, any free port)' },
      open: { type: 'boolean', help: "open the page in the desktop's browser" },
      records: { type: 'string', value: 'file', help: 'NDJSON transitions of client processes (default: $LOOPBACK_SINGLETON_INSPECT)' },
    },
    positionals: { min: 0, max: 64, label: 'name' },
    load: () => import('./inspect.js'),
  },
  {
    name: 'logs',
    summary: "print a daemon's log (daemon.log.1, then daemon.log)",
    synopsis: '<name> [--follow]',
    description:
      'Prints the log of singleton <name> from its runtime directory: daemon.log.1 (the older, rotated part) ' +
      'first if there is one, then daemon.log. With --follow, keeps printing the lines appended to it, ' +
      'across rotations, until Ctrl-C. Exits 1 when there is no such singleton, or (without --follow) no log yet. ' +
      'Reads the files only: it never connects to the daemon.',
    options: { follow: { type: 'boolean', short: 'f', help: 'keep printing appended lines until Ctrl-C' } },
    positionals: NAME,
    load: () => import('./logs.js'),
  },
  {
    name: 'diagrams',
    summary: "write the statechart diagrams of the library's machines",
    synopsis: '[--out <dir>]',
    description: "Generates the diagrams of the library's statecharts (the files `npm run diagrams` writes into the repository's diagrams/) into --out.",
    options: { out: { type: 'string', value: 'dir', help: 'where to write them (default: ./diagrams)' } },
    positionals: { min: 0, max: 0, label: '' },
    load: () => import('./diagrams.js'),
  },
  {
    name: 'clean',
    summary: 'remove runtime dirs whose daemon is dead or absent',
    synopsis: '[<name>] [--json]',
    description:
      'Removes the runtime directory of every singleton (or only <name>) whose daemon is dead or absent. ' +
      'Never a live one: a directory is kept when its daemon answers or its pid still runs, when a start ' +
      'is in progress (a fresh spawn.lock), or when it holds files that are not runtime files.',
    options: { json: JSON_OPTION },
    positionals: { min: 0, max: 1, label: 'name' },
    load: () => import('./clean.js'),
  },
];

/** parseArgs' option config for `docs`. */
export function parseOptions(docs: Readonly<Record<string, OptionDoc>>): OptionSpecs {
  const specs: OptionSpecs = {};
  for (const [name, { type, short }] of Object.entries(docs)) specs[name] = short === undefined ? { type } : { type, short };
  return specs;
}

/** `text` broken into lines of at most `width` characters. */
function wrap(text: string, width = HELP_WIDTH): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join('\n');
}

function optionLines(docs: Readonly<Record<string, OptionDoc>>): string {
  const rows = Object.entries(docs).map(([name, doc]) => [`${doc.short ? `-${doc.short}, ` : ''}--${name}${doc.value ? ` <${doc.value}>` : ''}`, doc.help] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  const indent = `\n${' '.repeat(width + 4)}`;
  return rows.map(([left, help]) => `  ${left.padEnd(width)}  ${wrap(help, HELP_WIDTH - width - 4).replaceAll('\n', indent)}`).join('\n');
}

/** The `--help` text of `spec`. */
export function commandHelp(spec: CommandSpec): string {
  return [
    `Usage: loopback-singleton ${spec.name} ${spec.synopsis} [--runtime-dir <dir>]`.replace(/ +/g, ' '),
    '',
    wrap(spec.description),
    '',
    'Options:',
    optionLines({ ...spec.options, ...GLOBAL_OPTIONS }),
    '',
  ].join('\n');
}

/** The top-level `--help` text. */
export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((spec) => spec.name.length));
  return [
    'Usage: loopback-singleton <command> [options]',
    '',
    'Inspect and manage loopback-singleton daemons: the processes that host one shared object for',
    'local processes on 127.0.0.1.',
    '',
    'Commands:',
    ...COMMANDS.map((spec) => `  ${spec.name.padEnd(width)}  ${spec.summary}`),
    '',
    'Options:',
    optionLines({ ...GLOBAL_OPTIONS, version: { type: 'boolean', help: 'print the package version' } }),
    '',
    "Run 'loopback-singleton <command> --help' for a command's options.",
    'Exit codes: 0 done, 1 the operation failed (e.g. no daemon running), 2 bad arguments.',
    '',
  ].join('\n');
}
