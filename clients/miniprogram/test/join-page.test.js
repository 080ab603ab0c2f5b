'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { renderPage, text } = require('./helpers/simulate');
const { createFakeWx, waitFor } = require('./helpers/fake-wx');
const { fakeServer, gqlError } = require('./helpers/fake-server');

function setup(resolvers, options) {
  const server = fakeServer(Object.assign({
    Login: ({ code }) => ({ loginWithWechat: { token: 'tok-' + code, expiresAt: new Date(Date.now() + 3600e3).toISOString(), user: { id: '7' } } }),
    Grants: ({ results }) => ({ recordSubscribeGrants: results.filter((r) => r.accepted).map((r) => ({ event: 'QUEUE_ACTIVE', templateId: r.templateId, remaining: 1 })) }),
    Templates: () => ({ notificationTemplates: [
      { event: 'QUEUE_ACTIVE', templateId: 'T-active' }, { event: 'REWARD_CREDITED', templateId: 'T-reward' },
      { event: 'WITHDRAWAL_PAID', templateId: 'T-paid' }] }),
  }, resolvers));
  const wx = createFakeWx(Object.assign({ handler: server.handler }, options));
  global.wx = wx;
  return { server, wx };
}

const joined = (scene) => ({ joinByScene: { justJoined: true, memberCode: 'M-0042', merchant: { id: '3', name: '茶馆' }, store: { id: '9', name: '西湖店' }, referrer: null, _scene: scene } });

test('join page: scene from the page query (URL-encoded) → logs in, joins, shows 已加入 and the member code', async () => {
  let scene = null;
  const { server, wx } = setup({ Join: (v) => { scene = v.scene; return joined(v.scene); } });
  const page = renderPage('pages/join/index');
  page.instance.onLoad({ scene: encodeURIComponent('s1.abc/def=') });
  await waitFor(() => page.instance.data.state === 'joined', { message: 'joined' });
  assert.equal(scene, 's1.abc/def=');
  assert.match(text(page), /已加入 茶馆/);
  assert.match(text(page), /M-0042/);
  assert.match(text(page), /欢迎成为会员/);
  assert.equal(server.calls('Join')[0].auth, 'Bearer tok-code-1');
  assert.deepEqual(wx.getStorageSync('fenhong.current'), { merchantId: '3', merchantName: '茶馆', storeId: '9' });
  // The templates were read beforehand, so the tap can ask at once.
  await waitFor(() => page.instance.data.tmplIds.length === 2);
  wx.subscribeAnswers = { 'T-active': 'accept', 'T-reward': 'reject' };
  await waitFor(() => page.querySelector('.menu'), { message: 'menu' });
  page.instance.subscribe();
  await waitFor(() => page.instance.data.notice, { message: 'notice' });
  assert.deepEqual(wx.calls.requestSubscribeMessage[0].tmplIds, ['T-active', 'T-reward']);
  assert.deepEqual(server.calls('Grants')[0].variables.results, [{ templateId: 'T-active', accepted: true }, { templateId: 'T-reward', accepted: false }]);
  assert.match(text(page), /已开启通知/);
});

test('join page: scene from wx.getEnterOptionsSync when the page query has none', async () => {
  let scene = null;
  const { wx } = setup({ Join: (v) => { scene = v.scene; return joined(); } });
  wx.enterQuery = { scene: encodeURIComponent('store:9') };
  const page = renderPage('pages/join/index');
  page.instance.onLoad({});
  await waitFor(() => page.instance.data.state === 'joined');
  assert.equal(scene, 'store:9');
  assert.match(text(page), /会员码\s*M-0042/);
  await waitFor(() => page.instance.data.tmplIds.length === 2);
});

test('join page: an altered scene shows the server error in Chinese, and retry works', async () => {
  let refuse = true;
  setup({ Join: () => (refuse ? gqlError('INVALID_INPUT', 'bad scene') : joined()) });
  const page = renderPage('pages/join/index');
  page.instance.onLoad({ scene: 'forged' });
  await waitFor(() => page.instance.data.state === 'error');
  assert.match(text(page), /输入有误，请检查后重试/);
  refuse = false;
  page.instance.retry();
  await waitFor(() => page.instance.data.state === 'joined');
  assert.match(text(page), /已加入 茶馆/);
  await waitFor(() => page.instance.data.tmplIds.length === 2);
});

test('join page: no scene and never joined asks to scan a code', async () => {
  setup({});
  const page = renderPage('pages/join/index');
  page.instance.onLoad({});
  await waitFor(() => page.instance.data.state === 'noScene');
  assert.match(text(page), /请用微信扫描门店二维码加入会员/);
  await waitFor(() => page.instance.data.tmplIds.length === 2);
});

test('an expired token (UNAUTHENTICATED) logs in again once and retries', async () => {
  let joins = 0;
  const { server, wx } = setup({ Join: (v, { auth }) => { joins++; return auth === 'Bearer tok-code-1' ? gqlError('UNAUTHENTICATED') : joined(); } });
  const page = renderPage('pages/join/index');
  page.instance.onLoad({ scene: 'x' });
  await waitFor(() => page.instance.data.state === 'joined');
  assert.equal(joins, 2, JSON.stringify(server.seen));
  assert.equal(server.calls('Login').length, 2);
  assert.equal(server.calls('Join')[1].auth, 'Bearer tok-code-2');
  assert.equal(JSON.parse(wx.storage.get('fenhong.auth')).token, 'tok-code-2');
  await waitFor(() => page.instance.data.tmplIds.length === 2);
});
