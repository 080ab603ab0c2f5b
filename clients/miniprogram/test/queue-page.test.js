'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { renderPage, text } = require('./helpers/simulate');
const { createFakeWx, waitFor } = require('./helpers/fake-wx');
const { fakeServer } = require('./helpers/fake-server');
const { fakeWsServer } = require('./helpers/fake-ws-server');

test('queue page: every entry with its live rank; restarts and re-reads on onAppShow and network change', async (t) => {
  const ws = await fakeWsServer();
  t.after(() => ws.close());
  let entries = [
    { id: '11', status: 'WAITING', position: 3, target: '100.00', received: '0.00' },
    { id: '12', status: 'COMPLETED', position: null, target: '50.00', received: '50.00' },
  ];
  const server = fakeServer({
    Login: () => ({ loginWithWechat: { token: 'tok', expiresAt: new Date(Date.now() + 3600e3).toISOString(), user: { id: '7' } } }),
    QueueEntries: ({ merchantId }) => ({ membership: merchantId === '3' ? { merchant: { id: '3', name: '茶馆' }, queueEntries: entries } : null }),
  });
  const wx = createFakeWx({ handler: server.handler });
  global.wx = wx;
  wx.setStorageSync('fenhong.current', { merchantId: '3', merchantName: '茶馆', storeId: '9' });

  const page = renderPage('pages/queue/index');
  const config = require('../config');
  config.wsUrl = ws.url;
  require('../lib/live').watchAppLifecycle();
  t.after(() => { page.instance.onUnload(); require('../lib/live').dispose(); });
  page.instance.onLoad({});

  await waitFor(() => page.instance.data.state === 'ready');
  assert.match(text(page), /茶馆 · 排队免单/);
  assert.match(text(page), /排队中\s*第 3 位/);
  assert.match(text(page), /已完成/);
  assert.equal(page.querySelectorAll('.entry').length, 2);

  // Only the open entry is watched, with the token in connection_init.
  await waitFor(() => ws.subscribes.length === 1);
  assert.deepEqual(ws.subscribes[0].variables, { entryId: '11' });
  assert.match(ws.subscribes[0].query, /queuePosition\(entryId: \$entryId\)/);
  assert.deepEqual(ws.inits[0], { token: 'tok' });

  ws.push({ entryId: '11' }, { queuePosition: { id: '11', status: 'WAITING', position: 2, target: '100.00', received: '0.00', etaSeconds: null } });
  await waitFor(() => /第 2 位/.test(text(page)), { message: 'live rank 2' });

  // Back from the background: the socket is dropped and opened again, the subscription
  // resent, and the entries read again (a new one appeared meanwhile).
  entries = entries.concat([{ id: '13', status: 'WAITING', position: 4, target: '80.00', received: '0.00' }]);
  const reads = server.calls('QueueEntries').length;
  wx.fireAppShow();
  await waitFor(() => server.calls('QueueEntries').length > reads && page.instance.data.entries.length === 3, { message: 're-read' });
  await waitFor(() => ws.sockets.length === 2 && ws.subscribes.filter((s) => s.sock === ws.sockets[1]).length === 2, { message: 'resubscribed on a new socket' });
  assert.equal(ws.sockets[0].readyState, 3);
  assert.match(text(page), /第 4 位/);

  ws.push({ entryId: '11' }, { queuePosition: { id: '11', status: 'ACTIVE', position: 1, target: '100.00', received: '40.00', etaSeconds: null } });
  await waitFor(() => /免单返还中/.test(text(page)), { message: 'active' });
  assert.match(text(page), /已返 ¥40.00 \/ 目标 ¥100.00/);

  // Network back: restarted again; a completed entry stops being watched.
  wx.fireNetworkChange(true);
  await waitFor(() => ws.sockets.length === 3 && ws.subscribes.filter((s) => s.sock === ws.sockets[2]).length === 2, { message: 'third socket' });
  ws.push({ entryId: '11' }, { queuePosition: { id: '11', status: 'COMPLETED', position: null, target: '100.00', received: '100.00', etaSeconds: null } });
  await waitFor(() => ws.completes.length === 1, { message: 'complete sent for the finished entry' });
  wx.fireNetworkChange(false); // offline: nothing to do
  assert.equal(ws.sockets.length, 3);
});

test('queue page: not a member', async () => {
  const server = fakeServer({
    Login: () => ({ loginWithWechat: { token: 'tok', expiresAt: new Date(Date.now() + 3600e3).toISOString(), user: { id: '7' } } }),
    QueueEntries: () => ({ membership: null }),
  });
  global.wx = createFakeWx({ handler: server.handler });
  global.wx.setStorageSync('fenhong.current', { merchantId: '4' });
  const page = renderPage('pages/queue/index');
  page.instance.onLoad({});
  await waitFor(() => page.instance.data.state === 'notMember');
  assert.match(text(page), /请先扫描门店二维码加入会员/);
  page.instance.onUnload();
});
