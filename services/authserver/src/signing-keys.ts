import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { AuthServerError } from './errors.js';

/** Algorithms a fresh key file holds, in this order; the first one signs access tokens. */
export const SIGNING_ALGORITHMS = ['RS256', 'ES256'] as const;

/** A private JWK set as persisted on disk: every key has `kid`, `alg`, `use: 'sig'` and private parts. */
export interface PrivateJwks {
  keys: JWK[];
}

/** Where the signing keys live under the data directory. */
export function signingKeyPath(dataDir: string): string {
  return join(dataDir, 'authserver', 'jwks.json');
}

/**
 * Loads the authserver's private signing keys from `<dataDir>/authserver/jwks.json`, generating an
 * RS256 and an ES256 key on first start. The file is written atomically with mode 0600 (directory
 * 0700), so tokens issued before a restart still verify against the JWKS served after it.
 *
 * Guarantee: never returns an empty key set; a corrupt file is an error, not a silent regeneration
 * (regenerating would invalidate every token in circulation).
 *
 * @throws AuthServerError `GH_ERR_AUTH_KEYSTORE` naming the file when it cannot be read or written.
 */
export async function loadOrCreateSigningKeys(dataDir: string): Promise<PrivateJwks> {
  const file = signingKeyPath(dataDir);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AuthServerError('GH_ERR_AUTH_KEYSTORE', `cannot read signing keys ${file}`, { cause });
    }
  }
  if (text !== undefined) return parseKeyFile(file, text);

  const jwks: PrivateJwks = { keys: await Promise.all(SIGNING_ALGORITHMS.map(generateSigningKey)) };
  const won = await writeKeyFileExclusive(file, jwks);
  // Another process created the file between our read and our write: its keys win.
  return won ? jwks : parseKeyFile(file, await readFile(file, 'utf8'));
}

async function generateSigningKey(alg: (typeof SIGNING_ALGORITHMS)[number]): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

function parseKeyFile(file: string, text: string): PrivateJwks {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new AuthServerError('GH_ERR_AUTH_KEYSTORE', `signing key file ${file} is not valid JSON`, {
      cause,
    });
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new AuthServerError('GH_ERR_AUTH_KEYSTORE', `signing key file ${file} has no "keys" array`);
  }
  keys.forEach((key: unknown, index) => {
    const jwk = key as JWK | null;
    if (
      typeof jwk !== 'object' ||
      jwk === null ||
      typeof jwk.kty !== 'string' ||
      typeof jwk.kid !== 'string' ||
      typeof jwk.alg !== 'string' ||
      typeof jwk.d !== 'string'
    ) {
      throw new AuthServerError(
        'GH_ERR_AUTH_KEYSTORE',
        `signing key file ${file}: keys[${index}] must be a private JWK with kty, kid, alg and d`,
      );
    }
  });
  return { keys: keys as JWK[] };
}

/** Writes the key file unless one appeared meanwhile; returns false in that case. */
async function writeKeyFileExclusive(file: string, jwks: PrivateJwks): Promise<boolean> {
  const dir = join(file, '..');
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(jwks, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // open()'s mode passes through the umask, which can only narrow it; chmod states it exactly.
    await chmod(temp, 0o600);
    // link() refuses to replace an existing file, unlike rename(): the first writer wins.
    await link(temp, file);
    return true;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new AuthServerError('GH_ERR_AUTH_KEYSTORE', `cannot write signing keys ${file}`, { cause });
  } finally {
    await rm(temp, { force: true });
  }
}
