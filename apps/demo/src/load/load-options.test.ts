import { describe, expect, it } from "vitest";
import { loadToolEnv } from "../config.js";
import { LoadUsageError, parseLoadArgs } from "./load-options.js";

const URL = "http://127.0.0.1:3000";

describe("parseLoadArgs", () => {
  it("defaults to a steady 100 requests/s for 30 s on the default URL", () => {
    expect(parseLoadArgs([], URL)).toEqual({
      url: URL,
      mode: { kind: "steady", rate: 100, durationMs: 30_000 },
      concurrency: 64,
      drainMs: 30_000,
      intervalMs: 1_000,
    });
  });

  it("reads a steady rate, a burst, the URL, concurrency and drain time", () => {
    expect(parseLoadArgs(["--rate", "200", "--duration", "1.5m", "--url", "http://h:1/"], URL)).toMatchObject(
      {
        url: "http://h:1",
        mode: { kind: "steady", rate: 200, durationMs: 90_000 },
      },
    );
    expect(
      parseLoadArgs(["--", "--burst", "5000", "--concurrency", "8", "--drain", "500ms"], URL),
    ).toMatchObject({
      mode: { kind: "burst", count: 5000 },
      concurrency: 8,
      drainMs: 500,
    });
    expect(parseLoadArgs(["-h"], URL)).toBe("help");
  });

  it("says which argument is wrong", () => {
    const bad: [string[], RegExp][] = [
      [["--rate", "fast"], /--rate must be an integer from 1 to 100000 \(got "fast"\)/],
      [["--duration", "10 minutes"], /--duration must be a duration like 500ms, 30s or 2m/],
      [["--burst", "10", "--rate", "5"], /either --burst N or --rate N/],
      [["--url", "ftp://x"], /--url must be an http:\/\/ URL/],
      [["--nope"], /Unknown option '--nope'/],
      [["--burst", "0"], /--burst must be an integer from 1/],
    ];
    for (const [argv, message] of bad) {
      expect(() => parseLoadArgs(argv, URL)).toThrow(LoadUsageError);
      expect(() => parseLoadArgs(argv, URL)).toThrow(message);
    }
  });

  it("takes the default URL from EVENTFERRY_DEMO_URL", () => {
    expect(loadToolEnv({}).url).toBe(URL);
    expect(loadToolEnv({ EVENTFERRY_DEMO_URL: " http://demo:8080 " }).url).toBe("http://demo:8080");
  });
});
