// The package's public surface against the API reports checked in under sdk/api/
// (scripts/api-report.ts): a change to what plugin authors import fails here, with the
// diff, until the report is regenerated and committed with it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareReports, generateReports, writeReports } from '../../scripts/api-report.ts';

describe('the API report', { timeout: 120_000 }, () => {
  const reports = generateReports();

  it('records the surface the sources have now', () => {
    const diff = compareReports(reports);
    assert.ok(
      diff === '',
      `the public surface differs from sdk/api/:\n\n${diff}\n\n` +
        'If the change is deliberate, run `npm run api:report` and commit sdk/api/ with it: plugin authors see a change to the contract.',
    );
  });

  it('has one report per TypeScript export, and shows a change as a diff of it', () => {
    assert.deepEqual([...reports.keys()].sort(), ['tapgate-sdk-testing.api.md', 'tapgate-sdk.api.md', 'tapgate.api.md']);
    assert.match(
      reports.get('tapgate-sdk.api.md')!,
      /^## API Report File for "tapgate\/sdk"\n[\s\S]*\nexport function definePlugin<Options = Record<string, unknown>>\(definition: PluginDefinition<Options>\): PluginDefinition<Options>;\n/,
    );

    const dir = mkdtempSync(join(tmpdir(), 'tapgate-api-report-'));
    try {
      writeReports(reports, dir);
      const changed = new Map(reports);
      const sdk = reports.get('tapgate-sdk.api.md')!;
      changed.set('tapgate-sdk.api.md', sdk.replace('export function definePlugin<', 'export function definePlugin2<'));
      changed.delete('tapgate.api.md');
      const diff = compareReports(changed, dir);
      assert.match(diff, new RegExp(`^--- ${dir}/tapgate-sdk.api.md \\(checked in\\)\n\\+\\+\\+ ${dir}/tapgate-sdk.api.md \\(the sources now\\)\n@@ `, 'm'));
      assert.match(diff, /^-export function definePlugin<Options/m);
      assert.match(diff, /^\+export function definePlugin2<Options/m);
      assert.match(diff, new RegExp(`^${dir}/tapgate.api.md: no package export has this report any more$`, 'm'));
      assert.equal(compareReports(reports, dir), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
