/**
 * The spawner's start budget, as the daemon keeps to it: its boot must be reported before the
 * spawner gives up on it, and it must not idle-exit while its spawner may still be on its way.
 */
import type { DaemonConfig } from '../runtime/daemon-config.js';

/**
 * The share of the spawner's start budget the daemon keeps for its boot report to reach the
 * spawner: it fails its boot (and logs the step that hung) before the spawner gives up on it.
 */
function reportMargin(budgetMs: number): number {
  return Math.min(2000, Math.max(250, budgetMs / 5));
}

/** One daemon's view of its spawner's budgets, on this process's monotonic clock. */
export class SpawnerBudget {
  /** When, on this process's clock, the spawner measured the budgets (see the constructor). */
  readonly #origin: number;
  readonly #bootTimeoutMs: number;
  /**
   * When its spawner's start budget runs out, on this process's monotonic clock (which starts
   * at the spawn; a standby's budget starts when its config came). Until then the daemon does
   * not idle-exit: its spawner may still be on its way (a loaded machine, many starts at once),
   * or may have authenticated and then given up on a handshake its own busy event loop made
   * late, to try again.
   */
  readonly #spawnerDue: number | undefined;

  /**
   * `origin`: when, on this process's monotonic clock, the spawner measured the budgets in
   * `config` (`bootTimeoutMs`, `firstClientWithinMs`).
   */
  constructor(config: Pick<DaemonConfig, 'bootTimeoutMs' | 'firstClientWithinMs'>, origin = 0) {
    this.#origin = origin;
    this.#bootTimeoutMs = config.bootTimeoutMs;
    this.#spawnerDue = config.firstClientWithinMs === undefined ? undefined : origin + config.firstClientWithinMs;
  }

  /** The boot timeout from now: the spawner's budget counts from when it was measured, less the report's margin. */
  bootDelay(): number {
    return Math.max(1, this.#origin + this.#bootTimeoutMs - reportMargin(this.#bootTimeoutMs) - performance.now());
  }

  /** The idle countdown: `idleTtlMs`, and never ending before its spawner's budget has run out. */
  idleDelay(idleTtlMs: number, log: (line: string) => void): number {
    if (this.#spawnerDue === undefined) return idleTtlMs;
    const waitMs = Math.ceil(this.#spawnerDue - performance.now());
    if (waitMs <= idleTtlMs) return idleTtlMs;
    log(`idle: not exiting for ${waitMs} ms, until its spawner's start budget has run out`);
    return waitMs;
  }
}
