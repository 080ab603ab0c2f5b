'use strict';
// The one graphql-ws client of the mini-program (WeChat allows at most 5 sockets), over
// WxWebSocket. It connects when the first subscription starts, resubscribes everything
// after a drop (retrying for as long as the shopper keeps a live page open), and sends a
// fresh token on every connection.
const config = require('../config');
const auth = require('./auth');
const { createClient } = require('./vendor/graphql-ws');
const { WxWebSocket } = require('./wx-websocket');
const { fromGraphQLError, ApiError } = require('./errors');

let client = null;
const restartListeners = [];

function makeClient() {
  return createClient({
    url: config.wsUrl,
    webSocketImpl: WxWebSocket,
    lazy: true,
    keepAlive: 20000,
    retryAttempts: 1000,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((r) => setTimeout(r, Math.min(10000, 300 * Math.pow(2, retries)) + Math.random() * 300)),
    connectionParams: async () => ({ token: await auth.ensureToken() }),
    on: {
      closed(event) {
        // 4403: the token was refused; the next connection logs in again.
        if (event && event.code === 4403) auth.invalidate();
      },
    },
  });
}

function getClient() {
  if (!client) client = makeClient();
  return client;
}

// subscribe(query, variables, { next(data), error(ApiError), complete() }) → unsubscribe
function subscribe(query, variables, sink) {
  return getClient().subscribe({ query, variables }, {
    next(result) {
      if (result.errors && result.errors.length) {
        if (sink.error) sink.error(fromGraphQLError(result.errors[0]));
        return;
      }
      sink.next(result.data);
    },
    error(err) {
      if (!sink.error) return;
      if (Array.isArray(err) && err.length) sink.error(fromGraphQLError(err[0]));
      else sink.error(new ApiError('NETWORK', err && (err.reason || err.message)));
    },
    complete() { if (sink.complete) sink.complete(); },
  });
}

// Drops the current socket at once (a socket of an app that was in the background, or of
// a network that changed, may be dead without knowing it); graphql-ws reconnects and
// resubscribes every live subscription. Listeners re-read the state they show.
function restart() {
  if (client) client.terminate();
  for (const fn of restartListeners.slice()) fn();
}

function onRestart(fn) {
  restartListeners.push(fn);
  return () => {
    const i = restartListeners.indexOf(fn);
    if (i >= 0) restartListeners.splice(i, 1);
  };
}

// Installed once by app.js.
function watchAppLifecycle() {
  wx.onAppShow(() => restart());
  wx.onNetworkStatusChange((res) => { if (res.isConnected) restart(); });
}

function dispose() {
  // A client disposed while it connects rejects once that connection fails (the server or
  // the network went away meanwhile): nothing is left to tell, and an unhandled rejection
  // would be reported as an error of the app.
  if (client) Promise.resolve(client.dispose()).catch(() => {});
  client = null;
}

module.exports = { subscribe, restart, onRestart, watchAppLifecycle, dispose, getClient };
