'use strict';
// A browser-shaped WebSocket over the mini-program's wx.connectSocket / SocketTask, so
// clients written for `WebSocket` (the graphql-ws client) run unchanged:
//   createClient({ url, webSocketImpl: WxWebSocket, connectionParams: { token } })
// A mini-program may hold at most 5 sockets at once: share one client (lib/live.js).

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

// WeChat does not always follow an error with a close; a socket that errored and has not
// reported its close within this time is reported closed (1006, like a browser).
const CLOSE_AFTER_ERROR_MS = 1000;

function getWx() {
  if (typeof wx === 'undefined') throw new Error('WxWebSocket: wx is not available');
  return wx; // eslint-disable-line no-undef
}

class WxWebSocket {
  constructor(url, protocols) {
    this.url = String(url);
    this.readyState = CONNECTING;
    this.protocol = '';
    this.extensions = '';
    this.binaryType = 'arraybuffer';
    this.bufferedAmount = 0;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    this._listeners = { open: [], message: [], close: [], error: [] };
    this._closeTimer = null;
    const list = protocols == null ? [] : Array.isArray(protocols) ? protocols.slice() : [String(protocols)];
    this._protocols = list;

    const options = { url: this.url, protocols: list.length ? list : undefined };
    // Without complete/success/fail wx.connectSocket returns the SocketTask synchronously.
    options.fail = (err) => this._onError(err);
    const task = getWx().connectSocket(options);
    this._task = task;
    if (!task) {
      // A failed connectSocket (e.g. more than 5 sockets) gives no task: report as a browser would.
      this._scheduleFailure({ errMsg: 'connectSocket returned no SocketTask' });
      return;
    }
    task.onOpen((res) => {
      if (this.readyState !== CONNECTING) return;
      this.readyState = OPEN;
      const header = (res && res.header) || {};
      this.protocol = header['Sec-WebSocket-Protocol'] || header['sec-websocket-protocol'] || (list.length === 1 ? list[0] : '');
      this._dispatch('open', { type: 'open', target: this });
    });
    task.onMessage((res) => {
      if (this.readyState !== OPEN) return;
      this._dispatch('message', { type: 'message', data: res && res.data, target: this });
    });
    task.onError((err) => this._onError(err));
    task.onClose((res) => {
      const code = res && typeof res.code === 'number' ? res.code : 1006;
      const reason = (res && res.reason) || '';
      this._finish(code, reason, code === 1000 || (this._closeRequested && code !== 1006));
    });
  }

  send(data) {
    if (this.readyState === CONNECTING) {
      throw new Error("Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.");
    }
    if (this.readyState !== OPEN) return; // the browser silently drops data after close
    // A send that fails once the socket is closing is data a browser would drop silently.
    this._task.send({ data, fail: (err) => { if (this.readyState === OPEN) this._onError(err); } });
  }

  close(code, reason) {
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new Error(`Failed to execute 'close' on 'WebSocket': The code must be either 1000, or between 3000 and 4999. ${code} is neither.`);
    }
    this.readyState = CLOSING;
    this._closeRequested = { code: code === undefined ? 1000 : code, reason: reason || '' };
    const options = { code: this._closeRequested.code, reason: this._closeRequested.reason };
    options.fail = () => this._finish(this._closeRequested.code, this._closeRequested.reason, false);
    if (this._task) this._task.close(options);
    else this._finish(this._closeRequested.code, this._closeRequested.reason, false);
  }

  addEventListener(type, listener) {
    const list = this._listeners[type];
    if (list && typeof listener === 'function' && list.indexOf(listener) < 0) list.push(listener);
  }

  removeEventListener(type, listener) {
    const list = this._listeners[type];
    if (!list) return;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  }

  _onError(err) {
    if (this.readyState === CLOSED) return;
    this._dispatch('error', { type: 'error', message: (err && err.errMsg) || 'socket error', error: err, target: this });
    this._scheduleFailure();
  }

  _scheduleFailure(err) {
    if (err) this._dispatch('error', { type: 'error', message: err.errMsg, error: err, target: this });
    if (this._closeTimer) return;
    this._closeTimer = setTimeout(() => this._finish(1006, '', false), CLOSE_AFTER_ERROR_MS);
  }

  _finish(code, reason, wasClean) {
    if (this._closeTimer) {
      clearTimeout(this._closeTimer);
      this._closeTimer = null;
    }
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this._dispatch('close', { type: 'close', code, reason, wasClean: !!wasClean, target: this });
  }

  _dispatch(type, event) {
    const handler = this['on' + type];
    if (typeof handler === 'function') {
      try { handler.call(this, event); } catch (e) { setTimeout(() => { throw e; }); }
    }
    for (const listener of this._listeners[type].slice()) {
      try { listener.call(this, event); } catch (e) { setTimeout(() => { throw e; }); }
    }
  }
}

for (const [name, value] of Object.entries({ CONNECTING, OPEN, CLOSING, CLOSED })) {
  Object.defineProperty(WxWebSocket, name, { value, enumerable: true });
  Object.defineProperty(WxWebSocket.prototype, name, { value, enumerable: true });
}

module.exports = { WxWebSocket, CONNECTING, OPEN, CLOSING, CLOSED };
