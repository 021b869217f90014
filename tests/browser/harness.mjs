// Starts the real stack the browser tests and the Lighthouse run look at: moto S3 holding a
// certificate PDF, eve-server (offline model, in-memory store) serving the site built by
// `infra-synth site build` for the port eve-server picked. Everything listens on loopback only.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = join(ROOT, 'tests/browser/artifacts');
export const CHROMIUM = process.env.CHROME_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const CERTIFICATE_BUCKET = 'cfx-local-certificates';

const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target');
const MOTO_SERVE = join(ROOT, 'local-moto/src/moto_serve.py');
const NODE_TOOLS = process.env.CFX_NODE ?? join(process.env.HOME ?? '/root', '.cache/cloudforgex/node');

/** A package installed by .ci/install into the tool cache (or anywhere on NODE_PATH). */
export function requireTool(name) {
  const dirs = [...(process.env.NODE_PATH ?? '').split(delimiter).filter(Boolean), join(NODE_TOOLS, 'node_modules')];
  const require = createRequire(join(ROOT, 'package.json'));
  return require(require.resolve(name, { paths: dirs }));
}

/** Prints the one SKIP line the team agreed on and tells the caller to stop. */
export function missingTool(testName, tool, path) {
  if (path && existsSync(path)) return false;
  if (!path && spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0) return false;
  console.log(`SKIP: ${testName} needs ${tool}`);
  return true;
}

/** Runs a workspace binary from the cargo target dir; CI builds them before the browser step. */
function binary(name) {
  const path = join(TARGET, 'debug', name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`cargo build -p infra-synth -p eve-function --bins\` first`);
  }
  return path;
}

/** Spawns a long-running process and resolves once a stdout line matches `ready`. */
function startProcess(command, args, { env, ready, timeoutMs = 30000 }) {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${command} did not start in ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    child.once('exit', (code) => fail(new Error(`${command} exited with ${code} before it was ready:\n${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = ready.exec(line);
      if (match) {
        clearTimeout(timer);
        done({ child, match });
      }
    });
  });
}

/** A one-page PDF, so the certificate link opens something a browser recognises. */
export function samplePdf(title) {
  const text = `BT /F1 18 Tf 40 100 Td (${title.replace(/[()\\]/g, '')}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${text.length} >>\nstream\n${text}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let body = '%PDF-1.4\n';
  const offsets = objects.map((object, i) => {
    const at = body.length;
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
    return at;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  body += offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

/** moto S3 with the certificates bucket and one PDF per key; null when moto is not installed. */
async function startMoto(keys) {
  // Found as local-moto finds it: CFX_MOTO_SERVER, else on PATH, else in the venv .ci/install makes.
  const found =
    process.env.CFX_MOTO_SERVER ??
    (spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' }).stdout.trim() ||
      join(process.env.HOME ?? '/root', '.cache/cloudforgex/venv/bin/moto_server'));
  if (!existsSync(found)) return null;
  // local-moto's serve script: moto binds its own port and prints it.
  const python = join(dirname(found), 'python');
  const { child, match } = await startProcess(python, [MOTO_SERVE, 'threaded'], {
    env: {},
    ready: /^moto listening on (http:\/\/127\.0\.0\.1:\d+)/,
    timeoutMs: 60000,
  });
  const url = match[1];
  // moto accepts unsigned path-style requests, which keeps seeding free of an SDK.
  const put = async (path, body) => {
    const response = await fetch(`${url}/${path}`, { method: 'PUT', body });
    if (!response.ok) throw new Error(`moto PUT /${path}: ${response.status} ${await response.text()}`);
  };
  await put(CERTIFICATE_BUCKET);
  for (const key of keys) await put(`${CERTIFICATE_BUCKET}/${key}`, samplePdf(key));
  return { url, child };
}

/** Certificate object keys named in the content file (what EVE will presign), read with a real TOML parser. */
function certificateKeys() {
  const script = 'import json,sys,tomllib; print(json.dumps([c["file"] for c in tomllib.load(open(sys.argv[1],"rb")).get("certificates",[])]))';
  const run = spawnSync('python3', ['-c', script, join(ROOT, 'site/content/portfolio.toml')], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`reading certificate keys failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/**
 * Builds the site and serves it with eve-server. Returns { baseUrl, siteDir, motoUrl, stop }.
 * motoUrl is null (and certificates answer 503) when moto is not installed.
 */
export async function startSite() {
  const siteDir = mkdtempSync(join(tmpdir(), 'cfx-site-'));
  const moto = await startMoto(certificateKeys());
  const env = {
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    EVE_MODEL_ID: 'offline',
    RUST_LOG: 'warn',
  };
  if (moto) Object.assign(env, { AWS_ENDPOINT_URL: moto.url, EVE_CERTIFICATES_BUCKET: CERTIFICATE_BUCKET });
  const children = moto ? [moto.child] : [];
  const stop = () => {
    for (const child of children) child.kill('SIGTERM');
    rmSync(siteDir, { recursive: true, force: true });
  };
  try {
    const server = await startProcess(binary('eve-server'), ['--listen', '127.0.0.1:0', '--site-dir', siteDir], {
      env,
      ready: /^eve-server listening on (http:\/\/127\.0\.0\.1:\d+)/,
    });
    children.push(server.child);
    const baseUrl = server.match[1];
    const build = spawnSync(
      binary('infra-synth'),
      ['site', 'build', '--stack', 'local', '--base-url', baseUrl, '--out', siteDir],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (build.status !== 0) throw new Error(`infra-synth site build failed:\n${build.stderr}`);
    mkdirSync(ARTIFACTS, { recursive: true });
    return { baseUrl, siteDir, motoUrl: moto?.url ?? null, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
