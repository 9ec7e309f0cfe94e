import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from '../src/memory-adapter.js';

const DAY_MS = 86_400_000;
/** oidc-provider stores a registered client with no `expiresIn` (its type says number). */
const NO_EXPIRY = undefined as unknown as number;

describe('memory store: dynamically registered clients', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  const store = () => createMemoryStore({ clientIdleTtlSec: 14 * 86_400 });

  it('forgets a client nobody looked up for the idle lifetime, and stops counting it', async () => {
    const memory = store();
    const clients = memory.adapterFactory('Client');
    await clients.upsert('a', { client_id: 'a' }, NO_EXPIRY);
    await clients.upsert('b', { client_id: 'b' }, NO_EXPIRY);
    expect(memory.clientCount()).toBe(2);

    vi.advanceTimersByTime(14 * DAY_MS);

    expect(memory.clientCount()).toBe(0);
    expect(await clients.find('a')).toBeUndefined();
  });

  it('restarts the clock on every lookup', async () => {
    const memory = store();
    const clients = memory.adapterFactory('Client');
    await clients.upsert('a', { client_id: 'a' }, NO_EXPIRY);

    vi.advanceTimersByTime(10 * DAY_MS);
    expect(await clients.find('a')).toMatchObject({ client_id: 'a' });
    vi.advanceTimersByTime(10 * DAY_MS);

    expect(memory.clientCount()).toBe(1);
    expect(await clients.find('a')).toMatchObject({ client_id: 'a' });
  });

  it('counts clients only, and a destroyed client no more', async () => {
    const memory = store();
    await memory.adapterFactory('Session').upsert('s', { uid: 'u' }, 60);
    const clients = memory.adapterFactory('Client');
    await clients.upsert('a', { client_id: 'a' }, NO_EXPIRY);
    await clients.destroy('a');

    expect(memory.clientCount()).toBe(0);
  });
});
