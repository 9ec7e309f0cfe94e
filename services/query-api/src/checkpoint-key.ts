import { chmod, mkdir, open, readFile } from 'node:fs/promises';
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { QueryApiError } from './errors.js';

/** Algorithms a checkpoint may be signed with. A generated key is ES256. */
export const CHECKPOINT_ALGORITHMS = ['ES256', 'EdDSA'] as const;
export type CheckpointAlgorithm = (typeof CHECKPOINT_ALGORITHMS)[number];

/** A loaded checkpoint signing key: the private half signs, the public JWK is what verifiers use. */
export interface CheckpointKey {
  readonly alg: CheckpointAlgorithm;
  /** RFC 7638 thumbprint of the public key, carried as `kid` in every checkpoint. */
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Public JWK (with `kid`, `alg`), safe to publish. */
  readonly publicJwk: JWK;
}

/** Where a generated key is kept: `<dataDir>/checkpoint/key.json` (mode 0600). */
export function checkpointKeyPath(dataDir: string): string {
  return join(dataDir, 'checkpoint', 'key.json');
}

/**
 * Loads the checkpoint signing key from `key` (a private JWK object, JWK JSON text or a PKCS#8 PEM),
 * or, when `key` is absent, from `<dataDir>/checkpoint/key.json`, generating and persisting an
 * ES256 key on first use. A corrupt key file is an error, never silently replaced: replacing it
 * would orphan every checkpoint already signed.
 *
 * @throws QueryApiError `GH_ERR_CHECKPOINT_KEY` naming the source at fault.
 */
export async function loadCheckpointKey(options: {
  key?: JWK | string;
  dataDir?: string;
}): Promise<CheckpointKey> {
  if (options.key !== undefined) return fromConfigured(options.key, 'audit.checkpointKey');
  if (options.dataDir === undefined) {
    throw new QueryApiError(
      'GH_ERR_CHECKPOINT_KEY',
      'checkpoint key: give either a key or a dataDir to keep a generated one in',
    );
  }
  const file = checkpointKeyPath(options.dataDir);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new QueryApiError('GH_ERR_CHECKPOINT_KEY', `cannot read checkpoint key ${file}`, cause);
    }
  }
  if (text !== undefined) return fromConfigured(text, file);
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256' };
  await mkdir(join(options.dataDir, 'checkpoint'), { recursive: true, mode: 0o700 });
  try {
    const handle = await open(file, 'wx', 0o600);
    await handle.writeFile(`${JSON.stringify(jwk)}\n`);
    await handle.sync();
    await handle.close();
    await chmod(file, 0o600);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST')
      return fromConfigured(await readFile(file, 'utf8'), file);
    throw new QueryApiError('GH_ERR_CHECKPOINT_KEY', `cannot write checkpoint key ${file}`, cause);
  }
  return fromConfigured(jwk, file);
}

async function fromConfigured(key: JWK | string, source: string): Promise<CheckpointKey> {
  let privateKey: KeyObject;
  try {
    if (typeof key === 'string' && key.includes('-----BEGIN')) {
      privateKey = createPrivateKey(key);
    } else {
      const jwk = (typeof key === 'string' ? JSON.parse(key) : key) as JWK;
      if (typeof jwk.d !== 'string') throw new TypeError('not a private key (no "d")');
      privateKey = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    }
  } catch (cause) {
    throw new QueryApiError(
      'GH_ERR_CHECKPOINT_KEY',
      `${source}: not a private JWK or PKCS#8 PEM (${(cause as Error).message})`,
      cause,
    );
  }
  const publicKey = createPublicKey(privateKey);
  const alg = algOf(publicKey, source);
  const exported = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exported);
  return { alg, kid, privateKey, publicKey, publicJwk: { ...exported, kid, alg, use: 'sig' } };
}

function algOf(publicKey: KeyObject, source: string): CheckpointAlgorithm {
  if (publicKey.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (publicKey.asymmetricKeyType === 'ec' && publicKey.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'ES256';
  throw new QueryApiError(
    'GH_ERR_CHECKPOINT_KEY',
    `${source}: checkpoint keys must be P-256 (ES256) or Ed25519 (EdDSA)`,
  );
}
