// Starts the real fenhong binary (FENHONG_BIN) on a fresh SQLite file and a free port, and
// talks GraphQL to it: what every conformance test stands on.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";

export const ADMIN_PASSWORD = "admin-password-1";

const freePort = () => new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

/** A running server; `env` adds settings (e.g. production mode). */
export async function startServer(env = {}) {
  const bin = process.env.FENHONG_BIN;
  if (!bin) throw new Error("FENHONG_BIN names the fenhong binary");
  const dir = mkdtempSync(join(tmpdir(), "fenhong-conformance-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const childEnv = {
    ...process.env,
    DATABASE_URL: `sqlite://${dir}/conformance.db?mode=rwc`,
    FENHONG_BIND: `127.0.0.1:${port}`,
    FENHONG_ADMIN_PASSWORD: ADMIN_PASSWORD,
    RUST_LOG: "warn",
    ...env,
  };
  delete childEnv.REDIS_URL;
  const child = spawn(bin, ["serve"], { env: childEnv, stdio: ["ignore", "inherit", "inherit"] });
  let exited = false;
  child.on("exit", () => { exited = true; });
  for (let i = 0; i < 200 && !exited; i++) {
    try { if ((await fetch(base + "/healthz")).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (exited) throw new Error("fenhong exited at start");
  return {
    base,
    url: base + "/graphql",
    wsUrl: `ws://127.0.0.1:${port}/graphql/ws`,
    stop: () => child.kill(),
    /** The whole JSON response of a POST. */
    async post(query, variables = {}, token) {
      const headers = { "content-type": "application/json", accept: "application/graphql-response+json" };
      if (token) headers.authorization = "Bearer " + token;
      const response = await fetch(base + "/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
      return response.json();
    },
    /** `data` of a request that must succeed. */
    async gql(query, variables = {}, token) {
      const body = await this.post(query, variables, token);
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    },
  };
}

/**
 * A merchant with the queue free-order program (RULES.md: N = 3, q = 0.40, r1 = 0.20), a
 * store, a cashier, and a function that makes a shopper who joined it.
 */
export async function queueShop(server, activeSlots = 3) {
  const { gql } = server;
  const call = gql.bind(server);
  const admin = (await call(`mutation { staffLogin(username: "admin", password: "${ADMIN_PASSWORD}") { token } }`)).staffLogin.token;
  const suffix = Math.random().toString(36).slice(2, 8);
  const merchantId = (await call(`mutation($u: String!) { createMerchant(input: { name: "Pub", ownerUsername: $u, ownerPassword: "owner-password-1" }) { id } }`, { u: "owner" + suffix }, admin)).createMerchant.id;
  const owner = (await call(`mutation($u: String!) { staffLogin(username: $u, password: "owner-password-1") { token } }`, { u: "owner" + suffix })).staffLogin.token;
  await call(`mutation($m: ID!, $n: Int!) { configurePrograms(merchantId: $m, input: { queue: { enabled: true, activeSlots: $n, queueRatio: "0.40", referralRatio: "0.20" } }) { version } }`, { m: merchantId, n: activeSlots }, owner);
  const store = (await call(`mutation($m: ID!) { createStore(merchantId: $m, name: "West Lake") { id qrCode { scene } } }`, { m: merchantId }, owner)).createStore;
  await call(`mutation($m: ID!, $u: String!) { createStaff(merchantId: $m, username: $u, password: "cashier-pass-1", role: CASHIER) { id } }`, { m: merchantId, u: "cashier" + suffix }, owner);
  const cashier = (await call(`mutation($u: String!) { staffLogin(username: $u, password: "cashier-pass-1") { token } }`, { u: "cashier" + suffix })).staffLogin.token;
  let orders = 0;
  return {
    merchantId, owner, cashier, storeId: store.id,
    async shopper(code) {
      const login = (await call(`mutation($c: String!) { loginWithWechat(code: $c) { token user { id } } }`, { c: code + suffix })).loginWithWechat;
      await call(`mutation($s: String!) { joinByScene(scene: $s) { memberCode } }`, { s: store.qrCode.scene }, login.token);
      return { token: login.token, id: login.user.id };
    },
    /** Records and completes an order; returns its queue entry's id. */
    async order(userId, amount) {
      orders += 1;
      const data = await call(`mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id queueEntry { id } } }`,
        { i: { storeId: store.id, userId, amount, idempotencyKey: `conformance-${suffix}-${orders}`, complete: true } }, cashier);
      return data.recordOrder.queueEntry.id;
    },
  };
}
