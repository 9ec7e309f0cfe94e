/**
 * `gatehouse` — the front door. Every command accepts `--json` where it prints data; errors name
 * the flag, value, file or key at fault and exit 2; `verify` exits 1 when the record is broken.
 */
import { Command, CommanderError } from 'commander';
import { GatehouseError } from '@gatehouse/events';
import { registerStartCommand } from './commands/start.js';
import { registerTokenCommand } from './commands/token.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerRebuildCommand } from './commands/rebuild.js';
import { registerQueryCommands } from './commands/register-query-commands.js';

const program = new Command('gatehouse')
  .description(
    'MCP gateway with an OAuth 2.1 perimeter, per-tool authorization and an event-sourced audit trail',
  )
  .showHelpAfterError()
  .exitOverride();

registerStartCommand(program);
registerTokenCommand(program);
registerDemoCommand(program);
registerRebuildCommand(program);
registerQueryCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
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
