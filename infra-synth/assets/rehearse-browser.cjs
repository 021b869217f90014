// `infra-synth rehearse`: opens the published site in headless Chromium, asks EVE one question
// through the chat widget and prints {"title", "reply", "problems"} as JSON. Usage:
//   node rehearse-browser.cjs URL QUESTION
// Needs playwright-core (NODE_PATH, or .ci/install's cache) and Chromium (CHROME_PATH).
const path = require('node:path');

const [url, question] = process.argv.slice(2);
const cache = path.join(process.env.HOME || '/root', '.cache/cloudforgex/node/node_modules');
const { chromium } = require(require.resolve('playwright-core', {
  paths: [...(process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean), cache],
}));

const problems = [];
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROME_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => msg.type() === 'error' && problems.push(`console: ${msg.text()}`));
    await page.goto(url, { waitUntil: 'load', timeout: 30000 });
    await page.getByRole('button', { name: 'Ask EVE' }).click();
    const replies = page.locator('.eve-from-bot');
    const before = await replies.count();
    await page.locator('#eve-input').fill(question);
    await page.locator('#eve-input').press('Enter');
    await replies.nth(before).waitFor({ timeout: 30000 });
    await page.locator('.eve-send:not([disabled])').waitFor({ timeout: 30000 });
    const reply = (await replies.nth(before).innerText()).trim();
    console.log(JSON.stringify({ title: await page.title(), reply, problems }));
  } finally {
    await browser.close();
  }
})().catch((err) => {
  console.log(JSON.stringify({ error: String(err && err.message || err), problems }));
  process.exit(1);
});
