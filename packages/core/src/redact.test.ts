import { describe, expect, it } from "vitest";
import { REDACTED, redact } from "./redact.js";

describe("redact", () => {
  it.each([
    // URLs with credentials
    ["postgres://app:s3cret@db:5432/shop", "postgres://app:***@db:5432/shop"],
    ["connect postgres://app:s3cret@db/shop failed", "connect postgres://app:***@db/shop failed"],
    ["redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"],
    ["rediss://default:p%40ss@cache:6380", "rediss://default:***@cache:6380"],
    ["nats://user:pa@ss@host:4222", "nats://user:***@host:4222"],
    ["amqp+ssl://u:p@h", "amqp+ssl://u:***@h"],
    ['{"url":"postgres://a:b@h/d","x":"y@z"}', '{"url":"postgres://a:***@h/d","x":"y@z"}'],
    ["two: redis://:a@h1 and postgres://u:b@h2", "two: redis://:***@h1 and postgres://u:***@h2"],
    // query and conninfo parameters
    ["postgres://h/db?sslmode=require&password=abc", "postgres://h/db?sslmode=require&password=***"],
    ["https://api/x?token=abc123&page=2", "https://api/x?token=***&page=2"],
    ["https://api/x?access_token=abc&client_secret=def", "https://api/x?access_token=***&client_secret=***"],
    ["https://api/x?api_key=k1&apikey=k2&api-key=k3", "https://api/x?api_key=***&apikey=***&api-key=***"],
    ["host=db user=app password=s3cret dbname=shop", "host=db user=app password=*** dbname=shop"],
    ["host=db password='with space' port=5432", "host=db password=*** port=5432"],
    ["secret=abc; other=1", "secret=***; other=1"],
    ["sslpassword=abc", "sslpassword=***"],
    ["PASSWORD=abc", "PASSWORD=***"],
    // JSON and inspected objects
    ['{"user":"app","password":"s3cret"}', '{"user":"app","password":"***"}'],
    ['{"password": "with \\"quotes\\" inside", "n": 1}', '{"password": "***", "n": 1}'],
    ['{"token":12345,"n":1}', '{"token":"***","n":1}'],
    ["{ user: 'app', password: 's3cret' }", "{ user: 'app', password: '***' }"],
    ['{"clientSecret":"x"}', '{"clientSecret":"***"}'],
    // bearer credentials
    ["Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def", "Authorization: Bearer ***"],
    ["authorization=Basic dXNlcjpwYXNzd29yZA==", "authorization=***"],
    ["Authorization: Basic dXNlcjpwYXNzd29yZA==\r\nHost: x", "Authorization: Basic ***\r\nHost: x"],
    ["authorization: s3cr3t-token", "authorization: ***"],
    ["retry with Bearer abcdefghijkl", "retry with Bearer ***"],
    // left alone
    ["postgres://db:5432/shop", "postgres://db:5432/shop"],
    ["nats://localhost:4222", "nats://localhost:4222"],
    ["user@example.com wrote", "user@example.com wrote"],
    ["the password must be at least 8 characters", "the password must be at least 8 characters"],
    ["password: must be set", "password: must be set"],
    ["Basic usage of tokens", "Basic usage of tokens"],
    ["order.created key=customer-7", "order.created key=customer-7"],
    ["", ""],
  ])("%j -> %j", (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it("never leaves the secret anywhere in the output", () => {
    const secret = "Zq9-very-secret";
    const inputs = [
      `postgres://u:${secret}@h/db`,
      `redis://:${secret}@h`,
      `x?password=${secret}`,
      `"secret": "${secret}"`,
      `token=${secret}`,
      `Bearer ${secret}`,
      `Authorization: Basic ${secret}`,
      `authorization=Token ${secret}`,
      `{"Authorization":"Bearer ${secret}"}`,
    ];
    for (const input of inputs) expect(redact(input)).not.toContain(secret);
  });

  it("never throws, whatever it is given", () => {
    expect(redact(undefined as never)).toBe("undefined");
    expect(redact(42 as never)).toBe("42");
    const hostile = {
      toString() {
        throw new Error("boom");
      },
    };
    expect(redact(hostile as never)).toBe(REDACTED);
  });

  it("is fast on long hostile input", () => {
    const inputs = [
      "a://".repeat(20_000),
      `${"password".repeat(20_000)}=x`,
      `${"a:".repeat(50_000)}@`,
      `"${"\\\\".repeat(50_000)}`,
      `x://${"u:".repeat(30_000)}`,
    ];
    const start = performance.now();
    for (const input of inputs) redact(input);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
