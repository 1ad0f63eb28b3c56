/**
 * The daemon: the daemon statechart (machines/daemon.machine.ts) with its effects provided.
 * It owns the listening socket, the connections, the mailbox and the runtime files it
 * wrote; it deletes only metadata carrying its own instanceId.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, rmSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { createActor, fromPromise, type Actor } from 'xstate';
import { daemonMachine, DISPOSE_TIMEOUT_MS, type DaemonContext } from '../../machines/daemon.machine.js';
import { errorToWire, type WireError } from '../errors.js';
import { inspector } from '../inspect.js';
import type { BootReport, DaemonConfig } from '../runtime/daemon-config.js';
import { ensurePrivateDir } from '../runtime/dir.js';
import { formatAddress, removeMetadataIf, writeMetadata } from '../runtime/metadata.js';
import { processStartTime } from '../runtime/process.js';
import { loadOrCreateToken } from '../runtime/token.js';
import { proofKey, type ProofKey } from '../wire/auth.js';
import type { DaemonInfo, DaemonMetadata } from '../types.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../version.js';
import { rehearseWire } from '../wire/rehearsal.js';
import { HandshakeAdmission, MAX_HANDSHAKING_CONNECTIONS } from './admission.js';
import { Channel } from './channel.js';
import { DaemonConnection, type ConnectionHost } from './connection.js';
import { DrainSteps, markRecordDraining } from './drain.js';
import { createHostedObject } from './factory.js';
import { DaemonHandshake, type HandshakeHost } from './handshake.js';
import { listen, type BoundAddress } from './listen.js';
import type { DaemonLog } from './log.js';
import { recordedModules, settleRecordedModules } from './module-recorder.js';
import { Mailbox } from './mailbox.js';
import { FileUpkeep } from './upkeep.js';

/** How the daemon's run ended. */
export type DaemonOutcome = 'stopped' | 'failed';

/** How often a serving daemon checks that metadata.json still names it. */
const METADATA_CHECK_MS = 100;

/**
 * The share of the spawner's start budget the daemon keeps for its boot report to reach the
 * spawner: it fails its boot (and logs the step that hung) before the spawner gives up on it.
 */
function reportMargin(budgetMs: number): number {
  return Math.min(2000, Math.max(250, budgetMs / 5));
}

/** One daemon process's runtime. */
export class Daemon implements ConnectionHost, HandshakeHost {
  readonly #config: DaemonConfig;
  readonly #log: DaemonLog;
  readonly #report: (report: BootReport) => void;
  readonly #actor: Actor<typeof daemonMachine>;
  /** The authenticated connections (observers included). */
  readonly #connections = new Set<DaemonConnection>();
  readonly instanceId = randomBytes(16).toString('hex');
  readonly startedAt = Date.now();
  token: Uint8Array = Buffer.alloc(0);
  /** The token as the handshakes' HMAC key, made once at binding. */
  tokenKey: ProofKey = Buffer.alloc(0);
  #mailbox: Mailbox | undefined;
  #server: Server | undefined;
  #address: BoundAddress | undefined;
  /** The ipc socket file bound at boot, for the upkeep to notice it deleted (see ./listen.ts). */
  #socketId: string | undefined;
  #metadata: DaemonMetadata | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  /** Keeps metadata.json, the token and the ipc socket true while serving; made at publishing. */
  #upkeep: FileUpkeep | undefined;
  /** Servers replaced by a re-bind: each resolves once the connections it accepted have ended. */
  readonly #retired: Promise<void>[] = [];
  /** The handshakes under way, and their bound (./admission.ts). */
  readonly #admission = new HandshakeAdmission<DaemonHandshake>();
  /**
   * When its spawner's start budget runs out, on this process's monotonic clock (which starts
   * at the spawn; a standby's budget starts when its config came). Until then the daemon does not idle-exit: its spawner may still be on its
   * way (a loaded machine, many starts at once), or may have authenticated and then given up
   * on a handshake its own busy event loop made late, to try again.
   */
  readonly #spawnerDue: number | undefined;

  /**
   * `budgetOrigin`: when, on this process's monotonic clock, the spawner measured the budgets
   * in `config` (`bootTimeoutMs`, `firstClientWithinMs`).
   */
  constructor(config: DaemonConfig, log: DaemonLog, report: (report: BootReport) => void, budgetOrigin = 0) {
    this.#config = config;
    this.#log = log;
    this.#report = report;
    this.#spawnerDue = config.firstClientWithinMs === undefined ? undefined : budgetOrigin + config.firstClientWithinMs;
    const drain = new DrainSteps({
      server: () => this.#server,
      mailbox: () => this.#mailbox,
      channels: () => [...this.#connections].map((connection) => connection.channel),
      retired: this.#retired,
      dropHandshakes: (reason) => this.#admission.dropAll(reason),
    });
    const machine = daemonMachine.provide({
      actors: {
        loadObject: fromPromise(() => this.#loadObject()),
        bindServer: fromPromise(() => this.#bind()),
        publishMetadata: fromPromise(async () => this.#publish()),
        answerCalls: fromPromise(() => drain.answerCalls()),
        finishRunning: fromPromise(() => drain.finishRunning()),
        dispose: fromPromise(() => drain.dispose()),
        closeConnections: fromPromise(() => drain.closeConnections()),
      },
      actions: {
        reportReady: () => this.#onReady(),
        reportFailure: ({ context }) => this.#onFailure(context),
        markDraining: () => {
          this.#metadata = markRecordDraining(this.#config.paths.metadata, this.instanceId, this.#metadata, (line) => this.#log.write(line));
        },
        closeIntake: (_, { force }) => drain.closeIntake(force),
        forceMailbox: () => drain.force(),
        reportDisposed: (_, { outcome }) => {
          if (outcome) this.#log.write(outcome);
        },
        reportDisposeOverrun: () => this.#log.write(`dispose hook still running after ${DISPOSE_TIMEOUT_MS} ms; exiting anyway`),
        reportAbandoned: () => this.#log.write(drain.abandoned(config.drainTimeoutMs)),
        unpublish: () => {
          this.#unpublish();
          this.#stopSweeper();
        },
      },
      delays: {
        idleTtl: () => this.#idleDelay(),
        // The spawner's budget counts from when it was measured, on this process's clock.
        bootTimeout: () => Math.max(1, budgetOrigin + config.bootTimeoutMs - reportMargin(config.bootTimeoutMs) - performance.now()),
        drainTimeout: config.drainTimeoutMs,
      },
    });
    this.#actor = createActor(machine, {
      inspect: inspector('daemon', config.name, (record) => this.#log.write(`state ${JSON.stringify(record.to)} <- ${record.event}`)),
    });
  }

  get maxFrameBytes(): number {
    return this.#config.maxFrameBytes;
  }

  get name(): string {
    return this.#config.name;
  }

  get handshakeTimeoutMs(): number {
    return this.#config.handshakeTimeoutMs;
  }

  get mailbox(): Mailbox {
    // Connections exist only after binding, which follows loadObject.
    return this.#mailbox!;
  }

  /** Runs the lifecycle; resolves with how it ended. */
  run(): Promise<DaemonOutcome> {
    return new Promise((resolve) => {
      this.#actor.subscribe({
        complete: () => resolve(this.#actor.getSnapshot().value === 'stopped' ? 'stopped' : 'failed'),
        error: () => resolve('failed'),
      });
      this.#actor.start();
    });
  }

  /** Asks the daemon to drain (as a client's shutdown does). */
  shutdownRequested(force: boolean): void {
    this.#actor.send({ type: 'shutdown.requested', force });
  }

  /** An uncaught exception or unhandled rejection: fail (unpublish, report, exit non-zero). */
  crash(error: unknown): void {
    const wire = errorToWire(error, 'ERR_LOOPBACK_SINGLETON');
    this.#log.write(`uncaught ${wire.name}: ${wire.message}\n${wire.stack ?? ''}`);
    this.#actor.send({ type: 'daemon.crashed', error: wire });
  }

  info(): DaemonInfo {
    const snapshot = this.#actor.getSnapshot();
    return {
      pid: process.pid,
      instanceId: this.instanceId,
      active: snapshot.context.active,
      queued: this.#mailbox?.queued ?? 0,
      running: this.#mailbox?.running ?? 0,
      // The drain's steps are the daemon's own business: a client sees one `draining` state.
      state: snapshot.matches('draining') ? 'draining' : (snapshot.value as DaemonInfo['state']),
      protocolVersion: PROTOCOL_VERSION,
      packageVersion: PACKAGE_VERSION,
      factoryId: this.#config.factoryId,
      startedAt: this.startedAt,
      callsServed: this.#mailbox?.served ?? 0,
      transport: this.#config.transport,
      address: this.#address ? formatAddress(this.#address) : '',
      idleTtlMs: this.#config.idleTtlMs,
      maxFrameBytes: this.#config.maxFrameBytes,
      factory: this.#config.factory,
      startReason: this.#config.startReason,
      nodeVersion: process.version,
      execArgv: process.execArgv,
      modules: recordedModules(),
    };
  }

  settled(handshake: DaemonHandshake): void {
    this.#admission.settled(handshake);
  }

  authenticated(channel: Channel, observer: boolean): void {
    const connection = new DaemonConnection(channel, this, observer);
    channel.authenticate(connection);
    this.#connections.add(connection);
    // An observer's connection never counts as active.
    if (!observer) this.#actor.send({ type: 'connection.opened' });
  }

  closed(connection: DaemonConnection): void {
    this.#connections.delete(connection);
    if (!connection.observer) this.#actor.send({ type: 'connection.closed' });
  }

  /** The idle countdown: `idleTtlMs`, and never ending before its spawner's budget has run out. */
  #idleDelay(): number {
    const { idleTtlMs } = this.#config;
    if (this.#spawnerDue === undefined) return idleTtlMs;
    const waitMs = Math.ceil(this.#spawnerDue - performance.now());
    if (waitMs <= idleTtlMs) return idleTtlMs;
    this.#log.write(`idle: not exiting for ${waitMs} ms, until its spawner's start budget has run out`);
    return waitMs;
  }

  async #loadObject(): Promise<void> {
    const { factory, args, maxQueuedCalls } = this.#config;
    const { object } = await createHostedObject(factory.module, factory.export, args);
    settleRecordedModules(factory.module);
    this.#mailbox = new Mailbox(object, maxQueuedCalls, inspector('mailbox', this.#config.name));
  }

  async #bind(): Promise<void> {
    ensurePrivateDir(this.#config.paths.dir);
    this.token = loadOrCreateToken(this.#config.paths.token);
    this.tokenKey = proofKey(this.token);
    const { server, address, socketId } = await listen(this.#config.transport, this.#config.paths.dir, this.instanceId, (socket) => this.#accept(socket));
    this.#server = server;
    this.#address = address;
    this.#socketId = socketId;
    const { stallTimeoutMs } = this.#config;
    // Also the pace of the file upkeep (./upkeep.ts): a damaged record is mended within it.
    const period = Math.max(25, Math.min(METADATA_CHECK_MS, stallTimeoutMs / 4));
    this.#sweeper = setInterval(() => this.#sweep(), period).unref();
  }

  #publish(): void {
    const address = this.#address!;
    const startTime = processStartTime(process.pid);
    this.#metadata = {
      pid: process.pid,
      instanceId: this.instanceId,
      transport: address.transport,
      ...(address.transport === 'tcp' ? { host: address.host, port: address.port } : { path: address.path }),
      protocolVersion: PROTOCOL_VERSION,
      packageVersion: PACKAGE_VERSION,
      factoryId: this.#config.factoryId,
      startedAt: this.startedAt,
      ...(startTime === undefined ? {} : { startTime }),
    };
    writeMetadata(this.#config.paths.metadata, this.#metadata);
    this.#upkeep = new FileUpkeep(this.#config.paths, this.#metadata, this.token, this.#socketId, {
      isServing: () => this.#actor.getSnapshot().matches('serving'),
      superseded: (by) => {
        this.#log.write(`superseded by daemon ${by.pid} (${by.instanceId}); draining`);
        this.shutdownRequested(false);
      },
      rebind: () => this.#rebind(),
      log: (line) => this.#log.write(line),
    });
  }

  #accept(socket: Socket): void {
    // Only a serving daemon takes connections; a draining one has closed its server. The
    // handshake's deadline is its statechart's own (machines/handshake.machine.ts).
    const channel = new Channel(socket, this.#config.maxFrameBytes, (line) => this.#log.write(line));
    this.#admission.admit(new DaemonHandshake(channel, this));
  }

  /**
   * Keeps the runtime files true; drops authenticated connections stalled mid-frame (not a
   * handshake matter: a handshake's whole deadline is its statechart's); rotates the log.
   */
  #sweep(): void {
    // While serving, the daemon keeps its runtime files true (./upkeep.ts).
    this.#upkeep?.check();
    this.#log.rotateIfLarge();
    const now = performance.now();
    const { stallTimeoutMs } = this.#config;
    for (const { channel } of this.#connections) {
      if (channel.hasPartialFrame && now - channel.frameStartedAt > stallTimeoutMs) {
        // Judged again after this turn's I/O: timers run before it, so after a synchronous
        // method blocked the loop, the rest of the frame may be waiting unread in the socket.
        const startedAt = channel.frameStartedAt;
        setImmediate(() => {
          if (channel.hasPartialFrame && channel.frameStartedAt === startedAt) {
            channel.destroy(`partial frame stalled: not complete ${stallTimeoutMs} ms after its first byte`);
          }
        });
      }
    }
    const dropped = this.#admission.takeDropped();
    if (dropped > 0) this.#log.write(`dropped ${dropped} connection(s) awaiting their handshake: over ${MAX_HANDSHAKING_CONNECTIONS} at once`);
  }

  /**
   * Listens again on the ipc socket path after the socket file was deleted or replaced.
   * Accepted connections live on (closing a server does not close them). Resolves with the
   * new socket's id, or undefined when the daemon stopped serving meanwhile.
   */
  async #rebind(): Promise<string | undefined> {
    const old = this.#server;
    const address = this.#address;
    if (old === undefined || address?.transport !== 'ipc') return undefined;
    // First: libuv unlinks a pipe server's path when it closes, which would delete the new socket.
    this.#retired.push(new Promise((resolve) => old.close(() => resolve())));
    const { path } = address;
    // Whatever was put at our instance's path in the socket's place would refuse the bind.
    if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory() === false) rmSync(path, { force: true });
    const bound = await listen(this.#config.transport, this.#config.paths.dir, this.instanceId, (socket) => this.#accept(socket));
    if (!this.#actor.getSnapshot().matches('serving')) {
      // The drain began meanwhile and closed the old server only.
      bound.server.close();
      return undefined;
    }
    this.#server = bound.server;
    return bound.socketId;
  }

  #onReady(): void {
    this.#log.write(`ready: ${this.#config.name} on ${formatAddress(this.#address!)} (factoryId ${this.#config.factoryId})`);
    this.#report({ t: 'ready', metadata: this.#metadata! });
    // While the spawner learns it and connects (see ../wire/rehearsal.ts).
    rehearseWire(this.info());
  }

  #unpublish(): void {
    try {
      removeMetadataIf(this.#config.paths.metadata, this.instanceId);
    } catch (error) {
      this.#log.write(`could not remove metadata: ${(error as Error).message}`);
    }
  }

  #onFailure(context: DaemonContext): void {
    const error: WireError = context.error ?? { code: 'ERR_LOOPBACK_SINGLETON', name: 'Error', message: 'unknown failure' };
    this.#log.write(
      `failed (${error.code}) ${Math.round(performance.now())} ms after its spawn: ${error.name}: ${error.message}${error.stack ? `\n${error.stack}` : ''}`,
    );
    this.#unpublish();
    this.#stopSweeper();
    this.#server?.close();
    this.#admission.dropAll('daemon failed');
    for (const { channel } of this.#connections) channel.destroy('daemon failed');
    this.#report({ t: 'failed', error });
  }

  #stopSweeper(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}
