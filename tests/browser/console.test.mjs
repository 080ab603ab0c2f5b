// The web console in headless Chromium against the real binary, as a café owner, her
// manager and cashier, and her shoppers use it: on a 390 px phone and on a desktop, in
// Chinese. Screenshots of every view go to artifacts/console-*.png.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { chromium } from "playwright-core";

const BIN = process.env.FENHONG_BIN;
const ARTIFACTS = process.env.FENHONG_ARTIFACTS || "artifacts";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const OWNER_PAGES = ["dashboard", "till", "orders", "members", "queue", "withdrawals", "programs", "stores", "staff", "settings"];

let browser, server, world;
const pageErrors = [];

const freePort = () => new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the binary on the embedded defaults (a SQLite file of its own). */
async function startServer({ port, dir, env = {} } = {}) {
  port = port || await freePort();
  dir = dir || mkdtempSync(join(tmpdir(), "fenhong-console-"));
  const base = `http://127.0.0.1:${port}`;
  const childEnv = { ...process.env, DATABASE_URL: `sqlite://${dir}/console.db?mode=rwc`, FENHONG_BIND: `127.0.0.1:${port}`, FENHONG_ADMIN_PASSWORD: "admin-password-1", RUST_LOG: "warn",
    // Every test logs in afresh from one address: more than the default 10 a minute.
    FENHONG_LOGIN_ATTEMPTS_PER_MINUTE: "1000", ...env };
  delete childEnv.REDIS_URL;
  const proc = spawn(BIN, ["serve"], { env: childEnv, stdio: ["ignore", "inherit", "inherit"] });
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(base + "/healthz")).ok) return { proc, base, port, dir, env }; } catch { /* not up yet */ }
    await sleep(50);
  }
  throw new Error("the server did not start");
}

async function stopServer(s) {
  if (!s || s.proc.exitCode !== null) return;
  const exited = new Promise((r) => s.proc.once("exit", r));
  s.proc.kill("SIGKILL");
  await exited;
}

async function gql(base, query, variables = {}, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = "Bearer " + token;
  const body = await (await fetch(base + "/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) })).json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** A café with two stores, three staff, programs, and shoppers who joined (one referred). */
async function seed(base) {
  const q = (query, variables, token) => gql(base, query, variables, token);
  const admin = (await q(`mutation { staffLogin(username: "admin", password: "admin-password-1") { token } }`)).staffLogin.token;
  const merchantId = (await q(`mutation { createMerchant(input: { name: "小林咖啡", ownerUsername: "lin", ownerPassword: "lin-password-1" }) { id } }`, {}, admin)).createMerchant.id;
  const owner = (await q(`mutation { staffLogin(username: "lin", password: "lin-password-1") { token } }`)).staffLogin.token;
  const stores = [];
  for (const name of ["西湖店", "滨江店"]) {
    stores.push((await q(`mutation($m: ID!, $n: String!) { createStore(merchantId: $m, name: $n) { id name qrCode { scene } } }`, { m: merchantId, n: name }, owner)).createStore);
  }
  for (const [username, role] of [["wang.manager", "MANAGER"], ["zhao.cashier", "CASHIER"]]) {
    await q(`mutation($m: ID!, $u: String!, $r: StaffRole!) { createStaff(merchantId: $m, username: $u, password: "staff-password-1", role: $r) { id } }`, { m: merchantId, u: username, r: role }, owner);
  }
  await q(`mutation($m: ID!) { configurePrograms(merchantId: $m, input: {
      queue: { enabled: true, activeSlots: 1, queueRatio: "0.40", referralRatio: "0.20" },
      rebate: { enabled: true, rebateRate: "0.05", pointValue: "1.00", pointsExpiryDays: 365, maxDeductionRatio: "0.50" },
      withdrawal: { minWithdrawal: "10.00", feeRatio: "0" } }) { version } }`, { m: merchantId }, owner);
  const shoppers = {};
  const join = async (key, nickname, scene) => {
    const token = (await q(`mutation($c: String!) { loginWithWechat(code: $c) { token } }`, { c: key })).loginWithWechat.token;
    await q(`mutation($n: String!) { setNickname(nickname: $n) { id } }`, { n: nickname }, token);
    const m = (await q(`mutation($s: String!) { joinByScene(scene: $s) { memberCode referralCode { scene } user { id } } }`, { s: scene }, token)).joinByScene;
    shoppers[key] = { token, nickname, memberCode: m.memberCode, referralScene: m.referralCode.scene, userId: m.user.id };
    return shoppers[key];
  };
  await join("xiaoli", "小李", stores[0].qrCode.scene);
  await join("amei", "阿美", stores[0].qrCode.scene);
  await join("dawei", "大伟", shoppers.xiaoli.referralScene);
  for (let i = 1; i <= 4; i++) await join(`guest${i}`, `顾客${i}`, stores[1].qrCode.scene);
  return { base, admin, owner, merchantId, stores, shoppers, q };
}

async function record(w, key, amount, store = 0, idempotencyKey = `seed-${Math.random()}`) {
  return (await w.q(`mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id } }`, {
    i: { storeId: w.stores[store].id, memberCode: w.shoppers[key].memberCode, amount, idempotencyKey, complete: true },
  }, w.owner)).recordOrder.id;
}

async function orderCount(w) {
  return (await w.q(`query($m: ID!) { orders(merchantId: $m, first: 100) { nodes { id } } }`, { m: w.merchantId }, w.owner)).orders.nodes.length;
}

/** A page whose errors (uncaught exceptions, console errors) fail the suite. */
async function newPage(viewport = PHONE, options = {}) {
  const context = await browser.newContext({ viewport, locale: "zh-CN", acceptDownloads: true, ...options });
  const page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/Failed to load resource|WebSocket connection/.test(msg.text())) pageErrors.push(`${page.url()}: ${msg.text()}`);
  });
  return page;
}

async function staffLogin(page, base, username, password) {
  await page.goto(base + "/console/");
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await page.click("#login-button");
  await see(page, "#nav a");
}

/** The page opens already logged in as `shopper` (as after her mini-program login). */
async function loggedInAs(page, shopper) {
  await page.addInitScript(({ token, userId }) => localStorage.setItem("fenhong.console", JSON.stringify({ token, kind: "shopper", userId })), shopper);
}

async function menu(page) {
  return page.$$eval("#nav a", (links) => links.map((a) => a.dataset.page));
}

async function open(page, name) {
  await page.evaluate((h) => { location.hash = h; }, name);
  await page.waitForFunction((h) => document.querySelector(`#nav a.active`)?.dataset.page === h, name);
  await page.waitForFunction(() => !document.querySelector("#view[data-loading]"));
}

/** No part of the page is wider than the screen. */
async function assertFits(page, what) {
  await page.waitForTimeout(100);
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  assert.ok(scroll <= width, `${what}: the page is ${scroll} px wide on a ${width} px screen`);
}

/** Waits for `selector`; if it never shows, the error says what the page showed instead. */
async function see(page, selector, options = {}) {
  try {
    return await page.waitForSelector(selector, options);
  } catch (err) {
    const shown = await page.evaluate(() => document.querySelector("#view")?.innerText || document.body.innerText).catch(() => "(page gone)");
    await page.screenshot({ path: join(ARTIFACTS, `console-failure-${Date.now()}.png`), fullPage: true }).catch(() => {});
    throw new Error(`${selector} did not show (${err.message.split("\n")[0]}); the page shows: ${shown.slice(0, 800)}`);
  }
}

/** Waits (up to 10 s) until `check` answers true: for what the page does in the background. */
async function serverSays(check, timeout = 10000) {
  const until = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("the server never said so: " + check);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function shot(page, name) {
  // From the top: a full-page capture of a scrolled page draws the sticky header mid-page.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(ARTIFACTS, `console-${name}.png`), fullPage: true });
}

before(async () => {
  assert.ok(BIN, "FENHONG_BIN names the fenhong binary");
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer();
  world = await seed(server.base);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await stopServer(server);
});

test("the login is in Chinese and says plainly when the password is wrong", async () => {
  const page = await newPage();
  await page.goto(server.base + "/console/");
  assert.equal(await page.getAttribute("html", "lang"), "zh-CN");
  assert.match(await page.textContent("#view"), /商户登录[\s\S]*用户名[\s\S]*密码/);
  await page.fill("input[name=username]", "lin");
  await page.fill("input[name=password]", "not-her-password");
  await page.click("#login-button");
  await see(page, "#login-error:has-text('用户名或密码错误')");
  assert.doesNotMatch(await page.textContent("#view"), /UNAUTHENTICATED|wrong/);
  await assertFits(page, "login");
  await shot(page, "login");
  await page.context().close();
});

test("each role sees only what it may do", async () => {
  const cases = [
    ["lin", "lin-password-1", OWNER_PAGES],
    ["wang.manager", "staff-password-1", ["dashboard", "till", "orders", "members", "queue", "withdrawals", "programs", "stores"]],
    ["zhao.cashier", "staff-password-1", ["till", "orders", "members"]],
  ];
  for (const [username, password, pages] of cases) {
    const page = await newPage();
    await staffLogin(page, server.base, username, password);
    assert.deepEqual(await menu(page), pages, username);
    if (username === "zhao.cashier") {
      // A cashier lands on the till, and a typed-in dashboard address sends her there too.
      assert.equal(await page.getAttribute("#nav a.active", "data-page"), "till");
      await page.evaluate(() => { location.hash = "dashboard"; });
      await page.waitForFunction(() => location.hash === "#till");
      assert.doesNotMatch(await page.textContent("body"), /成交额|应付顾客余额/);
      await shot(page, "cashier-till");
    }
    await page.context().close();
  }
});

test("the till books a double-clicked order once, keeps its store, and shows what it recorded", async () => {
  const w = world;
  const page = await newPage();
  await staffLogin(page, server.base, "zhao.cashier", "staff-password-1");
  await open(page, "till");
  const before = await orderCount(w);

  // The second store, a member looked up as her code is typed, full-width digits for the amount.
  await page.selectOption("#till-store", w.stores[1].id);
  await page.fill("#member-code", w.shoppers.amei.memberCode);
  await see(page, "#member-name:has-text('阿美')");
  await page.fill("#amount", "３８．５");
  await page.dblclick("#record-button");
  await see(page, "#till-receipt");
  await page.waitForTimeout(500);
  assert.equal(await orderCount(w), before + 1, "a double click books one order");
  const receipt = await page.textContent("#till-receipt");
  assert.match(receipt, /滨江店/);
  assert.match(receipt, /阿美（\d{8}）/);
  assert.match(receipt, /¥38\.50/);
  assert.match(receipt, /已完成/);
  assert.equal(await page.inputValue("#till-store"), w.stores[1].id, "the store stays after recording");
  await page.reload();
  await see(page, "#till-store");
  assert.equal(await page.inputValue("#till-store"), w.stores[1].id, "the store is remembered across a reload");

  // The answer is lost on the way (as in a timeout): the retry reuses the key, one order.
  await page.fill("#member-code", w.shoppers.amei.memberCode);
  await page.fill("#amount", "12");
  let lost = 0;
  await page.route("**/graphql", async (route) => {
    if (lost === 0 && /recordOrder/.test(route.request().postData() || "")) {
      lost += 1;
      await route.fetch(); // the server books it...
      await route.abort("timedout"); // ...but the till never hears back
    } else await route.continue();
  });
  await page.click("#record-button");
  await see(page, "#till-error:has-text('不会重复记录')");
  assert.equal(await orderCount(w), before + 2);
  await page.click("#record-button");
  await see(page, "#till-receipt:has-text('¥12.00')");
  assert.equal(await orderCount(w), before + 2, "the retry after a lost answer books nothing more");
  await page.unroute("**/graphql");

  // Bad input is refused in Chinese before anything is sent.
  await page.fill("#member-code", w.shoppers.amei.memberCode);
  await page.fill("#amount", "12.345");
  await page.click("#record-button");
  await see(page, "#till-error:has-text('请输入正确的金额')");
  await page.fill("#member-code", "99999999");
  await see(page, "#member-card:has-text('没有这个会员码')");
  await assertFits(page, "till");
  await shot(page, "till");
  await page.context().close();
});

test("a page left while it loads never draws over the next one", async () => {
  const page = await newPage();
  await staffLogin(page, server.base, "zhao.cashier", "staff-password-1");
  // The till's first question is answered slowly; meanwhile she opens the members page.
  await page.route("**/graphql", async (route) => {
    if (/programs \{ rebate/.test(route.request().postData() || "")) await sleep(1500);
    await route.continue().catch(() => {});
  });
  await page.evaluate(() => { location.hash = "orders"; });
  await page.waitForTimeout(100);
  await page.evaluate(() => { location.hash = "till"; });
  await page.waitForTimeout(100);
  await open(page, "members");
  await see(page, "#member-list tr[data-member]");
  await page.waitForTimeout(2000);
  assert.ok(await page.$("#member-search"), "the members page is still there");
  assert.equal(await page.$("#till"), null, "the till did not draw over it");
  assert.equal(await page.$("#page-error"), null);
  await page.unroute("**/graphql");
  await page.context().close();
});

test("the members page finds shoppers by member code or nickname and shows their referrer and balances", async () => {
  const w = world;
  const page = await newPage();
  await staffLogin(page, server.base, "zhao.cashier", "staff-password-1");
  await open(page, "members");
  await see(page, "#member-list tr[data-member]");
  assert.ok((await page.$$("#member-list tr[data-member]")).length >= 7);
  await page.fill("#member-search", "大伟");
  await page.waitForFunction(() => document.querySelectorAll("#member-list tr[data-member]").length === 1);
  const row = await page.textContent("#member-list tbody");
  assert.match(row, /大伟/);
  assert.match(row, /小李（\d{8}）/, "her referrer by nickname and code");
  await page.fill("#member-search", w.shoppers.amei.memberCode.slice(0, 6));
  await page.waitForFunction((code) => [...document.querySelectorAll("#member-list tr[data-member]")].some((r) => r.dataset.member === code), w.shoppers.amei.memberCode);
  await page.fill("#member-search", w.shoppers.amei.memberCode);
  await page.waitForFunction(() => document.querySelectorAll("#member-list tr[data-member]").length === 1);
  await page.click("#member-list tr[data-member]");
  await see(page, "#member-detail h2:has-text('阿美')");
  assert.match(await page.textContent("#member-detail"), /资金与积分明细/);
  // Her orders, one click away.
  await page.click("#member-orders");
  await page.waitForFunction(() => document.querySelector("#nav a.active")?.dataset.page === "orders");
  assert.equal(await page.inputValue("#f-member"), w.shoppers.amei.memberCode);
  await page.waitForFunction(() => document.querySelectorAll("#order-list tbody tr").length > 0);
  assert.ok((await page.$$eval("#order-list tbody tr", (rows) => rows.map((r) => r.textContent))).every((t) => t.includes("阿美")));
  await open(page, "members");
  await page.fill("#member-search", "没有这个人");
  await see(page, "#member-list:has-text('没有找到匹配的会员')");
  await assertFits(page, "members");
  await shot(page, "members");
  await page.context().close();
});

test("orders page: filters, who received each reward, refund with a reason", async () => {
  const w = world;
  await record(w, "xiaoli", "100.00", 0);
  await record(w, "dawei", "100.00", 0); // dawei's referrer xiaoli gets 20.00
  const page = await newPage(DESKTOP);
  await staffLogin(page, server.base, "lin", "lin-password-1");
  await open(page, "orders");
  await page.selectOption("#f-store", w.stores[0].id);
  await page.waitForFunction(() => [...document.querySelectorAll("#order-list tbody tr")].every((r) => r.textContent.includes("西湖店")));
  await page.fill("#f-member", w.shoppers.dawei.memberCode);
  await page.waitForFunction(() => document.querySelectorAll("#order-list tbody tr").length === 1);
  await page.click("#order-list tbody tr");
  await see(page, "#order-detail h2");
  const detail = await page.textContent("#order-detail");
  assert.match(detail, /推荐奖励\s*小李（\d{8}）\s*¥20\.00/);
  assert.match(detail, /排队免单返现/);

  // A paid order (not completed) is refunded with a reason after a confirmation.
  const paid = (await w.q(`mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id } }`, {
    i: { storeId: w.stores[0].id, memberCode: w.shoppers.guest1.memberCode, amount: "55.00", idempotencyKey: "to-refund", complete: false },
  }, w.owner)).recordOrder.id;
  await page.fill("#f-member", "");
  await page.selectOption("#f-status", "PAID");
  await see(page, `#order-list tr[data-order="${paid}"]`);
  await page.click(`#order-list tr[data-order="${paid}"]`);
  await see(page, "#refund-order");
  await page.click("#refund-order");
  await page.fill("dialog input[name=note]", "顾客不要了");
  await page.click("#dialog-confirm");
  await see(page, "#order-detail h2:has-text('已退款')");
  assert.match(await page.textContent("#order-detail"), /顾客不要了/);
  await shot(page, "orders");
  await page.setViewportSize(PHONE);
  await assertFits(page, "orders");
  await page.context().close();
});

test("withdrawals: the shopper asks on her page, the manager approves after a confirmation with a note", async () => {
  const w = world;
  const shopper = await newPage();
  await loggedInAs(shopper, w.shoppers.xiaoli);
  await shopper.goto(`${server.base}/console/join?scene=${encodeURIComponent(w.stores[0].qrCode.scene)}`);
  await see(shopper, "#cash");
  await shopper.fill("#withdraw-amount", "１０");
  await shopper.click("#withdraw-button");
  await see(shopper, "#withdrawal-list:has-text('待审核')");

  const page = await newPage();
  await staffLogin(page, server.base, "wang.manager", "staff-password-1");
  await open(page, "withdrawals");
  await see(page, "#withdrawal-list:has-text('小李')");
  await page.click("[data-approve]");
  await page.fill("dialog input[name=note]", "已现金支付");
  await page.click("#dialog-confirm");
  await see(page, "#withdrawal-list:has-text('没有待审核的提现')");
  await page.click("#withdrawal-tabs button[data-status='']");
  await see(page, "#withdrawal-list:has-text('已现金支付')");
  assert.match(await page.textContent("#withdrawal-list"), /已通过/);
  await see(shopper, "#withdrawal-list:has-text('已通过')", { timeout: 10000 });
  await assertFits(page, "withdrawals");
  await shot(page, "withdrawals");
  await page.context().close();
  await shopper.context().close();
});

test("the dashboard: Chinese figures, ranges, a store filter, live tiles and a feed that names people once", async () => {
  const w = world;
  const page = await newPage(DESKTOP);
  await staffLogin(page, server.base, "lin", "lin-password-1");
  await open(page, "dashboard");
  await see(page, "#tiles .tile");
  const tiles = await page.textContent("#tiles");
  assert.match(tiles, /成交额/);
  assert.match(tiles, /返利占成交额/);
  assert.match(tiles, /\d+(\.\d+)?%/, "ratios as percentages");
  assert.doesNotMatch(tiles, /0\.\d{4}/);
  await see(page, "#chart-money svg");
  const gmvBefore = await page.textContent("[data-tile=gmv] b");

  // A sale at the till: the feed names the shopper once, the tiles follow. (The feed hears
  // what happens once its subscription is in place: give it a moment after connecting.)
  await see(page, "body[data-live=up]");
  await page.waitForTimeout(500);
  await record(w, "guest2", "80.00", 1);
  await see(page, "#feed li:has-text('订单完成')", { timeout: 10000 });
  await page.waitForFunction((before) => document.querySelector("[data-tile=gmv] b").textContent !== before, gmvBefore, { timeout: 10000 });
  await page.waitForTimeout(500);
  const lines = await page.$$eval("#feed li", (items) => items.map((li) => li.textContent));
  assert.equal(lines.filter((l) => l.includes("订单完成")).length, 1, lines.join("\n"));
  assert.match(lines[0], /顾客2（\d{8}）/);

  // Ranges and the store filter.
  await page.click("#ranges button[data-range='7']");
  await see(page, "#range-note");
  await page.waitForFunction(() => /至/.test(document.querySelector("#range-note").textContent));
  const gmvOf = async (storeId) => {
    const days = await page.evaluate(() => document.querySelector("#range-note").textContent.match(/\d{4}-\d{2}-\d{2}/g));
    const from = new Date(`${days[0]}T00:00:00+08:00`).toISOString(), to = new Date(new Date(`${days[1]}T00:00:00+08:00`).getTime() + 86400000).toISOString();
    const gmv = (await w.q(`query($m: ID!, $from: DateTime!, $to: DateTime!, $s: ID) { dashboard(merchantId: $m, from: $from, to: $to, storeId: $s) { gmv } }`, { m: w.merchantId, from, to, s: storeId }, w.owner)).dashboard.gmv;
    return "¥" + Number(gmv).toLocaleString("en-US", { minimumFractionDigits: 2 });
  };
  const westLake = await gmvOf(w.stores[0].id), all = await gmvOf(null);
  assert.notEqual(westLake, all);
  await page.selectOption("#store-filter", w.stores[0].id);
  await page.waitForFunction((v) => document.querySelector("[data-tile=gmv] b").textContent === v, westLake);
  await page.selectOption("#store-filter", "");
  await page.waitForFunction((v) => document.querySelector("[data-tile=gmv] b").textContent === v, all);

  // The exports download with the login.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-orders")]);
  const csv = readFileSync(await download.path(), "utf8");
  assert.match(csv.split("\n")[0], /^id,created_at,completed_at,status/);
  assert.ok(csv.split("\n").length > 5, csv);
  await shot(page, "dashboard");
  await page.setViewportSize(PHONE);
  await assertFits(page, "dashboard");
  await shot(page, "dashboard-phone");
  await page.context().close();
});

test("every merchant page fits a 390 px phone", async () => {
  const page = await newPage();
  await staffLogin(page, server.base, "lin", "lin-password-1");
  for (const name of OWNER_PAGES) {
    await open(page, name);
    await page.waitForTimeout(200);
    if (name === "queue") assert.match(await page.textContent("#queue-list"), /[\u4e00-\u9fa5]+\d?（\d{8}）/, "queue entries by nickname and member code");
    await assertFits(page, name);
    if (!["dashboard", "till", "orders", "members", "withdrawals"].includes(name)) await shot(page, name);
  }
  // The programs page shows every rule with percentages and previews RULES.md's sequence.
  await open(page, "programs");
  assert.equal(await page.inputValue("input[name=queueRatio]"), "40");
  await page.fill("input[name=activeSlots]", "3");
  await page.click("#preview");
  await see(page, "#simulation-summary");
  assert.match(await page.textContent("#simulation-summary"), /共返出 ¥3,059\.98（占成交额 59\.99%），奖池 ¥0\.02，免单完成 2 笔，仍在排队 5 笔/);
  await page.context().close();
});

test("the dashboard's days are the merchant's days: 23:30 UTC is the next morning in Shanghai", async () => {
  // A server whose clock reads 23:29:30 UTC on 24 November, and a browser in UTC at that time.
  const now = "2026-11-24T23:29:30Z";
  const s = await startServer({ env: { FENHONG_CLOCK_START: now } });
  try {
    const w = await seed(s.base);
    await record(w, "xiaoli", "66.00", 0);
    const page = await newPage(DESKTOP, { timezoneId: "UTC" });
    await page.clock.setFixedTime(new Date(now));
    await staffLogin(page, s.base, "lin", "lin-password-1");
    await open(page, "dashboard");
    await see(page, "[data-tile=gmv]");
    assert.match(await page.textContent("#range-note"), /2026-11-25 至 2026-11-25/);
    assert.equal(await page.textContent("[data-tile=gmv] b"), "¥66.00");
    assert.equal(await page.textContent("[data-tile=orders] b"), "1");
    // 24 November (Shanghai) had nothing.
    await page.fill("#from-day", "2026-11-24");
    await page.fill("#to-day", "2026-11-24");
    await page.dispatchEvent("#to-day", "change");
    await page.waitForFunction(() => document.querySelector("[data-tile=gmv] b").textContent === "¥0.00");
    await page.context().close();
  } finally {
    await stopServer(s);
  }
});

test("the shopper's page: every entry with who is ahead, live, and back by itself after a server restart", async () => {
  const w = world;
  // New shoppers queue at the second store; hers is the third entry still in line.
  const queueState = async (token) => (await w.q(`query($m: ID!) { membership(merchantId: $m) { queueEntries { id status position } } }`, { m: w.merchantId }, token)).membership.queueEntries;
  await record(w, "guest3", "100.00", 1);
  await record(w, "guest4", "100.00", 1);
  await record(w, "amei", "100.00", 1);
  await record(w, "amei", "30.00", 1);

  const page = await newPage();
  await loggedInAs(page, w.shoppers.amei);
  await page.goto(`${server.base}/console/join?scene=${encodeURIComponent(w.stores[1].qrCode.scene)}`);
  await see(page, "#entries .entry");
  const shown = async () => page.$$eval("#entries .entry", (els) => els.map((e) => ({ id: e.dataset.entry, position: e.dataset.position, text: e.textContent })));
  const truth = async () => (await queueState(w.shoppers.amei.token)).filter((e) => e.status !== "COMPLETED").sort((a, b) => a.position - b.position);
  const agrees = async () => {
    const live = await truth();
    const onPage = (await shown()).filter((e) => e.position !== "");
    return live.length === onPage.length && live.every((e, i) => onPage[i].id === e.id && Number(onPage[i].position) === e.position);
  };
  const waitAgree = async (ms) => {
    const end = Date.now() + ms;
    do { if (await agrees()) return true; await sleep(100); } while (Date.now() < end);
    return false;
  };
  assert.ok(await waitAgree(5000), "the page shows every entry at its rank");
  const all = await queueState(w.shoppers.amei.token);
  assert.ok(all.some((e) => e.status === "COMPLETED"), "she has a completed entry");
  assert.equal((await shown()).length, all.length, "completed entries stay on her page");
  const first = (await shown())[0];
  assert.match(first.text, /前面还有 \d+ 人|返还中/);
  assert.match(first.text, /预计|已返/);

  // Orders by others move her up (or pay her entry off), live.
  const before = JSON.stringify(await truth());
  for (let i = 0; i < 8 && JSON.stringify(await truth()) === before; i++) await record(w, `guest${1 + (i % 4)}`, "100.00", 1);
  assert.notEqual(JSON.stringify(await truth()), before, "the test moves her up");
  assert.ok(await waitAgree(5000), "the rank follows the queue live");

  // Her own new order appears without a reload.
  const entriesBefore = (await shown()).length;
  await record(w, "amei", "20.00", 0);
  await page.waitForFunction((n) => document.querySelectorAll("#entries .entry").length === n + 1, entriesBefore, { timeout: 10000 });
  await shot(page, "shopper");
  await assertFits(page, "shopper");

  // The server restarts: the page says the connection is down, then is right again by itself.
  await stopServer(server);
  await see(page, "#live-status", { state: "visible", timeout: 15000 });
  server = await startServer({ port: server.port, dir: server.dir });
  await see(page, "#live-status", { state: "hidden", timeout: 15000 });
  // Live again: the next orders move her rank on the page as they happen.
  await record(w, "guest3", "100.00", 1);
  await record(w, "guest4", "100.00", 1);
  assert.ok(await waitAgree(10000),
    `the rank follows the queue again after the restart: page ${JSON.stringify(await shown())}, truth ${JSON.stringify(await truth())}`);
  await page.context().close();
});

test("history pages through every movement with readable kinds", async () => {
  const w = world;
  for (let i = 0; i < 22; i++) await record(w, "guest1", "20.00", 0); // 1 point each
  const page = await newPage();
  await loggedInAs(page, w.shoppers.guest1);
  await page.goto(`${server.base}/console/join`);
  await see(page, "#history li");
  const first = (await page.$$("#history li")).length;
  assert.equal(first, 20);
  await page.click("#more-history");
  await page.waitForFunction((n) => document.querySelectorAll("#history li").length > n, first);
  while (await page.isVisible("#more-history")) {
    const n = (await page.$$("#history li")).length;
    await page.click("#more-history");
    await page.waitForFunction((k) => document.querySelectorAll("#history li").length > k || document.querySelector("#more-history").hidden, n);
  }
  const total = (await w.q(`query($m: ID!) { membership(merchantId: $m) { wallet { transactions(first: 100) { nodes { id } } } } }`, { m: w.merchantId }, w.shoppers.guest1.token)).membership.wallet.transactions.nodes.length;
  assert.equal((await page.$$("#history li")).length, total, "every movement, each once");
  const kinds = await page.$$eval("#history li .kind", (els) => els.map((t) => t.textContent));
  assert.ok(kinds.every((k) => /[\u4e00-\u9fa5]/.test(k)), kinds.join(","));
  assert.ok(!kinds.some((k) => /[A-Z]{3,}_/.test(k)));
  await page.context().close();
});

test("the owner disables a cashier (signed out at once) and sets the merchant's time zone", async () => {
  const w = world;
  const cashier = await newPage();
  await staffLogin(cashier, server.base, "zhao.cashier", "staff-password-1");
  const owner = await newPage();
  await staffLogin(owner, server.base, "lin", "lin-password-1");
  await open(owner, "staff");
  const row = owner.locator("#staff tbody tr", { hasText: "zhao.cashier" });
  await row.locator("[data-toggle]").click();
  await owner.click("#dialog-confirm");
  await see(owner, "#staff tbody tr:has-text('zhao.cashier'):has-text('已停用')");
  // The cashier's next step finds her signed out, with the login in front of her.
  await open(cashier, "orders").catch(() => {});
  await see(cashier, "#login-button", { timeout: 10000 });
  // A role change from the same page.
  // The select shows the new role at once; the toast says the server has it.
  await owner.locator("#staff tbody tr", { hasText: "wang.manager" }).locator("select").selectOption("CASHIER");
  await see(owner, ".toast:has-text('角色已修改')");
  const roles = (await w.q(`query($m: ID!) { merchant(id: $m) { staff { username role disabled } } }`, { m: w.merchantId }, w.owner)).merchant.staff;
  assert.deepEqual(roles.find((x) => x.username === "zhao.cashier").disabled, true);
  assert.equal(roles.find((x) => x.username === "wang.manager").role, "CASHIER");

  await open(owner, "settings");
  await owner.selectOption("#time-zone", "Asia/Tokyo");
  await owner.click("#merchant-form button");
  await see(owner, ".toast:has-text('已保存')");
  assert.equal((await w.q(`query($m: ID!) { merchant(id: $m) { timeZone } }`, { m: w.merchantId }, w.owner)).merchant.timeZone, "Asia/Tokyo");
  await open(owner, "dashboard");
  await see(owner, "#range-note:has-text('Asia/Tokyo')");

  // Put everything back for whoever runs next.
  await open(owner, "staff");
  await owner.locator("#staff tbody tr", { hasText: "zhao.cashier" }).locator("[data-toggle]").click();
  await see(owner, "#staff tbody tr:has-text('zhao.cashier'):has-text('正常')");
  await owner.locator("#staff tbody tr", { hasText: "wang.manager" }).locator("select").selectOption("MANAGER");
  await serverSays(async () => (await w.q(`query($m: ID!) { merchant(id: $m) { staff { username role } } }`, { m: w.merchantId }, w.owner)).merchant.staff.find((x) => x.username === "wang.manager").role === "MANAGER");
  await w.q(`mutation($m: ID!) { updateMerchant(merchantId: $m, input: { timeZone: "Asia/Shanghai" }) { id } }`, { m: w.merchantId }, w.owner);
  await owner.context().close();
  await cashier.context().close();
});

test("no page raised an error", () => {
  assert.deepEqual(pageErrors, []);
});
