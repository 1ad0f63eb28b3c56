/** This package's version; a test keeps it equal to package.json's. */
export const PACKAGE_VERSION = '0.1.0';

/**
 * The wire protocol's version. Both sides state it in the handshake; a daemon refuses a
 * client of another version with `ERR_PROTOCOL_VERSION`. Bump it on any incompatible
 * change to docs/PROTOCOL.md.
 */
export const PROTOCOL_VERSION = 2;
