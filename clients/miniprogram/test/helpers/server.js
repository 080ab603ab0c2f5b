'use strict';
// Runs the real fenhong binary on a free port with a fresh SQLite database.
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const BINARY = process.env.FENHONG_BIN || path.resolve(__dirname, '../../../../target/debug/fenhong');
const ADMIN_PASSWORD = 'miniprogram-test-admin';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

class Server {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fenhong-mp-'));
    this.log = '';
  }

  async start() {
    if (!fs.existsSync(BINARY)) {
      throw new Error(`fenhong binary not found at ${BINARY}: run \`cargo build --bin fenhong\` at the repository root first`);
    }
    if (!this.port) this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = spawn(BINARY, [], {
      env: Object.assign({}, process.env, {
        FENHONG_BIND: `127.0.0.1:${this.port}`,
        DATABASE_URL: `sqlite://${this.dir}/f.db?mode=rwc`,
        FENHONG_ADMIN_PASSWORD: ADMIN_PASSWORD,
        REDIS_URL: '',
        RUST_LOG: 'warn',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const append = (d) => { this.log = (this.log + d.toString()).slice(-20000); };
    this.proc.stdout.on('data', append);
    this.proc.stderr.on('data', append);
    const exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    this.exited = exited;
    const end = Date.now() + 60000;
    for (;;) {
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 100))]);
      if (code !== undefined) throw new Error(`fenhong exited with ${code}:\n${this.log}`);
      try {
        const res = await fetch(this.url + '/healthz');
        if (res.ok) return;
      } catch (e) { /* not up yet */ }
      if (Date.now() > end) throw new Error('fenhong did not become healthy:\n' + this.log);
    }
  }

  async kill() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  async stop() {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async gql(token, query, variables) {
    const res = await fetch(this.url + '/graphql', {
      method: 'POST',
      headers: Object.assign({ 'content-type': 'application/json' }, token ? { authorization: 'Bearer ' + token } : {}),
      body: JSON.stringify({ query, variables }),
    });
    const body = await res.json();
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }
}

// Admin → merchant with owner → store (its scene) → queue program → a cashier.
async function setUpMerchant(server) {
  const admin = (await server.gql(null, 'mutation($p: String!) { staffLogin(username: "admin", password: $p) { token } }', { p: ADMIN_PASSWORD })).staffLogin.token;
  const merchant = (await server.gql(admin, 'mutation { createMerchant(input: { name: "茶馆", ownerUsername: "tea.owner", ownerPassword: "correct-horse" }) { id } }')).createMerchant;
  const owner = (await server.gql(null, 'mutation { staffLogin(username: "tea.owner", password: "correct-horse") { token } }')).staffLogin.token;
  const store = (await server.gql(owner, 'mutation($m: ID!) { createStore(merchantId: $m, name: "西湖店") { id qrCode { scene } } }', { m: merchant.id })).createStore;
  await server.gql(owner, `mutation($m: ID!) { configurePrograms(merchantId: $m, input: {
      queue: { enabled: true, activeSlots: 1, queueRatio: "0.40", referralRatio: "0.20" } }) { version } }`, { m: merchant.id });
  await server.gql(owner, 'mutation($m: ID!) { createStaff(merchantId: $m, username: "tea.cashier", password: "cashier-pass", role: CASHIER) { id } }', { m: merchant.id });
  const cashier = (await server.gql(null, 'mutation { staffLogin(username: "tea.cashier", password: "cashier-pass") { token } }')).staffLogin.token;
  let orders = 0;
  return {
    merchantId: merchant.id,
    storeId: store.id,
    scene: store.qrCode.scene,
    owner,
    cashier,
    async shopper(code) {
      const login = (await server.gql(null, 'mutation($c: String!) { loginWithWechat(code: $c) { token user { id } } }', { c: code })).loginWithWechat;
      await server.gql(login.token, 'mutation($s: String!) { joinByScene(scene: $s) { memberCode } }', { s: store.qrCode.scene });
      return { token: login.token, userId: login.user.id };
    },
    async order(userId, amount = '100.00') {
      orders += 1;
      const o = (await server.gql(cashier, `mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id status queueEntry { id status position } } }`,
        { i: { storeId: store.id, userId, amount, idempotencyKey: `mp-test-${orders}-${Date.now()}`, complete: true } })).recordOrder;
      return o;
    },
  };
}

module.exports = { Server, setUpMerchant, BINARY };
