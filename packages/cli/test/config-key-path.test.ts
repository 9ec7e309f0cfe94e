import { describe, expect, it } from 'vitest';
import { formatKeyPath } from '../src/config-key-path.js';
import { policyConfigSchema } from '@gatehouse/policy';

describe('formatKeyPath: where a configuration error is', () => {
  it('joins keys with dots and puts array indices in brackets, as the README shows', () => {
    expect(formatKeyPath(['policy', 'rules', 3, 2])).toBe('policy.rules[3][2]');
    expect(formatKeyPath(['gateway', 'allowedHosts', 0])).toBe('gateway.allowedHosts[0]');
    expect(formatKeyPath(['upstreams', 'support', 'timeoutMs'])).toBe('upstreams.support.timeoutMs');
  });

  it('names the document itself (root) and quotes keys that are not plain names', () => {
    expect(formatKeyPath([])).toBe('(root)');
    expect(formatKeyPath([0])).toBe('[0]');
    expect(formatKeyPath(['upstreams', 'my server', 'url'])).toBe('upstreams["my server"].url');
    expect(formatKeyPath(['upstreams', 'a.b'])).toBe('upstreams["a.b"]');
  });

  it('prints a bad policy rule the way policy loading does', () => {
    const result = policyConfigSchema.safeParse({
      rules: [
        ['agent:a', 'x', 'allow'],
        ['agent:b', 'y', 'permit'],
      ],
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((issue) => formatKeyPath(['policy', ...issue.path]));
    expect(paths).toContain('policy.rules[1][2]');
  });
});
