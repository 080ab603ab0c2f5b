'use strict';
// WxWebSocket (over a fake wx whose connectSocket is the `ws` package) carrying the vendored
// graphql-ws client against the REAL fenhong binary: a WAITING entry's queuePosition falls
// as orders complete, survives a kill -9 and restart of the server on the same port and
// database, and reaches the true position afterwards. Then the queue page's controller,
// with lib/api (wx.request) and lib/live, against the same server.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Server, setUpMerchant } = require('./helpers/server');
const { createFakeWx, fakePage, waitFor, freshRequire } = require('./helpers/fake-wx');

const POSITION = 'subscription($id: ID!) { queuePosition(entryId: $id) { id status position received target } }';

// A real server with a merchant; what a test adds to `cleanup` is undone after it, last
// first, and then the server is stopped.
async function serverWithMerchant(t) {
  const server = new Server();
  const cleanup = [];
  t.after(async () => { for (const fn of cleanup.reverse()) await fn(); });
  cleanup.push(() => server.stop());
  await server.start();
  const m = await setUpMerchant(server);
  return { server, m, cleanup };
}

// Installs a fake wx as the global one until the test ends.
function installWx(cleanup, options) {
  const wx = createFakeWx(options);
  global.wx = wx;
  cleanup.push(() => { delete global.wx; });
  return wx;
}

test('graphql-ws over WxWebSocket against the real server, across a restart', { timeout: 180000 }, async (t) => {
  const { server, m, cleanup } = await serverWithMerchant(t);

  const bob = await m.shopper('bob');
  const alice = await m.shopper('alice');
  // Others ahead of her: a 1000 order fills slowly, so she waits behind two entries.
  await m.order(bob.userId, '100.00');
  await m.order(bob.userId, '100.00');
  await m.order(bob.userId, '1000.00');
  await m.order(bob.userId, '1000.00');
  await m.order(bob.userId, '100.00');
  const mine = await m.order(alice.userId, '1000.00');
  assert.equal(mine.queueEntry.status, 'WAITING');
  const entryId = mine.queueEntry.id;
  const startPosition = mine.queueEntry.position;
  assert.ok(startPosition >= 2, `alice waits behind carol (position ${startPosition})`);

  const wx = installWx(cleanup);
  const [{ createClient }, { WxWebSocket }] = freshRequire(['lib/vendor/graphql-ws.js', 'lib/wx-websocket.js']);

  const closes = [];
  const client = createClient({
    url: `ws://127.0.0.1:${server.port}/graphql/ws`,
    webSocketImpl: WxWebSocket,
    connectionParams: { token: alice.token },
    retryAttempts: 100,
    shouldRetry: () => true,
    retryWait: () => new Promise((r) => setTimeout(r, 200)),
    on: { closed: (e) => closes.push(e.code) },
  });
  cleanup.push(() => client.dispose());

  const seen = [];
  const errors = [];
  client.subscribe({ query: POSITION, variables: { id: entryId } }, {
    next: (r) => { if (r.data) seen.push(r.data.queuePosition); else errors.push(r.errors); },
    error: (e) => errors.push(e),
    complete: () => {},
  });
  const last = () => seen[seen.length - 1];

  await waitFor(() => seen.length >= 1, { message: 'the current state at once' });
  assert.equal(last().id, entryId);
  assert.equal(last().status, 'WAITING');
  assert.equal(last().position, startPosition);
  assert.equal(wx.sockets[0].protocol, 'graphql-transport-ws');

  // Orders complete until alice moves up.
  let dave = await m.shopper('dave');
  for (let i = 0; i < 20 && last().position === startPosition; i++) {
    await m.order(dave.userId, '1000.00');
    await new Promise((r) => setTimeout(r, 100));
  }
  await waitFor(() => last().position < startPosition, { message: 'position to fall' });
  const beforeRestart = last().position;

  // kill -9 and start again on the same port and database.
  const socketsBefore = wx.sockets.length;
  await server.kill();
  // Counted once the old server is gone: the new connection's first state can arrive
  // before the wait below sees its socket open.
  const seenBefore = seen.length;
  await waitFor(() => closes.length >= 1, { message: 'the adapter to report the close' });
  assert.ok([1006, 1001, 1012].includes(closes[0]), `abnormal close reported (${closes[0]})`);
  await server.start();
  await waitFor(() => wx.sockets.length > socketsBefore && wx.sockets[wx.sockets.length - 1].readyState === 1, { timeout: 20000, message: 'a new socket' });
  await waitFor(() => seen.length > seenBefore, { timeout: 20000, message: 'resubscribed state' });
  assert.equal(last().position, beforeRestart, 'the state after the restart is the true one');

  // An order after the restart moves her again, seen live on the new connection.
  const truth = async () => (await server.gql(alice.token, 'query($id: ID!) { queueEntry(id: $id) { status position } }', { id: entryId })).queueEntry;
  dave = await m.shopper('dave');
  for (let i = 0; i < 20; i++) {
    await m.order(dave.userId, '1000.00');
    const now = await truth();
    if (now.status !== 'WAITING' || now.position < beforeRestart) break;
  }
  const expected = await truth();
  await waitFor(() => last().status === expected.status && last().position === expected.position, { message: `live position ${JSON.stringify(expected)}` });
  assert.ok(expected.status !== 'WAITING' || expected.position < beforeRestart);
  assert.deepEqual(errors, []);
  assert.ok(wx.sockets.filter((s) => s.readyState === 1).length <= 1, 'one socket at a time');
});

test('queue page controller (lib/api + lib/live) against the real server', { timeout: 180000 }, async (t) => {
  const { server, m, cleanup } = await serverWithMerchant(t);
  const bob = await m.shopper('bob');
  for (const amount of ['100.00', '100.00', '1000.00', '1000.00']) await m.order(bob.userId, amount);

  const wx = installWx(cleanup, { codePrefix: 'alice' });
  const [config, join, { QueueController }, live] = freshRequire(['config.js', 'pages/join/join.js', 'pages/queue/queue.js', 'lib/live.js']);
  config.serverUrl = server.url;
  config.wsUrl = `ws://127.0.0.1:${server.port}/graphql/ws`;
  live.watchAppLifecycle();
  cleanup.push(() => live.dispose());

  // Join by the store's scene, as the wxacode opens the page (URL-encoded).
  const joinPage = fakePage();
  await join.load(joinPage, { scene: encodeURIComponent(m.scene) });
  assert.equal(joinPage.data.state, 'joined', joinPage.data.error);
  assert.equal(joinPage.data.justJoined, true);
  assert.match(joinPage.data.memberCode, /\S/);
  const userId = JSON.parse(wx.storage.get('fenhong.auth')).userId;

  const mine = await m.order(userId, '100.00');
  assert.equal(mine.queueEntry.status, 'WAITING');

  const page = fakePage();
  const queue = new QueueController(page, m.merchantId);
  cleanup.push(() => queue.stop());
  await queue.refresh();
  assert.equal(page.data.state, 'ready');
  assert.equal(page.data.entries.length, 1);
  assert.equal(page.data.entries[0].rankText, `第 ${mine.queueEntry.position} 位`);
  await waitFor(() => queue.subs.size === 1 && wx.sockets.length === 1 && wx.sockets[0].readyState === 1, { message: 'subscribed' });

  // A second order while live; then back from the background: the socket is restarted and
  // the entries re-read, so the new entry is watched too.
  const reads = () => wx.calls.requests.filter((r) => /QueueEntries/.test(r.data.query)).length;
  const second = await m.order(userId, '1000.00');
  assert.equal(second.queueEntry.status, 'WAITING');
  const readsBefore = reads();
  wx.fireAppShow();
  await waitFor(() => reads() > readsBefore && page.data.entries.length === 2, { message: 're-read after onAppShow' });
  await waitFor(() => wx.sockets.length === 2 && wx.sockets[1].readyState === 1 && wx.sockets[0].readyState === 3, { message: 'a fresh socket' });
  assert.equal(queue.subs.size, 2);

  // Orders until the first entry moves up; the page shows the live rank.
  const cara = await m.shopper('cara');
  const start = page.data.entries[0].position;
  for (let i = 0; i < 20; i++) {
    await m.order(cara.userId, '1000.00');
    await new Promise((r) => setTimeout(r, 100));
    if (page.data.entries[0].position !== start) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await waitFor(() => page.data.entries[0].status !== 'WAITING' || page.data.entries[0].position < start, { message: 'live rank' });
  assert.equal(page.data.entries.find((e) => e.id === second.queueEntry.id).status, 'WAITING');

  // Network change: another restart, still one socket open.
  wx.fireNetworkChange(true, '4g');
  await waitFor(() => wx.sockets.length === 3 && wx.sockets[2].readyState === 1, { message: 'socket after network change' });
  assert.ok(wx.sockets.filter((s) => s.readyState === 1).length === 1);
});

test('lib/live disposed while it connects to a server that goes away leaves no unhandled rejection', { timeout: 60000 }, async (t) => {
  const { server, m, cleanup } = await serverWithMerchant(t);
  const alice = await m.shopper('alice');
  const mine = await m.order(alice.userId, '100.00');

  const wx = installWx(cleanup, { codePrefix: 'alice' });
  const [config, live] = freshRequire(['config.js', 'lib/live.js']);
  config.serverUrl = server.url;
  config.wsUrl = `ws://127.0.0.1:${server.port}/graphql/ws`;

  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  cleanup.push(() => process.off('unhandledRejection', onUnhandled));

  // Subscribing starts a connection (logging in first); the server dies before it is up.
  live.subscribe('subscription($id: ID!) { queuePosition(entryId: $id) { position } }', { entryId: mine.queueEntry.id }, { next: () => {}, error: () => {} });
  await server.kill();
  live.dispose();
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(unhandled, [], 'no unhandled rejection');
});
