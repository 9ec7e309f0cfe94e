import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProjectorError, type Projector, type ProjectorStats } from '@gatehouse/projector';
import {
  RESTART_CALM_MS,
  RESTART_FIRST_MS,
  RESTART_MAX_MS,
  superviseProjector,
} from '../src/projector-supervisor.js';

/** A projector of our own port that fails when told to; what the supervisor sees of a real one. */
class FakeProjector implements Projector {
  state: ProjectorStats['state'] = 'idle';
  stops = 0;
  constructor(
    readonly fail: (error: ProjectorError) => void,
    readonly startError?: ProjectorError,
  ) {}
  async start(): Promise<void> {
    if (this.startError) throw this.startError;
    this.state = 'running';
  }
  async stop(): Promise<void> {
    this.stops++;
    this.state = 'stopped';
  }
  async drain(): Promise<void> {}
  stats(): ProjectorStats {
    return {
      state: this.state,
      batches: 0,
      events: 0,
      retries: 0,
      deadLettered: 0,
      lag: 0,
      lastToken: undefined,
      lastCommitAt: undefined,
      lastError: undefined,
    };
  }
  crash(): void {
    this.state = 'failed';
    this.fail(new ProjectorError('GH_ERR_PROJECTOR_FAILED', 'store unavailable after 10 attempts'));
  }
}

const logger = { error: vi.fn(), info: vi.fn() };

afterEach(() => {
  vi.useRealTimers();
  logger.error.mockReset();
  logger.info.mockReset();
});

describe('superviseProjector', () => {
  it('starts a new projector after a failure, waiting 1 s, then doubling while failures come in a row', async () => {
    vi.useFakeTimers();
    let clock = 0;
    const made: FakeProjector[] = [];
    const supervised = superviseProjector(
      (onFailure) => {
        const projector = new FakeProjector(onFailure);
        made.push(projector);
        return projector;
      },
      logger,
      () => clock,
    );
    await supervised.start();
    made[0]!.crash();
    expect(supervised.stats()).toMatchObject({ state: 'failed', restarts: 0 });
    await vi.advanceTimersByTimeAsync(RESTART_FIRST_MS - 1);
    expect(made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(made).toHaveLength(2);
    expect(made[0]!.stops).toBe(1);
    expect(supervised.stats()).toMatchObject({ state: 'running', restarts: 1 });

    made[1]!.crash();
    await vi.advanceTimersByTimeAsync(2 * RESTART_FIRST_MS);
    expect(made).toHaveLength(3);
    // A long calm spell: the next failure waits the first delay again.
    clock += RESTART_CALM_MS;
    made[2]!.crash();
    await vi.advanceTimersByTimeAsync(RESTART_FIRST_MS);
    expect(made).toHaveLength(4);
    expect(supervised.stats().restarts).toBe(3);
    expect(logger.error).toHaveBeenCalledTimes(3);
    expect(logger.error.mock.calls[1]![0]).toMatchObject({ restartInMs: 2 * RESTART_FIRST_MS });
    await supervised.stop();
  });

  it('keeps trying when a restart itself fails, up to the longest wait', async () => {
    vi.useFakeTimers();
    const made: FakeProjector[] = [];
    const down = new ProjectorError('GH_ERR_PROJECTOR_FAILED', 'broker unreachable');
    const supervised = superviseProjector((onFailure) => {
      const projector = new FakeProjector(onFailure, made.length === 0 ? undefined : down);
      made.push(projector);
      return projector;
    }, logger);
    await supervised.start();
    made[0]!.crash();
    await vi.advanceTimersByTimeAsync(20 * RESTART_MAX_MS);
    const waits = logger.error.mock.calls.map((call) => (call[0] as { restartInMs: number }).restartInMs);
    expect(waits.slice(0, 7)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, RESTART_MAX_MS]);
    expect(Math.max(...waits)).toBe(RESTART_MAX_MS);
    expect(supervised.stats().restarts).toBe(0);
    await supervised.stop();
  });

  it('starts nothing more once stopped', async () => {
    vi.useFakeTimers();
    const made: FakeProjector[] = [];
    const supervised = superviseProjector((onFailure) => {
      const projector = new FakeProjector(onFailure);
      made.push(projector);
      return projector;
    }, logger);
    await supervised.start();
    made[0]!.crash();
    await supervised.stop();
    await vi.advanceTimersByTimeAsync(10 * RESTART_MAX_MS);
    expect(made).toHaveLength(1);
  });
});
