// The web console in a real browser: a merchant configures programs (with the simulator's
// preview), prints a store code and records orders at the till; a shopper in a second
// browser context opens the store's join link, logs in, joins and watches her queue
// position change live. Screenshots go to artifacts/.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { chromium } from "playwright-core";

const BIN = process.env.FENHONG_BIN;
const ARTIFACTS = process.env.FENHONG_ARTIFACTS || "artifacts";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
let server, base, browser;

const freePort = () => new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

async function gql(query, variables = {}, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = "Bearer " + token;
  const body = await (await fetch(base + "/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) })).json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

before(async () => {
  assert.ok(BIN, "FENHONG_BIN names the fenhong binary");
  mkdirSync(ARTIFACTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), "fenhong-console-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = { ...process.env, DATABASE_URL: `sqlite://${dir}/console.db?mode=rwc`, FENHONG_BIND: `127.0.0.1:${port}`, FENHONG_ADMIN_PASSWORD: "admin-password-1", RUST_LOG: "warn" };
  delete env.REDIS_URL;
  server = spawn(BIN, ["serve"], { env, stdio: ["ignore", "inherit", "inherit"] });
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(base + "/healthz")).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

test("a merchant sets up and sells; a shopper watches her place in the queue live", async () => {
  const admin = (await gql(`mutation { staffLogin(username: "admin", password: "admin-password-1") { token } }`)).staffLogin.token;
  await gql(`mutation { createMerchant(input: { name: "Tea House", ownerUsername: "tea.owner", ownerPassword: "correct-horse" }) { id } }`, {}, admin);

  // The merchant, on a phone-sized screen.
  const merchantContext = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const merchant = await merchantContext.newPage();
  await merchant.goto(base + "/console/");
  await merchant.fill("input[name=username]", "tea.owner");
  await merchant.fill("input[name=password]", "correct-horse");
  await merchant.click("button:has-text('Log in')");
  await merchant.waitForSelector("#dashboard");

  // Programs: preview the RULES.md sequence in the simulator, then save.
  await merchant.goto(base + "/console/#programs");
  await merchant.waitForSelector("#programs");
  await merchant.check("input[name=rebateEnabled]");
  await merchant.click("#preview");
  const summary = await merchant.textContent("#simulation-summary");
  assert.match(summary, /Paid 3059\.98 \(ratio 0\.5999\), pool 0\.02, completed 2, waiting 5/);
  await merchant.click("button:has-text('Save')");
  await merchant.waitForSelector("text=Saved version 1");

  // A store and its printable code.
  await merchant.goto(base + "/console/#stores");
  await merchant.fill("input[name=name]", "West Lake");
  await merchant.click("button:has-text('Add')");
  await merchant.waitForSelector(".qr svg");
  const joinLink = await merchant.getAttribute("a:has-text('join link')", "href");
  assert.match(joinLink, /^\/console\/join\?scene=s[0-9A-Za-z]{22}$/);

  // The shopper opens the link (as a scanned code would), logs in and joins.
  const shopperContext = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const shopper = await shopperContext.newPage();
  await shopper.goto(base + joinLink);
  await shopper.fill("input[name=code]", "alice");
  await shopper.click("button:has-text('Log in')");
  await shopper.waitForSelector("#member-code");
  const aliceCode = (await shopper.textContent("#member-code")).trim();
  assert.match(aliceCode, /^\d{8}$/);
  await assert.doesNotReject(shopper.waitForSelector("#queue-status:has-text('No order')"));

  // The till records Alice's purchase: she is first in the queue.
  await merchant.goto(base + "/console/#orders");
  await merchant.fill("input[name=memberCode]", aliceCode);
  await merchant.fill("input[name=amount]", "1000");
  await merchant.click("button:has-text('Record')");
  await merchant.waitForSelector("#orders td:has-text('COMPLETED')");
  await shopper.reload();
  await shopper.waitForSelector("#position");
  assert.equal((await shopper.textContent("#position")).trim(), "1");
  assert.match(await shopper.textContent("#queue-status"), /ACTIVE · 0\.00 \/ 1000\.00/);
  assert.equal((await shopper.textContent("#points")).trim(), "50");

  // Bob joins and buys: Alice is paid back in full, and her page shows it without a reload.
  const bob = (await gql(`mutation { loginWithWechat(code: "bob") { token } }`)).loginWithWechat.token;
  const scene = decodeURIComponent(joinLink.split("scene=")[1]);
  const bobCode = (await gql(`mutation($s: String!) { joinByScene(scene: $s) { memberCode } }`, { s: scene }, bob)).joinByScene.memberCode;
  await merchant.fill("input[name=memberCode]", bobCode);
  await merchant.fill("input[name=amount]", "1000");
  await merchant.click("button:has-text('Record')");
  await shopper.waitForSelector("#queue-status:has-text('COMPLETED · 1000.00 / 1000.00')", { timeout: 10000 });
  assert.equal((await shopper.textContent("#position")).trim(), "✓");
  await shopper.waitForSelector("#cash:has-text('1000.00')", { timeout: 10000 });
  await shopper.screenshot({ path: join(ARTIFACTS, "shopper.png"), fullPage: true });

  // The dashboard shows the day's sales, and the live feed the next order as it happens.
  await merchant.goto(base + "/console/#dashboard");
  await merchant.waitForSelector("#dashboard");
  assert.match(await merchant.textContent("#dashboard"), /2000\.00/);
  await merchant.waitForTimeout(300);
  await gql(`mutation($s: String!) { joinByScene(scene: $s) { memberCode } }`, { s: scene }, (await gql(`mutation { loginWithWechat(code: "carol") { token } }`)).loginWithWechat.token);
  await merchant.waitForSelector("#feed li:has-text('MEMBER_JOINED')", { timeout: 10000 });
  await merchant.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });

  // Bad input gets a clear message.
  await merchant.goto(base + "/console/#orders");
  await merchant.fill("input[name=memberCode]", bobCode);
  await merchant.fill("input[name=amount]", "12.345");
  await merchant.click("button:has-text('Record')");
  await merchant.waitForSelector(".error:has-text('INVALID_INPUT')");
});
