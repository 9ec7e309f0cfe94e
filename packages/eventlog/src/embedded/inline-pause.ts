/**
 * An inline commit (write + fdatasync on the event loop's thread) slower than this (ms) held the
 * whole process that long: the disk stalled. 20 ms, not less: a disk that is merely uneven (this
 * project's VMs measure a paced 1 KiB write + fdatasync at p99.9 3–4 ms with single hiccups of
 * 5–40 ms) would otherwise turn the fast path off for most of its life, while the appends that wait
 * through a hiccup wait as long through the pool.
 */
export const INLINE_SLOW_MS = 20;
/** The first pause of inline commits after a slow one (ms); doubled while slow ones keep coming. */
export const INLINE_PAUSE_MS = 10_000;
/** The longest pause (ms). */
export const INLINE_PAUSE_MAX_MS = 10 * 60_000;
/** Inline commits without a slow one for this long (ms) after a pause start the next pause short again. */
export const INLINE_CALM_MS = 10 * 60_000;

/**
 * When a quiet log may commit inline. A slow inline commit pauses inline commits for
 * `INLINE_PAUSE_MS`, so that a stalling disk holds appends rather than the whole process; each slow
 * one within `INLINE_CALM_MS` of the previous pause's end doubles the pause (up to
 * `INLINE_PAUSE_MAX_MS`), and a calm spell starts again at `INLINE_PAUSE_MS`: one hiccup a day must
 * not end inline commits for good. Times are `performance.now()` milliseconds.
 */
export class InlinePause {
  #until = -Infinity;
  #nextPauseMs = INLINE_PAUSE_MS;

  /** Whether an inline commit may start at `now`. */
  allows(now: number): boolean {
    return now >= this.#until;
  }

  /** When inline commits may start again (`-Infinity` before any slow one). */
  get until(): number {
    return this.#until;
  }

  /** Records an inline commit that held the event loop from `started` to `ended`. */
  record(started: number, ended: number): void {
    if (ended - started <= INLINE_SLOW_MS) return;
    if (ended - this.#until > INLINE_CALM_MS) this.#nextPauseMs = INLINE_PAUSE_MS;
    this.#until = ended + this.#nextPauseMs;
    this.#nextPauseMs = Math.min(this.#nextPauseMs * 2, INLINE_PAUSE_MAX_MS);
  }
}
