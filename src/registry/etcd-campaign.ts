/**
 * etcd3's election campaigns as the registry (./etcd.ts) uses them: the lease a campaign keeps
 * alive, a campaign whose 'error' always has a listener, and the wait for its election.
 */
import type { Campaign, Election, Lease } from 'etcd3';
import type { Etcd3Module } from './etcd-client.js';

/**
 * The lease etcd3's Campaign keeps alive. etcd3 does not expose it, and the local deadline
 * needs its keepalives; a change of etcd3 that moves it fails here, loudly, not later.
 */
export function leaseOf(module: Etcd3Module, campaign: Campaign): Lease {
  const lease = (campaign as unknown as { lease?: unknown }).lease;
  if (!(lease instanceof module.Lease)) {
    throw new Error("etcd3's Campaign no longer holds its lease as `lease`: this etcd3 version is not supported (tested with 1.1)");
  }
  return lease;
}

/**
 * A campaign with a listener for its 'error' for as long as it lives: etcd3 may emit it more
 * than once (the lease lost, then the campaign's own start failing), and an EventEmitter
 * 'error' nobody listens to throws, here inside a promise: an unhandled rejection.
 */
export function campaignFor(election: Election, value: string): Campaign {
  const campaign = election.campaign(value);
  campaign.on('error', () => {});
  return campaign;
}

/**
 * Resolves when `campaign` is elected; rejects with its error as `fault` makes it, or with
 * `signal`'s reason. Removes its listeners either way.
 */
export function elected(campaign: Campaign, signal: AbortSignal | undefined, fault: (error: unknown) => unknown): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      campaign.off('elected', onElected);
      campaign.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onElected = () => {
      done();
      resolve();
    };
    const onError = (error: unknown) => {
      done();
      reject(fault(error));
    };
    const onAbort = () => {
      done();
      reject(signal!.reason);
    };
    campaign.on('elected', onElected);
    campaign.on('error', onError);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
