'use strict';
// A minimal graphql-transport-ws server (the `ws` package) the tests drive by hand.
const { WebSocketServer } = require('ws');

function fakeWsServer() {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has('graphql-transport-ws') ? 'graphql-transport-ws' : false) });
    const state = { subscribes: [], completes: [], inits: [], sockets: [] };
    wss.on('connection', (sock) => {
      state.sockets.push(sock);
      sock.on('message', (raw) => {
        const msg = JSON.parse(raw.toString());
        if (msg.type === 'connection_init') { state.inits.push(msg.payload); sock.send(JSON.stringify({ type: 'connection_ack' })); }
        if (msg.type === 'subscribe') state.subscribes.push({ sock, id: msg.id, variables: msg.payload.variables, query: msg.payload.query });
        if (msg.type === 'complete') state.completes.push(msg.id);
        if (msg.type === 'ping') sock.send(JSON.stringify({ type: 'pong' }));
      });
    });
    wss.on('listening', () => {
      const port = wss.address().port;
      resolve(Object.assign(state, {
        url: `ws://127.0.0.1:${port}/graphql/ws`,
        // Sends `data` on the newest live subscription whose variables match.
        push(match, data) {
          const sub = state.subscribes.filter((s) => s.sock.readyState === 1 && Object.entries(match).every(([k, v]) => s.variables[k] === v)).pop();
          if (!sub) throw new Error('no live subscription for ' + JSON.stringify(match));
          sub.sock.send(JSON.stringify({ type: 'next', id: sub.id, payload: { data } }));
        },
        close: () => new Promise((r) => { for (const s of wss.clients) s.terminate(); wss.close(r); }),
      }));
    });
  });
}

module.exports = { fakeWsServer };
