import { describe, expect, it } from 'vitest';
import {
  INLINE_CALM_MS,
  INLINE_PAUSE_MAX_MS,
  INLINE_PAUSE_MS,
  INLINE_SLOW_MS,
  InlinePause,
} from '../src/embedded/inline-pause.js';

/** Records a commit of `ms` that ended at `at`, and returns how long inline commits are now paused from then. */
function slowAt(pause: InlinePause, at: number, ms = INLINE_SLOW_MS + 1): number {
  pause.record(at - ms, at);
  return pause.until - at;
}

describe('InlinePause', () => {
  it('allows inline commits until one is slower than INLINE_SLOW_MS', () => {
    const pause = new InlinePause();
    expect(pause.allows(0)).toBe(true);
    pause.record(0, INLINE_SLOW_MS); // exactly the limit: not slow
    expect(pause.allows(INLINE_SLOW_MS)).toBe(true);
    expect(slowAt(pause, 1_000)).toBe(INLINE_PAUSE_MS);
    expect(pause.allows(1_000 + INLINE_PAUSE_MS - 1)).toBe(false);
    expect(pause.allows(1_000 + INLINE_PAUSE_MS)).toBe(true);
  });

  it('doubles the pause while slow commits keep coming, up to INLINE_PAUSE_MAX_MS', () => {
    const pause = new InlinePause();
    const pauses: number[] = [];
    let at = 0;
    for (let i = 0; i < 10; i++) {
      const paused = slowAt(pause, at);
      pauses.push(paused);
      at += paused + 60_000; // the next stall a minute after inline commits resumed
    }
    expect(pauses.slice(0, 4)).toEqual([1, 2, 4, 8].map((k) => k * INLINE_PAUSE_MS));
    expect(Math.max(...pauses)).toBe(INLINE_PAUSE_MAX_MS);
    expect(pauses.at(-1)).toBe(INLINE_PAUSE_MAX_MS);
  });

  it('starts again at INLINE_PAUSE_MS after INLINE_CALM_MS of inline commits without a slow one', () => {
    const pause = new InlinePause();
    let at = 0;
    for (let i = 0; i < 3; i++) at += slowAt(pause, at) + 1_000;
    const resumed = pause.until;
    expect(slowAt(pause, resumed + INLINE_CALM_MS)).toBe(8 * INLINE_PAUSE_MS); // not calm long enough
    expect(slowAt(pause, pause.until + INLINE_CALM_MS + 1)).toBe(INLINE_PAUSE_MS);
  });
});
