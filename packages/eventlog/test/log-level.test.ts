import { describe, expect, it } from 'vitest';
import { LOG_LEVELS, logLevelFromEnv } from '../src/index.js';

describe('logLevelFromEnv', () => {
  it('leaves an unset or empty LOG_LEVEL to the process default', () => {
    expect(logLevelFromEnv({})).toBeUndefined();
    expect(logLevelFromEnv({ LOG_LEVEL: '' })).toBeUndefined();
  });

  it("accepts each of pino's levels", () => {
    for (const level of LOG_LEVELS) expect(logLevelFromEnv({ LOG_LEVEL: level })).toBe(level);
  });

  it('refuses any other, naming the variable and the levels', () => {
    expect(() => logLevelFromEnv({ LOG_LEVEL: 'loud' })).toThrow(
      expect.objectContaining({
        code: 'GH_ERR_LOG_CONFIG',
        message: 'LOG_LEVEL: "loud" is not one of fatal, error, warn, info, debug, trace, silent',
      }),
    );
    expect(() => logLevelFromEnv({ LOG_LEVEL: 'INFO' })).toThrow('LOG_LEVEL: "INFO"');
  });
});
