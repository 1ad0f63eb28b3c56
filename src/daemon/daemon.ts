/**
 * The daemon: the daemon statechart (machines/daemon.machine.ts) with its effects provided.
 * It owns the listening socket, the connections, the mailbox and the runtime files it
 * wrote; it deletes only metadata carrying its own instanceId.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
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
import { HandshakeAdmission } from './admission.js';
import { SpawnerBudget } from './budget.js';
import { Channel } from './channel.js';
import { ClusterPresence } from './cluster-place.js';
import { DaemonConnection, type ConnectionHost } from './connection.js';
import { DrainSteps, markRecordDraining } from './drain.js';
import { createHostedObject } from './factory.js';
import { DaemonHandshake, type HandshakeHost } from './handshake.js';
import { Listener } from './listen.js';
import type { DaemonLog } from './log.js';
import { recordedModules, settleRecordedModules } from './module-recorder.js';
import { Mailbox } from './mailbox.js';
import { EventHub } from './events.js';
import { DaemonInspection } from './inspection.js';
import { registerEventHub } from '../events-link.js';
import { startSweeper } from './sweep.js';
import { FileUpkeep } from './upkeep.js';

/** How many waiting calls the daemon's info names. */
const WAITING_CALLS_SHOWN = 10;

/** How the daemon's run ended. */
export type DaemonOutcome = 'stopped' | 'failed';

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
  /** The listening server (and those a re-bind replaced); it listens from `binding` on. */
  readonly #listener: Listener;
  #metadata: DaemonMetadata | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  /** Keeps metadata.json, the token and the ipc socket true while serving; made at publishing. */
  #upkeep: FileUpkeep | undefined;
  /** `scope: 'cluster'`: the daemon's record in etcd, in metadata.json's stead, and the fence of its writes (./cluster-place.ts). */
  readonly #presence: ClusterPresence | undefined;
  /** The handshakes under way, and their bound (./admission.ts). */
  readonly #admission = new HandshakeAdmission<DaemonHandshake>();
  /** Its spawner's start budget: the boot deadline, and no idle exit before it ran out. */
  readonly #budget: SpawnerBudget;
  /** Where the hosted object's events go: the connections that subscribe. */
  readonly events: EventHub;
  /** What observers that subscribe to the inspection topic are told (./inspection.ts). */
  readonly inspection: DaemonInspection;

  /**
   * `budgetOrigin`: when, on this process's monotonic clock, the spawner measured the budgets
   * in `config` (`bootTimeoutMs`, `firstClientWithinMs`).
   */
  constructor(config: DaemonConfig, log: DaemonLog, report: (report: BootReport) => void, budgetOrigin = 0) {
    this.#config = config;
    this.#log = log;
    this.#report = report;
    this.#budget = new SpawnerBudget(config, budgetOrigin);
    this.events = new EventHub(config.maxFrameBytes);
    // Before the first actor: the daemon chart's boot is part of the history an observer gets.
    this.inspection = new DaemonInspection(this.events);
    this.#listener = new Listener(config.transport, config.paths.dir, this.instanceId, (socket) => this.#accept(socket), {
      host: config.host,
      tls: config.tls,
      handshakeTimeoutMs: config.handshakeTimeoutMs,
    });
    const { cluster } = config;
    this.#presence =
      cluster &&
      new ClusterPresence({ name: config.name, cluster, instanceId: this.instanceId, factoryId: config.factoryId, startedAt: this.startedAt }, (line) => log.write(line));
    const drain = new DrainSteps({
      server: () => this.#listener.server,
      mailbox: () => this.#mailbox,
      channels: () => this.#channels(),
      retired: this.#listener.retired,
      dropHandshakes: (reason) => this.#admission.dropAll(reason),
    });
    const machine = daemonMachine.provide({
      actors: {
        loadObject: fromPromise(() => this.#loadObject()),
        bindServer: fromPromise(() => this.#bind()),
        publishMetadata: fromPromise(({ signal }) => this.#publish(signal)),
        answerCalls: fromPromise(() => drain.answerCalls()),
        finishRunning: fromPromise(() => drain.finishRunning()),
        dispose: fromPromise(() => drain.dispose()),
        closeConnections: fromPromise(() => drain.closeConnections()),
      },
      actions: {
        reportReady: () => this.#onReady(),
        reportFailure: ({ context }) => this.#onFailure(context),
        markDraining: () => {
          // A cluster daemon's record stays as it is until it exits (clients find it unreachable meanwhile).
          if (this.#config.cluster !== undefined) return;
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
        idleTtl: () => this.#budget.idleDelay(config.idleTtlMs, (line) => this.#log.write(line)),
        bootTimeout: () => this.#budget.bootDelay(),
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
      // A cluster daemon's place is released before the process exits (its lease would
      // otherwise hold it for a TTL more); bounded, as etcd may not answer.
      const released = () => this.#presence?.released() ?? Promise.resolve();
      this.#actor.subscribe({
        complete: () => {
          const outcome = this.#actor.getSnapshot().value === 'stopped' ? 'stopped' : 'failed';
          void released().then(() => resolve(outcome));
        },
        error: () => void released().then(() => resolve('failed')),
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
      ...this.#mailbox?.runningCall(),
      ...(this.#mailbox !== undefined && this.#mailbox.queued > 0 ? { waitingCalls: this.#mailbox.waitingCalls(WAITING_CALLS_SHOWN) } : {}),
      // The drain's steps are the daemon's own business: a client sees one `draining` state.
      state: snapshot.matches('draining') ? 'draining' : (snapshot.value as DaemonInfo['state']),
      protocolVersion: PROTOCOL_VERSION,
      packageVersion: PACKAGE_VERSION,
      factoryId: this.#config.factoryId,
      startedAt: this.startedAt,
      callsServed: this.#mailbox?.served ?? 0,
      callsWithdrawn: this.#mailbox?.withdrawn ?? 0,
      transport: this.#config.transport,
      address: this.#listener.address ? formatAddress(this.#listener.address) : '',
      idleTtlMs: this.#config.idleTtlMs,
      maxFrameBytes: this.#config.maxFrameBytes,
      factory: this.#config.factory,
      startReason: this.#config.startReason,
      nodeVersion: process.version,
      execArgv: process.execArgv,
      modules: recordedModules(),
    };
  }

  /** A `ping`'s answer: the info, and the process's RSS (read for a ping only, not on every connect's welcome). */
  pingInfo(): DaemonInfo {
    return { ...this.info(), rssBytes: process.memoryUsage.rss() };
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

  async #loadObject(): Promise<void> {
    const { factory, args, maxQueuedCalls } = this.#config;
    // Before the object exists: its constructor may already publish (to no one yet).
    registerEventHub(this.events);
    const { object } = await createHostedObject(factory.module, factory.export, args);
    settleRecordedModules(factory.module);
    this.#mailbox = new Mailbox(object, maxQueuedCalls, inspector('mailbox', this.#config.name));
  }

  async #bind(): Promise<void> {
    ensurePrivateDir(this.#config.paths.dir);
    // A cluster daemon proves the key derived from the cluster secret, not the per-user token file's.
    this.token = this.#config.cluster?.key ?? loadOrCreateToken(this.#config.paths.token);
    this.tokenKey = proofKey(this.token);
    await this.#listener.bind();
    this.#sweeper = startSweeper(this.#config.stallTimeoutMs, {
      log: this.#log,
      upkeep: () => this.#upkeep,
      channels: () => this.#channels(),
      takeDropped: () => this.#admission.takeDropped(),
    });
  }

  async #publish(signal: AbortSignal): Promise<void> {
    const address = this.#listener.address!;
    if (this.#presence !== undefined && address.transport === 'tcp') {
      this.#metadata = { pid: process.pid, instanceId: this.instanceId, transport: 'tcp', host: this.#config.cluster!.host, port: address.port, ...this.#versions() };
      // Its place lost: it answers nothing more (the fence) and drains at once.
      await this.#presence.publish(address.port, signal, () => this.shutdownRequested(true));
      return;
    }
    const startTime = processStartTime(process.pid);
    this.#metadata = {
      pid: process.pid,
      instanceId: this.instanceId,
      transport: address.transport,
      ...(address.transport === 'tcp' ? { host: address.host, port: address.port } : { path: address.path }),
      ...this.#versions(),
      ...(startTime === undefined ? {} : { startTime }),
    };
    writeMetadata(this.#config.paths.metadata, this.#metadata);
    this.#upkeep = new FileUpkeep(this.#config.paths, this.#metadata, this.token, this.#listener.socketId, {
      isServing: () => this.#actor.getSnapshot().matches('serving'),
      superseded: (by) => {
        this.#log.write(`superseded by daemon ${by.pid} (${by.instanceId}); draining`);
        this.shutdownRequested(false);
      },
      rebind: () => this.#listener.rebind(() => this.#actor.getSnapshot().matches('serving')),
      log: (line) => this.#log.write(line),
    });
  }

  /** What every record says of this daemon besides where it is. */
  #versions() {
    return { protocolVersion: PROTOCOL_VERSION, packageVersion: PACKAGE_VERSION, factoryId: this.#config.factoryId, startedAt: this.startedAt };
  }

  #accept(socket: Socket): void {
    // Only a serving daemon takes connections; a draining one has closed its server. The
    // handshake's deadline is its statechart's own (machines/daemon-handshake.machine.ts).
    const channel = new Channel(socket, this.#config.maxFrameBytes, (line) => this.#log.write(line), this.#presence?.mayWrite);
    this.#admission.admit(new DaemonHandshake(channel, this));
  }

  #onReady(): void {
    this.#log.write(`ready: ${this.#config.name} on ${formatAddress(this.#listener.address!)} (factoryId ${this.#config.factoryId})`);
    this.#report({ t: 'ready', metadata: this.#metadata! });
    // While the spawner learns it and connects (see ../wire/rehearsal.ts).
    rehearseWire(this.info());
  }

  #unpublish(): void {
    if (this.#presence !== undefined) {
      this.#presence.release();
      return;
    }
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
    this.#listener.server?.close();
    this.#admission.dropAll('daemon failed');
    for (const { channel } of this.#connections) channel.destroy('daemon failed');
    this.#report({ t: 'failed', error });
  }

  /** The authenticated connections' channels. */
  #channels(): Channel[] {
    return [...this.#connections].map((connection) => connection.channel);
  }

  #stopSweeper(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}
