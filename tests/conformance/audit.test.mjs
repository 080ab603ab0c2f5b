// The graphql-http server audits (the GraphQL-over-HTTP spec's own test suite) against the
// real binary, in development and in production mode: every MUST and SHOULD passes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serverAudits } from "graphql-http";
import { startServer } from "./server.mjs";

const PRODUCTION = {
  FENHONG_ENV: "production",
  JWT_SECRET: "a-production-secret-of-more-than-32-characters",
  WECHAT_APPID: "wx-conformance",
  WECHAT_SECRET: "conformance-secret",
  WECHAT_API_BASE: "http://127.0.0.1:9",
};

for (const [mode, env] of [["development", {}], ["production", PRODUCTION]]) {
  test(`graphql-http audits pass in ${mode} mode`, async () => {
    const server = await startServer(env);
    try {
      const audits = serverAudits({ url: server.url, fetchFn: fetch });
      const failures = [];
      let counted = 0;
      for (const audit of audits) {
        const result = await audit.fn();
        counted += 1;
        const required = /^(MUST|SHOULD)\b/.test(audit.name);
        if (required && result.status !== "ok") {
          let body = "";
          try { body = await result.response?.text(); } catch { /* already read */ }
          failures.push(`${audit.id} ${audit.name}: ${result.status} ${result.reason} ${body ?? ""}`.trim());
        }
      }
      assert.ok(counted > 50, `ran ${counted} audits`);
      assert.deepEqual(failures, [], failures.join("\n"));
    } finally {
      server.stop();
    }
  });
}
