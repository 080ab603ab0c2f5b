// The official graphql-ws client subscribes to a shopper's live queue position end to end,
// and sees a bad token refused with the protocol's 4403.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { startServer, queueShop } from "./server.mjs";

const POSITION = "subscription($id: ID!) { queuePosition(entryId: $id) { status position received } }";
let server;

before(async () => { server = await startServer(); });
after(() => server?.stop());

function client(token) {
  return createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { token },
    retryAttempts: 0,
    lazy: true,
  });
}

test("the graphql-ws client follows a queue position until the entry completes", async () => {
  // RULES.md "A sequence from an empty queue" (N = 3, q = 0.40, r1 = 0.20), followed by B.
  const shop = await queueShop(server, 3);
  const [a, b, c, d, e] = await Promise.all(["a", "b", "c", "d", "e"].map((name) => shop.shopper(name)));
  await shop.order(a.id, "1000.00");
  const bEntry = await shop.order(b.id, "1000.00");

  const ws = client(b.token);
  const updates = ws.iterate({ query: POSITION, variables: { id: bEntry } });
  const position = async () => {
    const { value, done } = await updates.next();
    assert.equal(done, false);
    assert.equal(value.errors, undefined, JSON.stringify(value));
    return value.data.queuePosition;
  };
  // A completed with order b, so B is first and active.
  assert.deepEqual(await position(), { status: "ACTIVE", position: 1, received: "0.00" });
  await shop.order(c.id, "1000.00");
  assert.deepEqual(await position(), { status: "ACTIVE", position: 1, received: "800.00" });
  await shop.order(d.id, "600.00");
  assert.deepEqual(await position(), { status: "ACTIVE", position: 1, received: "980.00" });
  await shop.order(e.id, "1000.00");
  assert.deepEqual(await position(), { status: "COMPLETED", position: null, received: "1000.00" });
  // The server completes the subscription once the entry is done.
  assert.equal((await updates.next()).done, true);
  ws.dispose();
});

test("a bad token is refused with close code 4403", async () => {
  const ws = client("not-a-token");
  const updates = ws.iterate({ query: POSITION, variables: { id: "1" } });
  await assert.rejects(updates.next(), (event) => {
    assert.equal(event.code, 4403);
    return true;
  });
  ws.dispose();
});
