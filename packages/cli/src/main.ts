/**
 * `gatehouse` — the front door. Every command accepts `--json` where it prints data; errors name
 * the flag, value, file or key at fault and exit 2 (usage errors too); `verify` exits 1 when the
 * record is broken, `demo` when the scenario did not go as told; `--help` and `--version` exit 0.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { GatehouseError } from '@gatehouse/events';
import { registerStartCommand } from './commands/start.js';
import { registerTokenCommand } from './commands/token.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerRebuildCommand } from './commands/rebuild.js';
import { registerQueryCommands } from './commands/register-query-commands.js';
import { registerQueryApiCommand } from './commands/query-api.js';

const program = new Command('gatehouse')
  .description(
    'MCP gateway with an OAuth 2.1 perimeter, per-tool authorization and an event-sourced audit trail',
  )
  .version(cliVersion(), '-V, --version', 'print the version of gatehouse')
  .showHelpAfterError()
  .exitOverride();

registerStartCommand(program);
registerTokenCommand(program);
registerDemoCommand(program);
registerRebuildCommand(program);
registerQueryCommands(program);
registerQueryApiCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander has printed the message. It exits 0 for help and version and 1 for every usage
    // error (missing argument or option, unknown option or command), and 1 means "broken chain"
    // from `verify`: a command line it refused is an error like any other, exit 2.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof GatehouseError) {
    // Exit 2: the command could not answer (bad flag, config, connection). Exit 1 is reserved for
    // answers that are failures in themselves, such as `verify` finding a broken chain.
    console.error(`error: ${error.message}`);
    process.exitCode = 2;
  } else {
    console.error(error);
    process.exitCode = 2;
  }
}

/** The version of this package (`packages/cli/package.json`). */
function cliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}
