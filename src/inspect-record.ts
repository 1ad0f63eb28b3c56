/**
 * What one inspection record is: the shape `src/inspect.ts` writes (NDJSON, channels, a
 * daemon's inspection topic) and the inspector reads, in its server and in the browser. Types
 * only, importing nothing, so the page's build can share them.
 */

/** Which statechart an actor runs. */
export type InspectArea = 'client' | 'supervisor' | 'daemon' | 'mailbox' | 'handshake';

/** One record of the stream (and of the channels' messages). */
export interface TransitionRecord {
  /** Epoch ms. */
  readonly ts: number;
  readonly pid: number;
  readonly area: InspectArea;
  /** The singleton's name. */
  readonly name: string;
  /** The actor's session id, unique per actor in this process. */
  readonly actor: string;
  readonly type: 'spawn' | 'transition' | 'stop';
  /** For transitions: the state value before and after, and the event that caused it. */
  readonly from?: unknown;
  readonly to?: unknown;
  readonly event?: string;
  /** For a transition into a state whose context holds an error (a `failed` state): what it says. */
  readonly error?: { readonly code?: string; readonly message: string };
}
