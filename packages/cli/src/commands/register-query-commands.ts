import type { Command } from 'commander';
import type { QueryCommandDeps } from '../query-client.js';
import { registerCanCommand } from './can.js';
import { registerDidCommand } from './did.js';
import { registerReplayCommand } from './replay.js';
import { registerSessionsCommand } from './sessions.js';
import { registerVerifyCommand } from './verify.js';

/** The commands that answer questions through the query API: can, did, replay, verify, sessions. */
export function registerQueryCommands(program: Command, deps: QueryCommandDeps = {}): void {
  registerCanCommand(program, deps);
  registerDidCommand(program, deps);
  registerReplayCommand(program, deps);
  registerVerifyCommand(program, deps);
  registerSessionsCommand(program, deps);
}
