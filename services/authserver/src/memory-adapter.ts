import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

/** Sweep expired entries after this many writes, so an idle store does not hold dead entries forever. */
const SWEEP_EVERY_WRITES = 512;

/** Models whose entries die with their grant (`revokeByGrantId`). */
const GRANT_BOUND_MODELS = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/** What {@link createMemoryStore} hands out. */
export interface MemoryStore {
  /** oidc-provider's `adapter` option. */
  readonly adapterFactory: AdapterFactory;
  /** Dynamically registered clients held now (expired ones are not counted). */
  clientCount(): number;
}

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * A dynamically registered client not looked up for this long (seconds) is forgotten, so that
   * registrations that were tried once do not fill the store for good. Every use (authorization,
   * token request) restarts the clock. Pre-registered clients never reach the adapter.
   */
  clientIdleTtlSec: number;
}

interface Entry {
  payload: AdapterPayload;
  /** Epoch milliseconds; Infinity when the model has no expiry. */
  expiresAt: number;
}

/**
 * One in-memory store for one provider instance: clients registered dynamically, grants, sessions,
 * interactions, codes and refresh tokens. Lost on restart — acceptable for a development server,
 * whose access tokens are self-contained JWTs and whose signing key is persisted separately.
 *
 * Unlike oidc-provider's built-in quick-start adapter it is not shared across provider instances in
 * one process and has no size cap that could evict a live grant. Registered clients, which
 * oidc-provider stores without expiry, expire after `clientIdleTtlSec` without use.
 */
export function createMemoryStore(options: MemoryStoreOptions): MemoryStore {
  const clientTtlMs = options.clientIdleTtlSec * 1000;
  const entries = new Map<string, Entry>();
  const clientKeys = new Set<string>();
  const grantMembers = new Map<string, Set<string>>();
  const sessionUids = new Map<string, string>();
  const userCodes = new Map<string, string>();
  let writes = 0;

  const read = (key: string): AdapterPayload | undefined => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    const now = Date.now();
    if (entry.expiresAt <= now) {
      entries.delete(key);
      clientKeys.delete(key);
      return undefined;
    }
    if (clientKeys.has(key)) entry.expiresAt = now + clientTtlMs;
    return entry.payload;
  };

  const clientCount = () => {
    const now = Date.now();
    for (const key of clientKeys) {
      if ((entries.get(key)?.expiresAt ?? 0) <= now) {
        entries.delete(key);
        clientKeys.delete(key);
      }
    }
    return clientKeys.size;
  };

  const sweep = () => {
    const now = Date.now();
    for (const [key, entry] of entries) {
      if (entry.expiresAt <= now) {
        entries.delete(key);
        clientKeys.delete(key);
      }
    }
    for (const [grantId, members] of grantMembers) {
      for (const key of members) if (!entries.has(key)) members.delete(key);
      if (members.size === 0) grantMembers.delete(grantId);
    }
    for (const [index, target] of [...sessionUids, ...userCodes]) {
      if (!entries.has(target)) {
        sessionUids.delete(index);
        userCodes.delete(index);
      }
    }
  };

  const adapterFactory = (model: string): Adapter => {
    const keyOf = (id: string) => `${model}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        const key = keyOf(id);
        const expiresAt =
          typeof expiresIn === 'number'
            ? Date.now() + expiresIn * 1000
            : model === 'Client'
              ? Date.now() + clientTtlMs
              : Infinity;
        entries.set(key, { payload, expiresAt });
        if (model === 'Client') clientKeys.add(key);
        if (model === 'Session' && typeof payload.uid === 'string') sessionUids.set(payload.uid, key);
        if (typeof payload.userCode === 'string') userCodes.set(payload.userCode, key);
        if (GRANT_BOUND_MODELS.has(model) && typeof payload.grantId === 'string') {
          const members = grantMembers.get(payload.grantId) ?? new Set<string>();
          members.add(key);
          grantMembers.set(payload.grantId, members);
        }
        writes += 1;
        if (writes % SWEEP_EVERY_WRITES === 0) sweep();
      },
      async find(id) {
        return read(keyOf(id));
      },
      async findByUid(uid) {
        const key = sessionUids.get(uid);
        return key === undefined ? undefined : read(key);
      },
      async findByUserCode(userCode) {
        const key = userCodes.get(userCode);
        return key === undefined ? undefined : read(key);
      },
      async consume(id) {
        const payload = read(keyOf(id));
        if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        entries.delete(keyOf(id));
        clientKeys.delete(keyOf(id));
      },
      async revokeByGrantId(grantId) {
        for (const key of grantMembers.get(grantId) ?? []) entries.delete(key);
        grantMembers.delete(grantId);
      },
    };
  };
  return { adapterFactory, clientCount };
}
