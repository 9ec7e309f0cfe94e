import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader, type JWK } from 'jose';
import { canonicalJson, type CheckpointHead } from '@gatehouse/events';
import { CHECKPOINT_ALGORITHMS, type CheckpointKey } from './checkpoint-key.js';
import { QueryApiError } from './errors.js';

/** JOSE `typ` of a checkpoint. */
export const CHECKPOINT_TYP = 'gatehouse-checkpoint+jws';

/**
 * What a checkpoint signs (payload = canonical JSON of this): the time it was signed (`iat`, Unix
 * seconds) and the head of every chain it covers.
 */
export interface CheckpointPayload {
  readonly iat: number;
  readonly heads: readonly CheckpointHead[];
}

/** Signs a checkpoint: a compact JWS (`alg` ES256|EdDSA, `kid`, `typ`) over canonical JSON. */
export async function signCheckpoint(payload: CheckpointPayload, key: CheckpointKey): Promise<string> {
  const heads = [...payload.heads].sort((a, b) =>
    a.session_id < b.session_id ? -1 : a.session_id > b.session_id ? 1 : 0,
  );
  const bytes = new TextEncoder().encode(canonicalJson({ iat: payload.iat, heads }));
  return new CompactSign(bytes)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: CHECKPOINT_TYP })
    .sign(key.privateKey);
}

/**
 * Verifies a checkpoint JWS against a public key (KeyObject or JWK) and returns its payload.
 * Guarantee: returns only if the signature is valid, the algorithm is one of `CHECKPOINT_ALGORITHMS`
 * and the payload has the checkpoint shape.
 *
 * @throws QueryApiError `GH_ERR_CHECKPOINT_INVALID` with a fixed message (the JWS is not echoed).
 */
export async function verifyCheckpoint(
  jws: string,
  publicKey: KeyObject | JWK,
): Promise<CheckpointPayload & { kid: string | undefined }> {
  let payloadBytes: Uint8Array;
  let kid: string | undefined;
  try {
    const key =
      'kty' in publicKey ? createPublicKey({ key: publicKey as JsonWebKey, format: 'jwk' }) : publicKey;
    const result = await compactVerify(jws, key, { algorithms: [...CHECKPOINT_ALGORITHMS] });
    payloadBytes = result.payload;
    kid = result.protectedHeader.kid;
    if (result.protectedHeader.typ !== CHECKPOINT_TYP) throw new TypeError('typ');
  } catch (cause) {
    throw new QueryApiError(
      'GH_ERR_CHECKPOINT_INVALID',
      'checkpoint signature is not valid for the checkpoint public key',
      cause,
    );
  }
  const payload = JSON.parse(new TextDecoder().decode(payloadBytes)) as Partial<CheckpointPayload>;
  if (typeof payload.iat !== 'number' || !Array.isArray(payload.heads)) {
    throw new QueryApiError('GH_ERR_CHECKPOINT_INVALID', 'checkpoint payload lacks iat or heads');
  }
  return { iat: payload.iat, heads: payload.heads, kid };
}

/** The `kid` a checkpoint claims, read without verifying (to pick the key). */
export function checkpointKid(jws: string): string | undefined {
  try {
    return decodeProtectedHeader(jws).kid;
  } catch {
    return undefined;
  }
}
