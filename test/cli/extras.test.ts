import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { extrasGroups } from '../../cli/lib/extras.js';
import { ROOT, runCli } from './helpers/run-cli.js';

/**
 * The optional package groups (package.json `jobs.extras`): complete in a clone; an installed
 * client lacks them (test/e2e/package-install.test.ts installs one and runs the commands).
 */
describe('extras', () => {
  it('are all installed in a clone, so extras install has nothing to do', async () => {
    const list = await runCli(['extras', 'list', '--json']);
    expect(list.code).toBe(0);
    const groups = JSON.parse(list.stdout);
    expect(groups.map((g: { name: string }) => g.name)).toEqual(['server', 'infra']);
    for (const g of groups) expect(g).toMatchObject({ installed: true, missing: [] });

    const install = await runCli(['extras', 'install', 'server', 'infra']);
    expect(install.code).toBe(0);
    expect(install.stderr).toBe('Already installed: server, infra.\n');
  });

  it('refuse an unknown group with a usage error, before npm runs', async () => {
    const r = await runCli(['extras', 'install', 'gui']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('unknown extras group "gui": the groups are server, infra');
  });

  it('pin every group to the versions the clone is developed with', () => {
    const pjson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    for (const g of extrasGroups(ROOT)) {
      for (const spec of g.specs) {
        const at = spec.lastIndexOf('@');
        const name = spec.slice(0, at);
        expect(pjson.peerDependenciesMeta[name]).toEqual({ optional: true });
        expect(pjson.devDependencies[name]).toBe(spec.slice(at + 1));
        expect(pjson.dependencies[name]).toBeUndefined();
      }
    }
  });

  it('are missing where no node_modules has them', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-extras-'));
    try {
      fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(root, 'package.json'));
      for (const g of extrasGroups(root)) expect(g.missing).toHaveLength(g.specs.length);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
