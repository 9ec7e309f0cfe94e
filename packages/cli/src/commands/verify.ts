import type { Command } from 'commander';
import {
  queryClientFor,
  withQueryOptions,
  type CommonQueryOptions,
  type QueryCommandDeps,
} from '../query-client.js';
import { renderVerification } from '../render/answers.js';
import { createPalette } from '../render/palette.js';

/**
 * `gatehouse verify SESSION`: re-hashes the session as stored and checks it against the latest
 * signed checkpoint. Exit code 0 when intact, 1 when broken (the first bad link is printed).
 */
export function registerVerifyCommand(program: Command, deps: QueryCommandDeps = {}): Command {
  return withQueryOptions(
    program
      .command('verify')
      .description("verify that a session's audit record was not altered (exit 0 intact, 1 broken)")
      .argument('<session>', 'MCP session id'),
  ).action(async (session: string, options: CommonQueryOptions) => {
    const client = await queryClientFor(options, deps, { 'params/id': 'SESSION' });
    const report = await client.verify(session);
    const out = deps.out ?? process.stdout;
    out.write(
      options.json
        ? `${JSON.stringify(report, null, 2)}\n`
        : `${renderVerification(report, createPalette(out, deps.env ?? process.env))}\n`,
    );
    (deps.setExitCode ?? ((code: number) => (process.exitCode = code)))(report.intact ? 0 : 1);
  });
}
