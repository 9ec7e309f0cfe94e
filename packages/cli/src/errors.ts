import { GatehouseError } from '@gatehouse/events';

/** Error codes of the `gatehouse` command and its configuration loading. */
export const CLI_ERROR_CODES = [
  'GH_ERR_CONFIG_FILE',
  'GH_ERR_CONFIG_INVALID',
  'GH_ERR_CONFIG_ENV',
  'GH_ERR_CLI_USAGE',
] as const;
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

/** A configuration or usage error; the message names the file, key path, variable or flag at fault. */
export class CliError extends GatehouseError {
  declare readonly code: CliErrorCode;
  constructor(code: CliErrorCode, message: string, cause?: unknown) {
    super(code, message, { cause });
    this.name = 'CliError';
  }
}
