'use strict';
// A fake GraphQL server for wx.request: answers by operation, records every call.
function fakeServer(resolvers) {
  const seen = [];
  const handler = (req) => {
    const { query, variables } = req.data;
    const op = /(?:query|mutation|subscription)\s+(\w+)/.exec(query);
    const name = op ? op[1] : null;
    const auth = req.header.authorization || '';
    seen.push({ name, variables, auth, url: req.url });
    const fn = resolvers[name];
    if (!fn) return { data: { errors: [{ message: 'unknown operation ' + name, extensions: { code: 'INVALID_INPUT' } }] } };
    const out = fn(variables, { auth, seen });
    if (out && out.errors) return { data: out };
    return { data: { data: out } };
  };
  return { handler, seen, calls: (name) => seen.filter((s) => s.name === name) };
}

function gqlError(code, message = code) {
  return { errors: [{ message, extensions: { code } }], data: null };
}

module.exports = { fakeServer, gqlError };
