// End-to-end: the built site served by eve-server (offline model, in-memory store, moto S3 for
// certificates), driven in Debian's chromium at desktop and phone sizes. Run with `node --test
// tests/browser/` after `cargo build -p infra-synth -p eve-function --bins`.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { ARTIFACTS, CERTIFICATE_BUCKET, CHROMIUM, CHROMIUM_ARGS, missingTool, requireTool, startSite } from './harness.mjs';

const DESKTOP = { viewport: { width: 1280, height: 800 } };
// The phone runs in the dark colour scheme so both schemes get looked at.
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark' };
const FIRST_CERTIFICATE = 'aws-solutions-architect-professional';

const skip = missingTool('site e2e', 'chromium', CHROMIUM);

/** Console errors, uncaught exceptions and CSP violations of one page. */
async function watch(page) {
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  // Init scripts run through the DevTools protocol, outside the page's CSP.
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  return problems;
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: false });
}

/** Sends `question` through the widget and returns the text of the new bot reply. */
async function ask(page, send) {
  const replies = page.locator('.eve-from-bot');
  const before = await replies.count();
  await send();
  await assert.doesNotReject(replies.nth(before).waitFor({ timeout: 15000 }), 'a reply bubble appears');
  await page.locator('.eve-send:not([disabled])').waitFor();
  return (await replies.nth(before).innerText()).trim();
}

describe('portfolio site on eve-server', { skip }, () => {
  let site;
  let browser;
  before(async () => {
    const { chromium } = requireTool('playwright-core');
    site = await startSite();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    site?.stop();
  });

  /** A fresh context and page, watched for console errors and CSP violations. */
  async function open(options = DESKTOP) {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    return { context, page, problems: await watch(page) };
  }

  test('desktop: every section, suggested and free questions answered, certificate opens', async () => {
    const { context, page, problems } = await open();
    const streamed = [];
    const signed = [];
    page.on('response', (r) => {
      if (r.url().endsWith('/api/chat/stream')) streamed.push(r.status());
    });
    page.on('request', (r) => {
      if (r.url().endsWith('/api/chat/stream')) {
        // CloudFront's OAC signs the request to the function URL with the hash the widget sent.
        const body = r.postData() ?? '';
        signed.push(r.headers()['x-amz-content-sha256'] === createHash('sha256').update(body).digest('hex'));
      }
    });
    const response = await page.goto(site.baseUrl + '/');
    assert.equal(response.status(), 200);
    const csp = response.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self'/, 'eve-server sends the CSP');
    for (const id of ['about', 'skills', 'projects', 'certificates', 'experience', 'contact']) {
      assert.ok(await page.locator(`section#${id}`).isVisible(), `section ${id} is visible`);
    }
    await shot(page, 'desktop-home');

    await page.getByRole('button', { name: 'Ask EVE' }).click();
    const panel = page.locator('#eve-panel');
    assert.ok(await panel.isVisible(), 'the panel expands');
    const suggestion = page.locator('.eve-suggestion').first();
    const question = (await suggestion.innerText()).trim();
    const curated = await ask(page, () => suggestion.click());
    assert.match(curated, /Cloud & Platform Engineer/, `curated answer to "${question}"`);
    assert.ok(await page.locator('.eve-from-bot strong').first().isVisible(), 'Markdown bold is rendered');
    const sessionId = await page.evaluate(() => sessionStorage.getItem('eve.session'));
    assert.match(sessionId ?? '', /^[\w-]{8,64}$/, 'session id kept in sessionStorage');

    const free = await ask(page, async () => {
      await page.locator('#eve-input').fill('Which projects use Rust and DynamoDB?');
      await page.locator('#eve-input').press('Enter');
    });
    assert.ok(free.length > 20, `free question answered: "${free}"`);
    assert.ok(await page.locator('.eve-error').isHidden(), 'no error shown');
    assert.ok(streamed.length >= 2 && streamed.every((s) => s === 200), `replies streamed: ${streamed}`);
    assert.ok(signed.length >= 2 && signed.every(Boolean), `each streamed request carries its body's SHA-256: ${signed}`);
    await shot(page, 'desktop-chat');
    await page.locator('.eve-close').click();
    assert.ok(await panel.isHidden(), 'the panel collapses');

    if (!site.motoUrl) {
      console.log('SKIP: certificate download needs moto_server');
    } else {
      // The new tab navigates to the presigned URL (headless chromium then hands the PDF to a
      // download and closes the tab, so the navigation request is what we can observe).
      const opening = context.waitForEvent('request', (r) => r.url().includes('X-Amz-Signature='));
      await page.locator(`[data-certificate="${FIRST_CERTIFICATE}"]`).click();
      const url = (await opening).url();
      assert.ok(url.startsWith(`${site.motoUrl}/${CERTIFICATE_BUCKET}/certificates/${FIRST_CERTIFICATE}.pdf?`), url);
      const pdf = await fetch(url);
      assert.equal(pdf.status, 200, 'the presigned URL works');
      assert.equal((await pdf.text()).slice(0, 5), '%PDF-');
      await page.locator('.certificate-status a').waitFor();
      await page.locator('#certificates').scrollIntoViewIfNeeded();
      await shot(page, 'desktop-certificates');
    }
    assert.deepEqual(problems, [], 'no console errors or CSP violations');
    await context.close();
  });

  test('phone (dark scheme): full-width sheet with a working chat', async () => {
    const { context, page, problems } = await open(PHONE);
    await page.goto(site.baseUrl + '/');
    await shot(page, 'phone-home');
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.equal(scrollWidth, 390, 'no horizontal scrolling');
    await page.getByRole('button', { name: 'Ask EVE' }).click();
    const box = await page.locator('#eve-panel').boundingBox();
    assert.equal(Math.round(box.x), 0, 'sheet starts at the left edge');
    assert.equal(Math.round(box.width), 390, 'sheet spans the width');
    assert.equal(Math.round(box.y + box.height), 844, 'sheet sits on the bottom edge');
    const reply = await ask(page, () => page.locator('.eve-suggestion').nth(1).click());
    assert.match(reply, /certification/i);
    await shot(page, 'phone-chat');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('keyboard: the widget opens, tabs in order, closes with Escape', async () => {
    const { context, page, problems } = await open();
    await page.goto(site.baseUrl + '/');
    await page.locator('.eve-launcher').focus();
    await page.keyboard.press('Enter');
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement;
        return el.id || el.className || el.tagName;
      });
    assert.equal(await focused(), 'eve-input', 'opening focuses the question box');
    const backwards = [];
    for (let i = 0; i < 6; i += 1) {
      await page.keyboard.press('Shift+Tab');
      backwards.push(await focused());
    }
    assert.deepEqual(backwards, [
      'eve-suggestion',
      'eve-suggestion',
      'eve-suggestion',
      'eve-suggestion',
      'eve-log',
      'eve-close',
    ]);
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(ring, 'none', 'keyboard focus is visible');
    const forwards = [];
    for (let i = 0; i < 7; i += 1) {
      await page.keyboard.press('Tab');
      forwards.push(await focused());
    }
    assert.deepEqual(forwards.slice(-2), ['eve-input', 'eve-send']);
    await page.locator('#eve-input').focus();
    await page.keyboard.type('What is Tidewatch?');
    await page.keyboard.press('Enter');
    await page.locator('.eve-from-bot').nth(1).waitFor();
    await shot(page, 'keyboard-chat');
    await page.keyboard.press('Escape');
    assert.ok(await page.locator('#eve-panel').isHidden(), 'Escape collapses');
    assert.equal(await focused(), 'eve-launcher', 'focus returns to the launcher');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('model text is rendered as safe DOM, never as HTML', async () => {
    const { context, page, problems } = await open();
    const hostile = [
      'Hello <img src=x onerror="window.pwned=1"> **bold** and *it* and `<b>code</b>`',
      'keep snake_case_names and 2 * 3 * 4 as written, _this_ is emphasis',
      '',
      '- [safe](https://example.com/a) item',
      '- [bad](javascript:window.pwned=2) item',
      '- [anchor](#contact) <script>window.pwned=3</script>',
    ].join('\n');
    // A hostile server: the real widget must still build only text nodes and safe links.
    await page.route('**/api/chat/stream', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/event-stream',
        body: `data: ${JSON.stringify({ delta: hostile })}\n\nevent: done\ndata: {"session_id":"hostile-session","source":"model"}\n\n`,
      }),
    );
    await page.goto(site.baseUrl + '/');
    await page.locator('.eve-launcher').click();
    await ask(page, () => page.locator('.eve-suggestion').first().click());
    const bubble = page.locator('.eve-from-bot').last();
    assert.equal(await bubble.locator('img, script, b').count(), 0, 'no HTML from the model');
    assert.equal(await bubble.locator('strong').innerText(), 'bold');
    assert.deepEqual(await bubble.locator('em').allInnerTexts(), ['it', 'this']);
    assert.match(await bubble.innerText(), /snake_case_names and 2 \* 3 \* 4 as written/);
    assert.equal(await bubble.locator('code').innerText(), '<b>code</b>');
    const links = await bubble.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    assert.deepEqual(links, ['https://example.com/a', '#contact']);
    assert.match(await bubble.innerText(), /bad item/, 'unsafe link kept as text');
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('eve.session')), 'hostile-session');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a stream cut off before its done event is not shown as an answer', async () => {
    const { context, page, problems } = await open();
    let cut = true;
    // The first answer ends after its first words, as a connection cut or a function stopped at
    // its timeout ends it; the second is whole.
    await page.route('**/api/chat/stream', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/event-stream',
        body: cut
          ? 'data: {"delta":"Alex builds half an"}\n\n'
          : 'data: {"delta":"Alex builds whole answers."}\n\nevent: done\ndata: {"session_id":"s-whole","source":"model"}\n\n',
      }),
    );
    await page.goto(site.baseUrl + '/');
    await page.locator('.eve-launcher').click();
    await page.locator('.eve-suggestion').first().click();
    const error = page.locator('.eve-error');
    await error.waitFor();
    assert.match(await error.innerText(), /cut off/);
    assert.equal(await page.locator('.eve-from-bot', { hasText: 'half an' }).count(), 0, 'the partial text is gone');
    cut = false;
    assert.equal(await ask(page, () => page.locator('.eve-suggestion').first().click()), 'Alex builds whole answers.');
    assert.ok(await error.isHidden(), 'the next answer clears the error');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("while a request is in flight the widget shows typing and blocks sending; then the server's error", async () => {
    const { context, page } = await open();
    let release;
    const released = new Promise((resolve) => {
      release = resolve;
    });
    await page.route('**/api/chat/stream', async (route) => {
      await released;
      await route.fulfill({
        status: 429,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'rate_limited', message: 'too many requests; retry in 42 s' } }),
      });
    });
    await page.goto(site.baseUrl + '/');
    await page.locator('.eve-launcher').click();
    await page.locator('.eve-suggestion').first().click();
    await page.locator('.eve-typing').waitFor();
    assert.ok(await page.locator('.eve-send').isDisabled(), 'send is disabled in flight');
    assert.ok(await page.locator('.eve-suggestion').first().isDisabled(), 'suggestions too');
    await shot(page, 'desktop-typing');
    release();
    const error = page.locator('.eve-error');
    await error.waitFor();
    assert.equal(await error.innerText(), 'too many requests; retry in 42 s');
    assert.ok(await page.locator('.eve-typing').isHidden());
    assert.equal(await page.locator('.eve-send').isDisabled(), false);
    await context.close();
  });

  test('the widget waits out EVE\'s own time limit, then gives up with a message', async () => {
    const { context, page } = await open();
    await page.clock.install();
    const pending = [];
    await page.route('**/api/chat/stream', (route) => {
      pending.push(route);
    });
    await page.goto(site.baseUrl + '/');
    // The page carries the wait from EVE's contract; the render tests hold it past EVE's limit.
    const waitMs = Number(await page.locator('#eve').getAttribute('data-reply-wait-ms'));
    assert.ok(waitMs > 0, `the page gives the widget its wait (${waitMs})`);
    await page.locator('.eve-launcher').click();

    // A reply that arrives a second before the wait ends is shown.
    await page.locator('.eve-suggestion').first().click();
    await page.locator('.eve-typing').waitFor();
    await page.clock.runFor(waitMs - 1000);
    assert.ok(await page.locator('.eve-error').isHidden(), 'no error before the wait ends');
    await pending.shift().fulfill({
      status: 200,
      contentType: 'text/event-stream',
      body: 'data: {"delta":"late but whole"}\n\nevent: done\ndata: {"session_id":"s","source":"model"}\n\n',
    });
    await page.locator('.eve-from-bot', { hasText: 'late but whole' }).waitFor();
    await page.locator('.eve-send:not([disabled])').waitFor();

    // One that never comes ends in a message, and the widget takes the next question.
    await page.locator('.eve-suggestion').first().click();
    await page.locator('.eve-typing').waitFor();
    await page.clock.runFor(waitMs);
    const error = page.locator('.eve-error');
    await error.waitFor();
    assert.match(await error.innerText(), /took too long/);
    assert.equal(await page.locator('.eve-send').isDisabled(), false);
    await context.close();
  });

  test('reduced motion switches the typing animation and smooth scrolling off', async () => {
    const { context, page } = await open();
    await page.goto(site.baseUrl + '/');
    const motion = () =>
      page.evaluate(() => [
        getComputedStyle(document.querySelector('.eve-dot')).animationName,
        getComputedStyle(document.documentElement).scrollBehavior,
      ]);
    assert.deepEqual(await motion(), ['eve-bounce', 'smooth']);
    await page.emulateMedia({ reducedMotion: 'reduce' });
    assert.deepEqual(await motion(), ['none', 'auto']);
    await context.close();
  });

  test('the real server rejects an over-long message and the widget says why', async () => {
    const { context, page } = await open();
    await page.goto(site.baseUrl + '/');
    await page.locator('.eve-launcher').click();
    // Bypass the textarea's maxlength the way a pasted script would.
    await page.locator('#eve-input').evaluate((el) => {
      el.removeAttribute('maxlength');
      el.value = 'x'.repeat(2500);
    });
    await page.locator('.eve-send').click();
    const error = page.locator('.eve-error');
    await error.waitFor();
    assert.match(await error.innerText(), /longer than 2000 characters/);
    await context.close();
  });

  test('works without JavaScript except for the chat', async () => {
    const { context, page } = await open({ ...DESKTOP, javaScriptEnabled: false });
    await page.goto(site.baseUrl + '/');
    assert.ok(await page.getByRole('heading', { level: 1 }).isVisible());
    assert.ok(await page.locator('#projects article').first().isVisible());
    assert.ok(await page.locator('#eve').isHidden(), 'chat needs JS and stays hidden');
    assert.equal(await page.locator('[data-certificate]:visible').count(), 0, 'no dead buttons');
    await shot(page, 'no-js-home');
    await context.close();
  });

  test('résumé, 404, robots.txt and sitemap.xml', async () => {
    const { context, page, problems } = await open();
    const resume = await page.goto(site.baseUrl + '/resume.html');
    assert.equal(resume.status(), 200);
    assert.ok(await page.getByRole('heading', { name: 'Experience' }).isVisible());
    await shot(page, 'desktop-resume');
    const missing = await page.goto(site.baseUrl + '/no/such/page');
    assert.equal(missing.status(), 404);
    assert.ok(await page.getByRole('heading', { name: 'Page not found' }).isVisible());
    assert.ok(await page.locator('link[rel="stylesheet"]').evaluate((l) => l.sheet.cssRules.length > 0), 'CSS loads at depth');
    await shot(page, 'desktop-404');
    const robots = await (await fetch(site.baseUrl + '/robots.txt')).text();
    assert.match(robots, new RegExp(`Sitemap: ${site.baseUrl}/sitemap.xml`));
    const sitemap = await (await fetch(site.baseUrl + '/sitemap.xml')).text();
    assert.match(sitemap, new RegExp(`<loc>${site.baseUrl}/resume.html</loc>`));
    assert.deepEqual(problems.filter((p) => !p.includes('404')), [], 'only the expected 404');
    await context.close();
  });
});
