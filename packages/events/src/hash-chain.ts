import * as crypto from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { EVENT_KEYS, GENESIS_HASH, type GatehouseEvent } from './schema.js';

/** An event before it is placed in a chain: everything but `seq`, `prev_hash` and `hash`. */
export type EventDraft = GatehouseEvent extends infer E
  ? E extends GatehouseEvent
    ? Omit<E, 'seq' | 'prev_hash' | 'hash'>
    : never
  : never;

/** The head of a chain: what the next event links to. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** One-shot hashing (Node ≥ 20.12): no Hash object per call. */
const oneShot = (
  crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string }
).hash;

/** SHA-256 (hex) of a string or bytes. */
export function sha256Hex(input: string | Uint8Array): string {
  return oneShot ? oneShot('sha256', input, 'hex') : crypto.createHash('sha256').update(input).digest('hex');
}

/**
 * Canonical JSON of each sealed event (with its `hash`), computed once while sealing so that
 * writing the event to the log does not encode it a second time. Sealed events are frozen, so the
 * cached text cannot go stale through a field assignment.
 */
const sealedText = new WeakMap<GatehouseEvent, string>();

/** The canonical JSON that `sealEvent` computed for `event`, if this process sealed it. */
export function cachedCanonicalJson(event: GatehouseEvent): string | undefined {
  return sealedText.get(event);
}

/** The hash an event must carry: SHA-256 over the canonical JSON of the event without `hash`. */
export function computeEventHash(event: Omit<GatehouseEvent, 'hash'> | GatehouseEvent): string {
  const { hash: _ignored, ...rest } = event as GatehouseEvent;
  return sha256Hex(canonicalJson(rest));
}

/**
 * Every member of a sealed event (`EVENT_KEYS`) in canonical (sorted) order, and its JSON-quoted
 * key: `sealEvent` writes an event with exactly these keys member by member, with no sorting of
 * the envelope; anything else takes the generic path.
 */
const ENVELOPE_KEYS = [...EVENT_KEYS].sort();
const QUOTED_KEYS = ENVELOPE_KEYS.map((key) => `${JSON.stringify(key)}:`);
const HASH_INDEX = ENVELOPE_KEYS.indexOf('hash');

/** What `sealEvent` adds to a draft. */
interface Link {
  readonly seq: number;
  readonly prev_hash: string;
}

const LINK_KEYS = new Set(['seq', 'prev_hash', 'hash']);

/**
 * The canonical JSON of `draft` placed at `link`, without `hash`, split around where `hash` goes:
 * `{<before>,"hash":…,<after>}` is the sealed text and `{<before>,<after>}` the hashed one. Undefined
 * when `draft` does not carry exactly the envelope's members (the caller then encodes it generically).
 * A draft may already carry `seq`, `prev_hash` and `hash` (an event sealed again): `link` wins.
 */
function envelopeParts(
  draft: Record<string, unknown>,
  link: Link,
): { before: string; after: string } | undefined {
  let linkMembers = 0;
  for (const key of LINK_KEYS) if (key in draft) linkMembers++;
  if (Object.keys(draft).length !== ENVELOPE_KEYS.length - LINK_KEYS.size + linkMembers) return undefined;
  // Arrays joined, not `+=`: a joined string is flat, where `+=` builds a rope of every piece
  // that the hash, the retained sealed text and its encoding would each walk again.
  const before: string[] = [];
  const after: string[] = [];
  for (let i = 0; i < ENVELOPE_KEYS.length; i++) {
    if (i === HASH_INDEX) continue;
    const key = ENVELOPE_KEYS[i]!;
    let value: unknown;
    if (key === 'seq') value = link.seq;
    else if (key === 'prev_hash') value = link.prev_hash;
    else if (key in draft) value = draft[key];
    else return undefined;
    if (value === undefined) continue;
    (i < HASH_INDEX ? before : after).push(
      QUOTED_KEYS[i]! + (typeof value === 'string' ? JSON.stringify(value) : canonicalJson(value)),
    );
  }
  return { before: before.join(','), after: after.join(',') };
}

/**
 * The sealed envelope as one object literal: every sealed event then has the same V8 shape with its
 * members in place. A spread (`{ ...draft, seq, prev_hash, hash }`) costs about 3 µs an event here, as
 * V8 copies and then adds members on a slow path, and `Object.assign` gives an object in dictionary
 * mode; this costs about 0.1 µs. The compiler checks the literal names every member of the envelope.
 */
function sealedEnvelope(draft: EventDraft, link: Link, hash: string): GatehouseEvent {
  const sealed: Record<keyof GatehouseEvent, unknown> = {
    id: draft.id,
    type: draft.type,
    v: draft.v,
    ts: draft.ts,
    session_id: draft.session_id,
    seq: link.seq,
    prev_hash: link.prev_hash,
    hash,
    agent: draft.agent,
    user: draft.user,
    scopes: draft.scopes,
    client_ip: draft.client_ip,
    user_agent: draft.user_agent,
    server: draft.server,
    tool: draft.tool,
    request_id: draft.request_id,
    args: draft.args,
    args_sha256: draft.args_sha256,
    decision: draft.decision,
    outcome: draft.outcome,
    data: draft.data,
  };
  return sealed as GatehouseEvent;
}

/**
 * Places a draft after `head` (or at seq 0 when `head` is undefined) and computes its hash.
 * Pure: the caller owns the head and must advance it to the returned event.
 */
export function sealEvent(draft: EventDraft, head: ChainHead | undefined): GatehouseEvent {
  const link: Link = {
    seq: head === undefined ? 0 : head.seq + 1,
    prev_hash: head === undefined ? GENESIS_HASH : head.hash,
  };
  // The members that sort before `hash` and those after it are encoded separately, so that the text
  // with `hash` spliced in between is the canonical JSON of the sealed event, built only once.
  const envelope = envelopeParts(draft as Record<string, unknown>, link);
  const parts = envelope ?? genericParts({ ...draft, ...link });
  const hash = sha256Hex(jsonObject(parts.before, parts.after));
  const event = Object.freeze(
    envelope ? sealedEnvelope(draft, link, hash) : ({ ...draft, ...link, hash } as GatehouseEvent),
  );
  sealedText.set(event, jsonObject(parts.before, `"hash":${JSON.stringify(hash)}`, parts.after));
  return event;
}

/** `{a,b,…}` from encoded member lists, skipping empty ones: one flat string. */
function jsonObject(...members: string[]): string {
  const present: string[] = [];
  for (const text of members) if (text !== '') present.push(text);
  return `{${present.join(',')}}`;
}

/** `envelopeParts` for any object: sorts and encodes every member but `hash`. */
function genericParts(unsealed: object): { before: string; after: string } {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(unsealed)) {
    if (key !== 'hash') (key < 'hash' ? before : after)[key] = value;
  }
  return { before: canonicalJson(before).slice(1, -1), after: canonicalJson(after).slice(1, -1) };
}

/**
 * Keeps the heads of many chains (one per session or named stream) and seals drafts onto them.
 * Not persistent: a process that restarts starts new sessions; named streams that outlive a process
 * are seeded with `restore`.
 */
export class ChainRegistry {
  readonly #heads = new Map<string, ChainHead>();

  /** Seals `draft` onto the chain named by its `session_id` and advances that chain. */
  seal(draft: EventDraft): GatehouseEvent {
    const event = sealEvent(draft, this.#heads.get(draft.session_id));
    this.#heads.set(event.session_id, { seq: event.seq, hash: event.hash });
    return event;
  }

  /** Seeds a chain's head, e.g. from the last event of a named stream read back at start-up. */
  restore(sessionId: string, head: ChainHead): void {
    this.#heads.set(sessionId, head);
  }

  /** Undoes the last `seal` on a chain, for an append that was refused (nothing was written). */
  rewind(sessionId: string, to: ChainHead | undefined): void {
    if (to === undefined) this.#heads.delete(sessionId);
    else this.#heads.set(sessionId, to);
  }

  head(sessionId: string): ChainHead | undefined {
    return this.#heads.get(sessionId);
  }

  /** Forgets a finished session's head. */
  forget(sessionId: string): void {
    this.#heads.delete(sessionId);
  }

  /** Every chain currently known, for signed checkpoints. */
  heads(): ReadonlyMap<string, ChainHead> {
    return this.#heads;
  }
}
