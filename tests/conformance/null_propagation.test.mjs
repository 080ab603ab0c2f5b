// Field errors as the GraphQL spec handles them, with graphql-js as the judge: the same
// document runs on the server as a shopper (for whom some fields fail) and on graphql-js
// over schema.graphql, fed with what the merchant's owner (for whom nothing fails) got from
// the server and failing the same fields. The `data` of both must be the same, over HTTP
// and in a subscription's payload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { buildSchema, execute, parse, subscribe } from "graphql";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { startServer, queueShop } from "./server.mjs";

const schema = buildSchema(readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8"));
let server, shop, shopper, entry;

before(async () => {
  server = await startServer();
  shop = await queueShop(server);
  shopper = await shop.shopper("alice");
  entry = await shop.order(shopper.id, "100.00");
});
after(() => server?.stop());

/** A resolver that reads what the owner was given, and fails the named fields. */
function resolverFailing(failing) {
  return (source, _args, _context, info) => {
    if (failing.includes(`${info.parentType.name}.${info.fieldName}`)) {
      throw new Error(`${info.fieldName} fails`);
    }
    return source?.[info.path.key];
  };
}

const CASES = [
  {
    name: "a nullable field fails: it is null and present",
    failing: ["Merchant.queueStats"],
    query: "query($m: ID!) { merchant(id: $m) { name queueStats { waiting active } } }",
  },
  {
    name: "a non-null field in a non-null list fails: the nearest nullable ancestor is null",
    failing: ["Store.qrCode"],
    query: "query($m: ID!) { merchant(id: $m) { name stores { id name qrCode { scene } } } other: merchant(id: $m) { name } }",
  },
  {
    name: "fragments, aliases and directives over failing fields",
    failing: ["Merchant.queueStats", "Store.qrCode"],
    query: `query($m: ID!, $yes: Boolean = true) {
      a: merchant(id: $m) { ...Face stats: queueStats @include(if: $yes) { waiting } }
      b: merchant(id: $m) { name ... on Merchant { stores { name code: qrCode @skip(if: $yes) { scene } } } }
      c: merchant(id: $m) { ... on Merchant { stores { ...Code } } }
    }
    fragment Face on Merchant { id name queueStats { active } }
    fragment Code on Store { qrCode { page } }`,
  },
  {
    name: "a non-null root field fails: data is null",
    failing: ["Query.withdrawals"],
    query: "query($m: ID!) { merchant(id: $m) { name } withdrawals(merchantId: $m) { id } }",
  },
  {
    name: "a non-null connection at the root fails: data is null",
    failing: ["Query.orders"],
    query: "query($m: ID!) { orders(merchantId: $m, first: 5) { edges { node { id } } } merchant(id: $m) { name } }",
  },
];

for (const c of CASES) {
  test(c.name, async () => {
    const variables = { m: shop.merchantId };
    const full = await server.post(c.query, variables, shop.owner);
    assert.equal(full.errors, undefined, `the owner sees every field: ${JSON.stringify(full)}`);
    const served = await server.post(c.query, variables, shopper.token);
    const judged = await execute({
      schema,
      document: parse(c.query),
      rootValue: full.data,
      variableValues: variables,
      fieldResolver: resolverFailing(c.failing),
    });
    assert.ok(judged.errors?.length, "graphql-js saw the fields fail");
    assert.ok(served.errors?.length, `the server reported the failures: ${JSON.stringify(served)}`);
    assert.ok("data" in served, JSON.stringify(served));
    assert.deepEqual(served.data, JSON.parse(JSON.stringify(judged.data)));
    for (const error of served.errors) {
      assert.equal(error.extensions.code, "FORBIDDEN", JSON.stringify(error));
    }
  });
}

/** The first payload of a subscription, through the graphql-ws client. */
async function firstPayload(token, query, variables) {
  const ws = createClient({ url: server.wsUrl, webSocketImpl: WebSocket, connectionParams: { token }, retryAttempts: 0, lazy: true });
  try {
    const updates = ws.iterate({ query, variables });
    return (await updates.next()).value;
  } finally {
    ws.dispose();
  }
}

const SUBSCRIPTION_CASES = [
  {
    name: "in a subscription payload, a failing non-null field nulls the payload",
    failing: ["Store.qrCode"],
    query: "subscription($id: ID!) { queuePosition(entryId: $id) { status order { id store { name qrCode { scene } } } } }",
  },
  {
    name: "in a subscription payload, a failing nullable field is null",
    failing: ["Store.qrCode"],
    query: "subscription($id: ID!) { queuePosition(entryId: $id) { status order { id user { memberships { memberCode store { name qrCode { scene } } } } } } }",
  },
];

for (const c of SUBSCRIPTION_CASES) {
  test(c.name, async () => {
    const variables = { id: entry };
    const full = await firstPayload(shop.owner, c.query, variables);
    assert.equal(full.errors, undefined, `the owner sees every field: ${JSON.stringify(full)}`);
    const served = await firstPayload(shopper.token, c.query, variables);
    const events = (async function* () { yield full.data; })();
    const stream = await subscribe({
      schema,
      document: parse(c.query),
      variableValues: variables,
      subscribeFieldResolver: () => events,
      fieldResolver: resolverFailing(c.failing),
    });
    const judged = (await stream.next()).value;
    assert.ok("data" in served, JSON.stringify(served));
    assert.deepEqual(served.data, JSON.parse(JSON.stringify(judged.data)));
    assert.equal(Boolean(served.errors?.length), Boolean(judged.errors?.length), JSON.stringify(served));
  });
}
