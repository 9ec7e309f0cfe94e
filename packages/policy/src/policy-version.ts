import { canonicalJson, sha256Hex } from '@gatehouse/events';
import type { PolicyConfig } from './policy-config.js';

/**
 * The version of a policy: SHA-256 (hex) of `canonicalJson({ model, rules, roles })`. A content
 * hash — the same model, rules and roles (in the same order) always give the same version, on any
 * machine; the source it was read from does not count.
 */
export function policyVersion(model: string, config: PolicyConfig): string {
  return sha256Hex(canonicalJson({ model, rules: config.rules, roles: config.roles }));
}
