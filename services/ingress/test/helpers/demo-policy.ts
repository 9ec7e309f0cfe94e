import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadPolicy, type Policy } from '@gatehouse/policy';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from './gateway-fixture.js';

/** The real policy of the support-desk demo, loaded from examples/support-desk/gatehouse.yaml. */
export async function demoPolicy(): Promise<Policy> {
  const file = join(REPO_ROOT, 'examples/support-desk/gatehouse.yaml');
  const config = parseYaml(await readFile(file, 'utf8')) as { policy: Parameters<typeof loadPolicy>[0] };
  return loadPolicy(config.policy, { source: file });
}
