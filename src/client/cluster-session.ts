/**
 * What a service of `scope: 'cluster'` loads once it reaches for its daemon: the local
 * session's code, and the cluster's starter and shutdown, which load the etcd registry (and
 * etcd3 with it). Loaded by ./service.ts for `scope: 'cluster'` only: the local default never
 * loads it (test/integration/entries-cluster.test.ts).
 */
export { connectOrStartCluster } from './cluster-starter.js';
export { shutdownCluster } from './cluster-terminate.js';
