/**
 * The `tls` option: the PEM certificate, private key and CA a daemon off loopback and its
 * clients use for mutual TLS (./tls.ts), checked once, at the boundary. Loads no `node:tls`:
 * checking the option costs nothing to a process that never opens a TLS socket.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';

/**
 * PEM material for mutual TLS. The user reads the files; these are their contents.
 * @example
 * const tls = { cert: readFileSync('machine.pem'), key: readFileSync('machine.key'), ca: readFileSync('ca.pem') };
 */
export interface TlsMaterial {
  /** This machine's certificate (PEM), issued by `ca`; a daemon's carries the addresses it listens on as IP SANs. */
  readonly cert: string | Buffer;
  /** The private key of `cert` (PEM, not encrypted). */
  readonly key: string | Buffer;
  /** The CA (PEM, one certificate or several) that issued every machine's certificate: the only one trusted. */
  readonly ca: string | Buffer;
}

const FIELDS = ['cert', 'key', 'ca'] as const;

/** How a bad value is shown: never its text (it may be a private key), only what it is. */
function what(value: unknown): string {
  if (value === undefined) return '`undefined`';
  if (value === null) return '`null`';
  if (typeof value === 'string') {
    const hint = value.length < 4096 && !value.includes('\n') ? " (a file path? pass the file's contents: readFileSync(path))" : '';
    return `a string of ${value.length} characters with no PEM block${hint}`;
  }
  if (value instanceof Uint8Array) return `${value.byteLength} bytes with no PEM block`;
  if (Array.isArray(value)) return '(an array)';
  return typeof value === 'object' ? '(an object)' : `(${typeof value})`;
}

/** The PEM text of `value`, or undefined when it is neither a string nor bytes. */
function pemText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
  return undefined;
}

/** Whether `text` holds a PEM block whose label matches `label`. */
function hasBlock(text: string, label: RegExp): boolean {
  for (const match of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)) if (label.test(match[1]!)) return true;
  return false;
}

/** `value` as a PEM certificate, or a TypeError naming `field`. */
function certificate(field: string, value: unknown, kind: string): X509Certificate {
  const text = pemText(value);
  if (text === undefined || !hasBlock(text, /^(X509 |TRUSTED )?CERTIFICATE$/)) {
    throw new TypeError(`Expected \`tls.${field}\` to be ${kind} (string or Buffer), got ${what(value)}`);
  }
  try {
    return new X509Certificate(text);
  } catch (error) {
    throw new TypeError(`Expected \`tls.${field}\` to be ${kind}, but its PEM block does not parse: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Checks the `tls` option once: an object with exactly `cert`, `key` and `ca`, each PEM text
 * (a string or bytes) that parses, and `key` the private key of `cert`.
 * @returns the same material, as a frozen object of its three fields.
 * @throws {TypeError} naming the field and what is wrong, never quoting a key.
 * @example
 * const tls = checkTlsMaterial({ cert: readFileSync('machine.pem'), key: readFileSync('machine.key'), ca: readFileSync('ca.pem') });
 */
export function checkTlsMaterial(value: unknown): TlsMaterial {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`tls\` to be an object { cert, key, ca } of PEM strings or Buffers, got ${what(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw new TypeError(`Unknown field \`tls.${key}\`; expected { ${FIELDS.join(', ')} }`);
  }
  const { cert, key, ca } = value as Record<string, unknown>;
  const own = certificate('cert', cert, 'a PEM certificate');
  const keyText = pemText(key);
  if (keyText === undefined || !hasBlock(keyText, /PRIVATE KEY$/)) {
    throw new TypeError(`Expected \`tls.key\` to be a PEM private key (string or Buffer), got ${what(key)}`);
  }
  if (hasBlock(keyText, /^ENCRYPTED PRIVATE KEY$/) || /Proc-Type: 4,ENCRYPTED/.test(keyText)) {
    throw new TypeError(
      'Expected `tls.key` to be a PEM private key that is not encrypted (`tls` takes no passphrase): decrypt it first, e.g. `openssl pkey -in key.pem -out plain.pem`',
    );
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(keyText);
  } catch (error) {
    throw new TypeError(`Expected \`tls.key\` to be a PEM private key, but it does not parse: ${(error as Error).message}`, { cause: error });
  }
  if (!own.checkPrivateKey(privateKey)) {
    throw new TypeError(`Expected \`tls.key\` to be the private key of \`tls.cert\` (${own.subject.replace(/\n/g, ', ')}), but it is another key`);
  }
  certificate('ca', ca, 'a PEM CA certificate');
  return Object.freeze({ cert: cert as string | Buffer, key: key as string | Buffer, ca: ca as string | Buffer });
}
