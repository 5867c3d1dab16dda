import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * What the repository must never track. A worktree's `node_modules` is often a symlink to another
 * checkout's, which a `node_modules/` pattern does not ignore; committed once, checking that commit
 * out in the other checkout replaced its installed packages with the symlink (git treats ignored
 * files as expendable). This fails before such a commit is merged anywhere.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const NEVER_TRACKED = ['node_modules', 'dist'];

describe('the repository', () => {
  it(`tracks nothing under ${NEVER_TRACKED.join(', ')}`, () => {
    const tracked = execFileSync('git', ['ls-files', '--', ...NEVER_TRACKED], { cwd: root, encoding: 'utf8' }).split('\n').filter((l) => l !== '');
    expect(tracked).toEqual([]);
  });
});
