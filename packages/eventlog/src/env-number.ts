import { LogError } from './errors.js';

/**
 * A number read from the environment variable `name`: undefined when it is unset or empty. `parse`
 * gives the value of the text, or undefined when the text is not one; a bad value is a
 * `GH_ERR_LOG_CONFIG` naming the variable and `expected` ("a whole number of bytes ≥ 1024").
 */
export function numberFromEnv(
  env: NodeJS.ProcessEnv,
  name: string,
  parse: (raw: string) => number | undefined,
  expected: string,
): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = parse(raw);
  if (value === undefined) throw new LogError('GH_ERR_LOG_CONFIG', `${name}: "${raw}" is not ${expected}`);
  return value;
}
