// Open the built documentation site in headless Chromium (Debian's package,
// driven by playwright-core; no browser is downloaded) and check it the way a
// reader uses it: pages render, the sidebar reaches every generated page,
// Pagefind search finds a machine by name. Screenshots of the home page and a
// machine page go to --shots.
//
//   node tests/docs/browser.mjs --dist docs/site/dist --pages a/,b/ --machine cinnabar --shots DIR
// Prints one JSON object; exit 0 when every check passed.
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { readFile, stat, mkdir, mkdtemp } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const dist = resolve(args.dist);
const site = resolve(args.site ?? join(dist, '..'));
const require = createRequire(join(site, 'package.json'));
const { chromium } = require('playwright-core');
const pages = (args.pages ?? '').split(',').filter(Boolean);
const machine = args.machine;
const shots = resolve(args.shots);

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml',
  '.json': 'application/json', '.wasm': 'application/wasm', '.pf_meta': 'application/octet-stream' };
const server = createServer(async (req, res) => {
  let path = join(dist, decodeURIComponent(new URL(req.url, 'http://x').pathname));
  try {
    if ((await stat(path)).isDirectory()) path = join(path, 'index.html');
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
    res.end(await readFile(path));
  } catch {
    res.writeHead(404).end('not found');
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;

const result = { ok: false, failures: [], rendered: 0, reachable: 0, search: null, screenshots: [] };
const fail = (msg) => result.failures.push(msg);
// An empty profile directory per run (playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), 'chromium-')), {
  executablePath: args.chromium ?? '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
  await mkdir(shots, { recursive: true });

  // Home renders.
  const home = await page.goto(`${base}/`);
  if (home.status() !== 200) fail(`/: expected HTTP 200; found ${home.status()}`);
  const title = await page.title();
  if (!title.includes('fleet.migration')) fail(`/: expected the title to name fleet.migration; found '${title}'`);
  await page.screenshot({ path: join(shots, 'home.png'), fullPage: true });
  result.screenshots.push('home.png');

  // Navigation: follow sidebar links breadth-first from the home page.
  const seen = new Set(['/']);
  const queue = ['/'];
  while (queue.length) {
    const path = queue.shift();
    await page.goto(`${base}${path}`);
    const hrefs = await page.$$eval('nav.sidebar a[href^="/"], .sl-link-card a[href^="/"], main a[href^="/"]',
      (as) => as.map((a) => a.getAttribute('href').split('#')[0]));
    for (const h of hrefs) if (!seen.has(h)) { seen.add(h); queue.push(h); }
  }
  for (const p of pages) if (!seen.has(`/${p}`)) fail(`/${p}: expected the navigation to reach this generated page; found no link to it`);
  result.reachable = seen.size;

  // Every generated page renders a heading and content.
  for (const p of pages) {
    const resp = await page.goto(`${base}/${p}`);
    const h1 = (await page.textContent('h1').catch(() => '')) ?? '';
    const body = (await page.textContent('main').catch(() => '')) ?? '';
    if (resp.status() !== 200 || !h1.trim() || body.trim().length < 20) {
      fail(`/${p}: expected HTTP 200 with a heading and content; found ${resp.status()}, heading '${h1.trim()}'`);
    } else result.rendered += 1;
  }

  // Search finds the machine by name (Pagefind, client side).
  await page.goto(`${base}/`);
  await page.click('site-search button[data-open-modal]');
  await page.fill('site-search input', machine);
  const link = `/reference/machines/${machine}/`;
  try {
    await page.waitForSelector(`.pagefind-ui__result-link[href*="${link}"]`, { timeout: 20000 });
    result.search = link;
  } catch {
    const found = await page.$$eval('.pagefind-ui__result-link', (as) => as.map((a) => a.getAttribute('href')));
    fail(`search '${machine}': expected a result linking ${link}; found ${JSON.stringify(found)}`);
  }

  await page.goto(`${base}${link}`);
  await page.screenshot({ path: join(shots, `machine-${machine}.png`), fullPage: true });
  result.screenshots.push(`machine-${machine}.png`);
  for (const e of errors) fail(`page error: ${e}`);
} finally {
  await browser.close();
  server.close();
}
result.ok = result.failures.length === 0;
console.log(JSON.stringify(result, null, 1));
process.exit(result.ok ? 0 : 1);
