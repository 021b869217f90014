#!/usr/bin/env node
// Lighthouse 12 against the real local stack (eve-server serving the built site, see
// tests/browser/harness.mjs), in mobile (the default) and desktop modes. Prints the four category
// scores and exits 1 when any is under the minimum. Reports go to tests/browser/artifacts/.
//
//   node scripts/lighthouse.mjs [--min 95]
//   (needs `cargo build -p infra-synth -p eve-function --bins`, chromium and the npm tools of .ci/install)

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, missingTool, startSite } from '../tests/browser/harness.mjs';

const args = process.argv.slice(2);
const minAt = args.indexOf('--min');
const min = minAt >= 0 ? Number(args[minAt + 1]) : 95;
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];

const lighthouse = [join(process.env.CFX_NODE ?? join(process.env.HOME ?? '/root', '.cache/cloudforgex/node'), 'node_modules/.bin/lighthouse')]
  .concat((process.env.PATH ?? '').split(':').map((dir) => join(dir, 'lighthouse')))
  .find((path) => existsSync(path));
if (missingTool('lighthouse', 'chromium', CHROMIUM) || missingTool('lighthouse', 'lighthouse (npm)', lighthouse ?? '/nonexistent')) {
  process.exit(0);
}

const site = await startSite();
let failed = false;
try {
  for (const mode of ['mobile', 'desktop']) {
    const base = join(ARTIFACTS, `lighthouse-${mode}`);
    const run = spawnSync(
      lighthouse,
      [
        `${site.baseUrl}/`,
        `--only-categories=${CATEGORIES.join(',')}`,
        '--output=json',
        '--output=html',
        `--output-path=${base}`,
        `--chrome-flags=${CHROMIUM_ARGS.join(' ')}`,
        '--quiet',
        ...(mode === 'desktop' ? ['--preset=desktop'] : []),
      ],
      { encoding: 'utf8', env: { ...process.env, CHROME_PATH: CHROMIUM } },
    );
    if (run.status !== 0) throw new Error(`lighthouse (${mode}) failed:\n${run.stderr}`);
    const report = JSON.parse(readFileSync(`${base}.report.json`, 'utf8'));
    const scores = CATEGORIES.map((c) => [c, Math.round((report.categories[c]?.score ?? 0) * 100)]);
    console.log(`lighthouse ${report.lighthouseVersion} ${mode}: ${scores.map(([c, s]) => `${c} ${s}`).join(', ')}`);
    for (const [category, score] of scores) {
      if (score < min) {
        failed = true;
        const audits = report.categories[category].auditRefs
          .map((ref) => report.audits[ref.id])
          .filter((a) => a.score !== null && a.score < 1 && a.scoreDisplayMode !== 'informative')
          .map((a) => `  - ${a.id}: ${a.title}`);
        console.log(`${mode} ${category} ${score} < ${min}:\n${audits.join('\n')}`);
      }
    }
  }
} finally {
  site.stop();
}
process.exit(failed ? 1 : 0);
