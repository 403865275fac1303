import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, anOrder, startTestApp, type TestApp } from "../../test/harness.js";

describe("HTTP API", () => {
  const running: TestApp[] = [];
  const start = async (...args: Parameters<typeof startTestApp>) => {
    const t = await startTestApp(...args);
    running.push(t);
    return t;
  };
  afterEach(async () => {
    await Promise.all(running.splice(0).map((t) => t.app.shutdown()));
  });

  it("answers bad requests with 400 and a message saying what is wrong", async () => {
    const t = await start();
    const invalid = await t.call("POST", "/orders", {
      json: { customerId: "", email: "not-an-email", items: [{ sku: "a", quantity: 0, unitPrice: 1 }] },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatch(/^invalid body: /);
    expect(invalid.body.issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^customerId: /),
        expect.stringMatching(/^email: /),
        expect.stringMatching(/^items\.0\.quantity: /),
      ]),
    );
    expect(invalid.body.requestId).toBe(invalid.headers.get("x-request-id"));

    const unknownField = await t.call("POST", "/orders", { json: { ...anOrder("c-1"), discount: 100 } });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error).toContain("discount");

    const notJson = await t.call("POST", "/orders", { raw: "{ nope" });
    expect(notJson).toMatchObject({ status: 400, body: { error: "request body is not valid JSON" } });

    const empty = await t.call("POST", "/users");
    expect(empty.status).toBe(400);

    const badQuery = await t.call("GET", "/notifications?channel=pigeon");
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error).toContain("channel");
  });

  it("refuses bodies over the limit with 413", async () => {
    const t = await start({ bodyLimitBytes: 1024 });
    const big = await t.call("POST", "/orders", {
      json: anOrder("c-1", {
        items: Array.from({ length: 50 }, () => ({ sku: "x".repeat(30), quantity: 1, unitPrice: 1 })),
      }),
    });
    expect(big.status).toBe(413);
    expect(big.body.error).toBe("request body too large (limit 1024 bytes)");
  });

  it("answers 404 for unknown paths and 405 with Allow for known paths", async () => {
    const t = await start();
    expect((await t.call("GET", "/nope")).status).toBe(404);
    const wrongMethod = await t.call("PUT", "/orders");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    expect((await t.call("GET", "/orders/missing")).status).toBe(404);
  });

  it("hides internal errors: 500 with a request id only", async () => {
    const t = await start();
    t.app.repo.reader.getOrder = async () => {
      throw new Error("SQLITE_CORRUPT: secret table layout at /var/db");
    };
    const res = await t.call("GET", "/orders/o-1");
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: "internal error", requestId: res.headers.get("x-request-id") });
  });

  it("serves the tour at /", async () => {
    const t = await start();
    const res = await t.call("GET", "/");
    expect(res.status).toBe(200);
    expect(res.body).toContain(`curl -s ${t.url}/notifications`);
    expect(res.body).toContain("admin API (dead letters) is off");
  });

  describe("admin API", () => {
    it("does not exist without a token (404)", async () => {
      const t = await start({ adminToken: undefined });
      const res = await t.call("GET", "/admin/dead-letters", {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(res.status).toBe(404);
    });

    it("needs the bearer token when configured (401, then 200)", async () => {
      const t = await start({ adminToken: ADMIN_TOKEN });
      const none = await t.call("GET", "/admin/dead-letters");
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const wrong = await t.call("GET", "/admin/dead-letters", { headers: { authorization: "Bearer nope" } });
      expect(wrong.status).toBe(401);
      const basic = await t.call("GET", "/admin/dead-letters", {
        headers: { authorization: `Basic ${ADMIN_TOKEN}` },
      });
      expect(basic.status).toBe(401);
      const unknownPath = await t.call("GET", "/admin/anything");
      expect(unknownPath.status).toBe(401);
      const ok = await t.admin("GET", "/admin/dead-letters");
      expect(ok).toMatchObject({ status: 200, body: { deadLetters: [], next: null } });
    });
  });
});

describe("listening", () => {
  it("explains a port in use instead of crashing with a stack", async () => {
    const first = await startTestApp();
    try {
      const port = Number(new URL(first.url).port);
      await expect(startTestApp({ port })).rejects.toThrow(`cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
    } finally {
      await first.app.shutdown();
    }
  });
});
