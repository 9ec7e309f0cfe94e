import type { Projector, ProjectorError, ProjectorStats } from '@gatehouse/projector';
import type { Logger } from 'pino';

/** First wait before a failed projector is started again (ms); doubled per failure in a row. */
export const RESTART_FIRST_MS = 1_000;
/** Longest wait between restarts (ms). */
export const RESTART_MAX_MS = 60_000;
/** Running this long (ms) since its last start makes the next failure wait `RESTART_FIRST_MS` again. */
export const RESTART_CALM_MS = 10 * 60_000;

/** Projector stats plus what the supervisor adds. */
export interface SupervisedProjectorStats extends ProjectorStats {
  /** Times the projector was started again after it failed. */
  restarts: number;
}

export interface SupervisedProjector extends Projector {
  stats(): SupervisedProjectorStats;
}

/**
 * Runs the projector of `gatehouse start` and starts a new one when it fails (its retries ran out:
 * a long ClickHouse or broker outage), after 1 s, doubling up to 60 s, instead of leaving the
 * projection stopped behind a single log line while the gateway goes on recording. `create`
 * builds a projector that reports its failure to the callback it is given. Every failure and
 * restart is logged at error level; `stats()` counts restarts, and its `state` is `failed` between
 * a failure and the next successful start (what `/healthz` reports).
 */
export function superviseProjector(
  create: (onFailure: (error: ProjectorError) => void) => Projector,
  logger: Pick<Logger, 'error' | 'info'>,
  now: () => number = Date.now,
): SupervisedProjector {
  let current: Projector;
  let restarts = 0;
  let failuresInRow = 0;
  let startedAt = now();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const onFailure = (projector: Projector) => (error: ProjectorError) => {
    if (stopped || projector !== current) return;
    if (now() - startedAt >= RESTART_CALM_MS) failuresInRow = 0;
    const waitMs = Math.min(RESTART_FIRST_MS * 2 ** failuresInRow, RESTART_MAX_MS);
    failuresInRow++;
    logger.error({ err: error, restartInMs: waitMs }, 'projector failed; starting it again');
    timer = setTimeout(() => void restart(projector), waitMs);
  };

  const build = (): Projector => {
    // The callback names the projector it belongs to, known only once `create` returned it.
    const made: { projector?: Projector } = {};
    made.projector = create((error) => onFailure(made.projector!)(error));
    return made.projector;
  };

  const restart = async (failed: Projector): Promise<void> => {
    timer = undefined;
    await failed.stop().catch(() => undefined);
    if (stopped) return;
    const next = build();
    current = next;
    try {
      await next.start();
      startedAt = now();
      restarts++;
      logger.info({ restarts }, 'projector started again');
    } catch (error) {
      onFailure(next)(error as ProjectorError);
    }
  };

  current = build();
  return {
    async start() {
      startedAt = now();
      await current.start();
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await current.stop();
    },
    drain: (timeoutMs) => current.drain(timeoutMs),
    stats: () => ({ ...current.stats(), restarts }),
  };
}
