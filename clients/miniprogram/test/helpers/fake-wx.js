'use strict';
// A stand-in for the mini-program's `wx`: storage in memory, wx.login codes, wx.request
// answered by a handler (a fake server function) or by real HTTP, wx.connectSocket backed
// by the `ws` package, and the app-lifecycle hooks the tests fire by hand.
const WebSocket = require('ws');

function createFakeWx(options = {}) {
  const storage = new Map();
  const listeners = { appShow: [], network: [] };
  const calls = { requestPayment: [], requestMerchantTransfer: [], requestSubscribeMessage: [], navigateTo: [], requests: [] };
  const sockets = [];
  let codes = 0;

  const wx = {
    calls,
    sockets,
    storage,
    enterQuery: {},
    // The answers the tests choose for the platform's sheets.
    paymentResult: { ok: true },
    transferResult: { ok: true },
    subscribeAnswers: {},

    getStorageSync: (key) => (storage.has(key) ? JSON.parse(storage.get(key)) : ''),
    setStorageSync: (key, value) => { storage.set(key, JSON.stringify(value)); },
    removeStorageSync: (key) => { storage.delete(key); },
    login({ success, fail }) {
      if (options.loginFails) return setTimeout(() => fail({ errMsg: 'login:fail' }));
      const code = (options.codePrefix || 'code') + '-' + ++codes;
      setTimeout(() => success({ code, errMsg: 'login:ok' }));
    },
    getEnterOptionsSync: () => ({ path: 'pages/join/index', scene: 1047, query: wx.enterQuery }),
    request(req) {
      calls.requests.push(req);
      if (options.handler) {
        Promise.resolve()
          .then(() => options.handler(req))
          .then((res) => req.success(Object.assign({ statusCode: 200, header: {} }, res)), (err) => req.fail({ errMsg: 'request:fail ' + err.message }));
        return;
      }
      fetch(req.url, { method: req.method || 'GET', headers: req.header, body: req.method === 'POST' ? JSON.stringify(req.data) : undefined })
        .then(async (r) => {
          const text = await r.text();
          let data;
          try { data = JSON.parse(text); } catch (e) { data = text; }
          req.success({ statusCode: r.status, data, header: Object.fromEntries(r.headers) });
        }, (err) => req.fail({ errMsg: 'request:fail ' + err.message }));
    },
    connectSocket({ url, protocols, header }) {
      const open = sockets.filter((s) => s.readyState === WebSocket.OPEN || s.readyState === WebSocket.CONNECTING).length;
      if (open >= 5) throw new Error('more than 5 sockets open at once');
      const sock = new WebSocket(url, protocols, { headers: header });
      sockets.push(sock);
      return {
        onOpen: (cb) => sock.on('open', () => cb({ header: { 'Sec-WebSocket-Protocol': sock.protocol } })),
        onMessage: (cb) => sock.on('message', (data, isBinary) => cb({ data: isBinary ? new Uint8Array(data).buffer : data.toString() })),
        onClose: (cb) => sock.on('close', (code, reason) => cb({ code, reason: reason.toString() })),
        onError: (cb) => sock.on('error', (err) => cb({ errMsg: 'connectSocket:fail ' + err.message })),
        send: ({ data, success, fail }) => sock.send(data, (err) => (err ? fail && fail({ errMsg: err.message }) : success && success({}))),
        close: ({ code, reason, success, fail }) => {
          try {
            if (sock.readyState === WebSocket.CONNECTING) sock.terminate();
            else sock.close(code, reason);
            if (success) success({});
          } catch (err) {
            if (fail) fail({ errMsg: err.message });
          }
        },
      };
    },
    requestPayment(params) {
      calls.requestPayment.push(params);
      setTimeout(() => (wx.paymentResult.ok ? params.success({ errMsg: 'requestPayment:ok' }) : params.fail({ errMsg: 'requestPayment:fail cancel' })));
    },
    requestMerchantTransfer(params) {
      calls.requestMerchantTransfer.push(params);
      setTimeout(() => (wx.transferResult.ok ? params.success({ errMsg: 'requestMerchantTransfer:ok' }) : params.fail({ errMsg: 'requestMerchantTransfer:fail cancel' })));
    },
    requestSubscribeMessage(params) {
      calls.requestSubscribeMessage.push(params);
      const res = { errMsg: 'requestSubscribeMessage:ok' };
      for (const id of params.tmplIds) res[id] = wx.subscribeAnswers[id] || 'reject';
      setTimeout(() => params.success(res));
    },
    navigateTo(params) { calls.navigateTo.push(params); },
    stopPullDownRefresh() {},
    onAppShow: (fn) => listeners.appShow.push(fn),
    onNetworkStatusChange: (fn) => listeners.network.push(fn),
    // Test controls.
    fireAppShow: () => listeners.appShow.forEach((fn) => fn({ path: 'pages/queue/index', query: {} })),
    fireNetworkChange: (isConnected, networkType = 'wifi') => listeners.network.forEach((fn) => fn({ isConnected, networkType })),
  };
  return wx;
}

// A page object for logic tests without rendering.
function fakePage(data = {}) {
  return {
    data: Object.assign({}, data),
    updates: [],
    setData(patch) {
      this.updates.push(patch);
      Object.assign(this.data, JSON.parse(JSON.stringify(patch)));
    },
  };
}

async function waitFor(check, { timeout = 10000, interval = 25, message = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error('timed out waiting for ' + message);
    await new Promise((r) => setTimeout(r, interval));
  }
}

// Fresh copies of the mini-program's modules (their module state — the token, the live
// client — starts empty for each test).
function freshRequire(paths) {
  const root = require('path').resolve(__dirname, '../..');
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(root) && !key.includes('node_modules') && !key.includes('/test/')) delete require.cache[key];
  }
  return paths.map((p) => require(require('path').join(root, p)));
}

module.exports = { createFakeWx, fakePage, waitFor, freshRequire };
