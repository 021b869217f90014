#!/usr/bin/env node
// Prints the first-load weight of the built site: index.html plus the CSS and JS it links,
// compressed as CloudFront would serve them (gzip and brotli), excluding images and PDFs.
// Exits 1 when the gzip figure is over the budget.
//
//   node scripts/site-weight.mjs [SITE_DIR] [--budget-kb 60]
//   (SITE_DIR defaults to out/local/site: `infra-synth site build --stack local` writes it)

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const args = process.argv.slice(2);
const budgetAt = args.indexOf('--budget-kb');
const budgetKb = budgetAt >= 0 ? Number(args.splice(budgetAt, 2)[1]) : 60;
const siteDir = args[0] ?? 'out/local/site';
const index = join(siteDir, 'index.html');
if (!existsSync(index) || !Number.isFinite(budgetKb)) {
  console.error(`usage: node scripts/site-weight.mjs [SITE_DIR] [--budget-kb N]\n${index} not found: run \`infra-synth site build --stack local\` first`);
  process.exit(2);
}

const html = readFileSync(index, 'utf8');
const linked = [...html.matchAll(/<(?:link rel="stylesheet" href|script type="module" src)="\/([^"]+\.(?:css|js))"/g)].map((m) => m[1]);
const rows = ['index.html', ...linked].map((path) => {
  const body = readFileSync(join(siteDir, path));
  return {
    path,
    raw: body.length,
    gzip: gzipSync(body, { level: 9 }).length,
    brotli: brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
});
const total = rows.reduce((sum, r) => ({ raw: sum.raw + r.raw, gzip: sum.gzip + r.gzip, brotli: sum.brotli + r.brotli }), { raw: 0, gzip: 0, brotli: 0 });
const kb = (bytes) => (bytes / 1024).toFixed(1).padStart(7);
console.log(`${'file'.padEnd(34)}${'raw KB'.padStart(8)}${'gzip KB'.padStart(8)}${'br KB'.padStart(8)}`);
for (const r of [...rows, { path: 'total', ...total }]) {
  console.log(`${r.path.padEnd(34)}${kb(r.raw)} ${kb(r.gzip)} ${kb(r.brotli)}`);
}
const ok = total.gzip <= budgetKb * 1024;
console.log(`first-load weight: ${(total.gzip / 1024).toFixed(1)} KB gzip, ${(total.brotli / 1024).toFixed(1)} KB brotli (budget ${budgetKb} KB gzip): ${ok ? 'ok' : 'OVER BUDGET'}`);
process.exit(ok ? 0 : 1);
