// The playground as a person uses it, in Debian's headless Chromium:
// load, pick examples, type into the editor, see outputs change, make an
// error and jump to it, trace a packet, and reopen the share link.
//
// Run: web/test.sh (builds web/dist first), or `npm test` here with
// SVCGEN_DIST pointing at a built site. Timings are printed, not asserted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(process.env.SVCGEN_DIST ?? path.join(here, "../../dist"));
const artifacts = path.join(here, "artifacts");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = 15000;

const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".wasm": "application/wasm",
};

let server, base, context, userDataDir;
const perf = { examples: {} };

before(async () => {
  assert.ok(fs.existsSync(path.join(dist, "index.html")), `no site at ${dist}: run web/build.sh`);
  server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const rel = url.pathname === "/" ? "index.html" : decodeURIComponent(url.pathname.slice(1));
    const file = path.join(dist, rel);
    if (!file.startsWith(dist) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}/`;
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "svcgen-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1440, height: 1000 },
    permissions: ["clipboard-read", "clipboard-write"],
  });
  // Nothing may leave the machine: no CDN, no fonts.
  await context.route("**/*", (route) => {
    const u = route.request().url();
    if (u.startsWith(base) || u.startsWith("data:")) return route.continue();
    return route.abort();
  });
  fs.mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await context?.close();
  server?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  // Timings, one line each (machine-dependent: printed, never asserted).
  console.log(`wasm: ${fs.statSync(path.join(dist, "svcgen_web_bg.wasm")).size} bytes`);
  console.log(`first render after load: ${perf.firstRenderMs} ms (fresh browser), ${perf.firstRenderMsSharedPage} ms (second page)`);
  console.log(`load phases (ms after navigation start): fresh browser ${JSON.stringify(perf.loadPhasesFirstMs)}, second page ${JSON.stringify(perf.loadPhasesMs)}`);
  for (const [name, e] of Object.entries(perf.examples)) {
    const s = [...e.keystrokeToAllOutputsMs].sort((a, b) => a - b);
    console.log(
      `keystroke -> all outputs: ${name}: median ${s[Math.floor(s.length / 2)]} ms, max ${s[s.length - 1]} ms (of which update: ${e.updateMs.join(", ")} ms; libsvc compute ${e.computeMs} ms)`,
    );
  }
});

const errorsOf = (page) => {
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  return errors;
};

async function open(url) {
  const page = await context.newPage();
  const errors = errorsOf(page);
  await page.goto(url);
  await page.waitForSelector("#editor", { timeout: TIMEOUT });
  await page.waitForSelector("#perf[data-updates]", { timeout: TIMEOUT });
  return { page, errors };
}

const updates = (page) => page.$eval("#perf", (e) => Number(e.dataset.updates ?? 0));

/** Runs `action` and waits until the page has finished one more update. */
async function afterUpdate(page, action) {
  const n = await updates(page);
  await action();
  await page.waitForFunction(
    (n) => Number(document.querySelector("#perf").dataset.updates ?? 0) > n,
    n,
    { timeout: TIMEOUT },
  );
}

/** The open tab's body: `{text}` for an output, `{note}` for a message. */
async function tabBody(page, id) {
  await page.click(`#tab-${id}`);
  await page.waitForSelector(`#tab-${id}.active`);
  const text = await page.$eval("#output", (e) => e.textContent).catch(() => null);
  const note = await page.$eval("#output-note", (e) => e.textContent).catch(() => null);
  return { text, note };
}

const modes = ["iptables", "nftables", "ipvs", "env", "dns", "resolv"];

async function allOutputs(page) {
  const out = {};
  for (const id of [...modes, "table", "settings"]) out[id] = await tabBody(page, id);
  return out;
}

/** Puts the caret at a UTF-16 offset of the editor. */
async function caretAt(page, offset) {
  await page.focus("#editor");
  await page.$eval("#editor", (e, o) => e.setSelectionRange(o, o), offset);
}

const editorValue = (page) => page.$eval("#editor", (e) => e.value);

test("the playground works as a person uses it", async () => {
  const { page, errors } = await open(base);
  perf.firstRenderMs = Number(await page.$eval("#perf", (e) => e.dataset.firstRenderMs));
  await page.waitForFunction(() => window.svcgenLoad?.started, null, { timeout: TIMEOUT });
  perf.loadPhasesFirstMs = await page.evaluate(() => window.svcgenLoad);
  assert.ok(perf.firstRenderMs > 0, "first render time recorded");

  // The wasm API is there for scripts too.
  await page.waitForFunction(() => window.svcgen?.validate, null, { timeout: TIMEOUT });
  const apiModes = await page.evaluate(() => JSON.parse(window.svcgen.modes()));
  assert.deepEqual(apiModes, modes);

  // Every example loads, and a keystroke updates every output.
  const names = await page.$$eval("#examples option", (os) => os.map((o) => o.textContent));
  assert.ok(names.length >= 1 && names[0] === "starter", `examples: ${names}`);
  for (let i = names.length - 1; i >= 0; i--) {
    await afterUpdate(page, () => page.selectOption("#examples", String(i)));
    const text = await editorValue(page);
    assert.ok(text.length > 0, `example ${names[i]} is not empty`);
    await caretAt(page, text.length);
    const samples = [];
    const updateSamples = [];
    for (const key of ["Enter", "Backspace", "Enter", "Backspace"]) {
      await afterUpdate(page, () => page.keyboard.press(key));
      samples.push(Number(await page.$eval("#perf", (e) => e.dataset.keystrokeMs)));
      updateSamples.push(Number(await page.$eval("#perf", (e) => e.dataset.updateMs)));
    }
    assert.equal(await editorValue(page), text, "typing then deleting restores the text");
    perf.examples[names[i]] = {
      keystrokeToAllOutputsMs: samples,
      updateMs: updateSamples,
      computeMs: Number(await page.$eval("#perf", (e) => e.dataset.computeMs)),
    };
  }
  // The starter is picked last: the edits below know its text.
  const starter = await editorValue(page);
  assert.match(starter, /name: web/);
  const before = await allOutputs(page);
  assert.match(before.table.text, /"web"/, "the service table shows the Service");
  assert.match(before.table.text, /"port": 80\b/);

  // Type a change: the Service's port 80 becomes 81.
  const at = starter.indexOf("    port: 80\n") + "    port: 80".length;
  assert.ok(at > 20);
  await caretAt(page, at);
  await afterUpdate(page, () => page.keyboard.press("Backspace"));
  await afterUpdate(page, () => page.keyboard.type("1"));
  assert.match(await editorValue(page), /    port: 81\n/);
  const changed = await allOutputs(page);
  assert.match(changed.table.text, /"port": 81\b/);
  assert.doesNotMatch(changed.table.text, /"port": 80\b/);
  const rendered = modes.filter((m) => before[m].text !== null && changed[m].text !== null);
  for (const m of modes) {
    if (before[m].text === null) {
      // A mode that is not written yet says so, and the tab says "n/a".
      assert.match(before[m].note ?? "", /not available yet|has errors/, `${m}: ${before[m].note}`);
    }
  }
  for (const m of rendered) {
    if (["iptables", "nftables", "ipvs", "env", "dns"].includes(m)) {
      assert.notEqual(changed[m].text, before[m].text, `${m} output follows the port change`);
    }
  }
  if (changed.env.text !== null) assert.match(changed.env.text, /^WEB_SERVICE_PORT=81$/m);
  if (changed.iptables.text !== null) assert.match(changed.iptables.text, /--dport 81\b/);
  console.log(`outputs rendered: ${rendered.join(", ") || "(none yet: table, settings, diagnostics)"}`);

  // Copy buttons: the output, and the share link.
  const shownTab = rendered.includes("env") ? "env" : "table";
  const shownText = (await tabBody(page, shownTab)).text;
  await page.click("#copy-output");
  assert.equal(await page.textContent("#copy-output"), "Copied");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shownText);
  await page.click("#share");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), page.url());
  assert.match(page.url(), /#s=1\./);

  // A setting: the cluster domain shows in the effective settings.
  await afterUpdate(page, () => page.fill("#set-clusterDomain", "example.org"));
  assert.match((await tabBody(page, "settings")).text, /cluster_domain: example\.org/);

  // An error, after non-ASCII text so that columns and UTF-16 offsets differ.
  await caretAt(page, 0);
  await afterUpdate(page, () => page.keyboard.type("# ünïcødé 😀 → Service\n"));
  const text = await editorValue(page);
  const bad = text.indexOf("    port: 81\n") + "    port: ".length;
  await caretAt(page, bad);
  await afterUpdate(page, () => page.keyboard.type("x"));
  await page.click("#tab-diagnostics");
  const diag = page.locator("#diagnostics-list li.diag.error", { hasText: "spec.ports[0].port" }).first();
  await diag.waitFor({ timeout: TIMEOUT });
  const where = await diag.locator("button.loc").textContent();
  const [line, col] = where.split(":").map(Number);
  const lines = (await editorValue(page)).split("\n");
  assert.equal(lines[line - 1], "    port: x81", "the diagnostic names the line of the error");
  assert.equal(Array.from(lines[line - 1]).length >= col, true);
  // Expected caret: the UTF-16 length of everything before line:col.
  const expected =
    lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) +
    Array.from(lines[line - 1]).slice(0, col - 1).join("").length;
  await caretAt(page, 0);
  await diag.locator("button.loc").click();
  const caret = await page.$eval("#editor", (e) => [e.selectionStart, e.selectionEnd, document.activeElement === e]);
  assert.deepEqual(caret, [expected, expected, true], "clicking the diagnostic moves the cursor there");
  assert.equal((await editorValue(page)).slice(expected, expected + 3), "x81");
  assert.equal(await page.textContent("#cursor"), `Ln ${line}, Col ${col}`);
  assert.equal(await page.locator(".gutter .mark.error").count() >= 1, true, "the line is marked in the gutter");
  await page.screenshot({ path: path.join(artifacts, "playground-error.png") });

  // Fix it again.
  await caretAt(page, expected + 1);
  await afterUpdate(page, () => page.keyboard.press("Backspace"));
  assert.equal(await page.locator("#problems li.diag.error").count(), 0);

  // Trace a packet to the Service through each proxy mode: where a tracer
  // exists, the verdict, the endpoints' shares and the matched rules
  // highlighted in that mode's output; elsewhere a "not available" note.
  await page.fill("#trace-port", "81");
  const traced = [];
  for (const m of ["iptables", "nftables", "ipvs"]) {
    await page.selectOption("#trace-mode", m);
    await page.click("#trace-run");
    await page.waitForSelector(`#trace-result[data-mode="${m}"]`, { timeout: TIMEOUT });
    const result = await page.textContent("#trace-result");
    if (/not available yet/.test(result)) {
      assert.match(result, new RegExp(`Tracing ${m} is not available yet`));
      continue;
    }
    traced.push(m);
    assert.match(await page.textContent("#trace-verdict"), /10\.244\.1\.5:8080, 10\.244\.2\.7:8080/, `${m}: ${result}`);
    assert.equal(await page.locator("table.endpoints td", { hasText: "50.0 %" }).count(), 2, "two endpoints, half each");
    assert.equal(await page.textContent("#trace-masq"), "no");
    assert.ok((await page.locator("ol.path li").count()) > 0, "the path is listed");
    await page.click(`#tab-${m}`);
    assert.ok((await page.locator("#output .hit").count()) > 0, `${m}: matched rules highlighted`);
  }
  console.log(`traced through: ${traced.join(", ") || "(no tracer yet)"}`);

  // The JSON view of a mode shows its model.
  await page.click("#tab-env");
  await page.waitForSelector("#tab-env.active");
  await page.click("#view-json");
  const envJson = JSON.parse(await page.$eval("#output", (e) => e.textContent));
  assert.ok(Array.isArray(envJson) && envJson.length > 0 && "name" in envJson[0], "env JSON is a list of {name, value}");
  await page.click("#view-text");

  // Share: the URL carries the state; a new page restores it.
  const state = async (p) => ({
    manifests: await editorValue(p),
    domain: await p.inputValue("#set-clusterDomain"),
    tab: await p.$eval(".tab.active", (e) => e.id),
    port: await p.inputValue("#trace-port"),
  });
  const mine = await state(page);
  const url = page.url();
  assert.match(url, /#s=1\./);
  const again = await open(url);
  perf.firstRenderMsSharedPage = Number(await again.page.$eval("#perf", (e) => e.dataset.firstRenderMs));
  perf.loadPhasesMs = await again.page.evaluate(() => window.svcgenLoad);
  assert.deepEqual(await state(again.page), mine, "the share link restores manifests, settings, tab and trace form");
  assert.deepEqual(again.errors, []);
  await again.page.close();

  // The screenshot shows the editor and a live output: the last traced
  // mode with its matched rules, else the first mode that renders, else
  // the service table.
  await page.click(`#tab-${traced.at(-1) ?? rendered[0] ?? "table"}`);
  await page.$eval("#editor", (e) => { e.scrollTop = 0; e.dispatchEvent(new Event("scroll")); });
  await page.screenshot({ path: path.join(artifacts, "playground.png") });
  // The dark theme follows the system's.
  const light = await page.$eval("body", (b) => getComputedStyle(b).backgroundColor);
  await page.emulateMedia({ colorScheme: "dark" });
  const dark = await page.$eval("body", (b) => getComputedStyle(b).backgroundColor);
  assert.notEqual(dark, light, "prefers-color-scheme: dark changes the colours");
  await page.screenshot({ path: path.join(artifacts, "playground-dark.png") });

  assert.deepEqual(errors, [], "no errors in the page's console");
  await page.close();
});

test("a broken share link falls back to the starter", async () => {
  const { page, errors } = await open(base + "#s=1.not-a-state");
  assert.match(await page.textContent(".banner.error"), /could not be read/);
  assert.match(await editorValue(page), /name: web/);
  assert.deepEqual(errors, []);
  await page.close();
});
