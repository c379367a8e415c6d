// Drives the demo page in headless Chromium (Playwright, no browser download): waits for the
// real sidebar to show a suggestion with its confidence, clicks "Send suggested reply", then
// the stand-in composer's Submit, and waits for the Intercom canvas preview.
// Usage: node demo_send.cjs URL CHROMIUM_PATH SCREENSHOT_PATH ; prints one JSON line.
const { chromium } = require('playwright-core');

(async () => {
  const [url, executablePath, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const out = {};
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url);
    const sidebar = page.frameLocator('#zd-sidebar');
    await sidebar.locator('#confidence-text').filter({ hasText: /·/ })
      .waitFor({ timeout: 240000 });
    out.confidence = await sidebar.locator('#confidence-text').textContent();
    out.lowConfidence = await sidebar.locator('#low').isVisible();
    if (out.lowConfidence) await sidebar.locator('#show-anyway').click();
    out.draft = await sidebar.locator('#draft').inputValue();
    await sidebar.locator('#send').click();
    await page.waitForFunction(
      (d) => document.getElementById('zd-comment').value.trim() === d.trim(), out.draft,
      { timeout: 20000 });
    out.composer = await page.locator('#zd-comment').inputValue();
    out.notice = await sidebar.locator('#notice').textContent();
    await page.locator('#zd-submit').click();
    await page.waitForFunction(() => document.getElementById('zd-comment').value === '',
      null, { timeout: 20000 });
    await page.locator('#intercom-canvas[data-ready="true"]').waitFor({ timeout: 60000 });
    out.canvasButtons = await page.locator('#intercom-canvas button').allTextContents();
    await page.waitForTimeout(1500);  // let the sidebar's event POSTs land
    out.errors = errors;
    if (screenshot) await page.screenshot({ path: screenshot });
    console.log(JSON.stringify(out));
  } finally {
    await browser.close();
  }
})().catch((err) => { console.error(String(err)); process.exit(1); });
