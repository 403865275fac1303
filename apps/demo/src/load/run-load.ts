import { histogramQuantile } from "@eventferry/metrics";
import type { LoadOptions } from "./load-options.js";
import { bucketDelta, type DemoFigures, demoFigures, parsePrometheusText } from "./prometheus-text.js";
import { requestAt } from "./request-mix.js";

/** Where {@link runLoad} writes, and its clock (tests pass their own). */
export interface LoadIo {
  /** Writes a complete line (no trailing newline). */
  line(text: string): void;
  /** Rewrites the live progress line (a terminal overwrites it; elsewhere it is a line). */
  progress(text: string): void;
  readonly now: () => number;
}

/** What a run did: requests by outcome, the demo's work during the run, and the exit code. */
export interface LoadSummary {
  readonly sent: number;
  readonly accepted: number;
  /** Answers other than 2xx, by status. */
  readonly rejected: Readonly<Record<string, number>>;
  /** Requests that got no answer (connection refused or reset, timeout). */
  readonly unanswered: number;
  readonly elapsedMs: number;
  /** Handler attempts that succeeded during the run. */
  readonly handled: number;
  readonly retried: number;
  readonly deadLettered: number;
  /** 0: completed; 1: the demo did not answer or went away. */
  readonly exitCode: 0 | 1;
}

/** The demo stopped answering. */
class DemoGone extends Error {}

const REQUEST_TIMEOUT_MS = 30_000;
const METRICS_TIMEOUT_MS = 3_000;
/** No answer at all (requests and /metrics) for this long: the demo went away. */
const GONE_AFTER_MS = 3_000;

const fmtMs = (seconds: number | undefined): string => {
  if (seconds === undefined) return "–";
  const ms = seconds * 1000;
  return ms >= 10_000
    ? `${(ms / 1000).toFixed(1)} s`
    : ms >= 100
      ? `${Math.round(ms)} ms`
      : `${ms.toFixed(1)} ms`;
};

const rate = (n: number, ms: number): string => (ms <= 0 ? "0" : String(Math.round((n * 1000) / ms)));

function reason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if (error instanceof Error && error.name === "TimeoutError") return "timeout";
  return error instanceof Error ? (cause?.message ?? error.message) : String(error);
}

/**
 * Drives a running demo: POSTs orders, failed payments and users at a steady rate or in a burst,
 * prints a progress line every `intervalMs` (requests sent/s, handler successes/s, lag p50/p95 in
 * the interval, backlog, retries, dead letters, read from the demo's `/metrics`), waits for the
 * backlog to drain, and prints a summary. Resolves with exit code 1 (and a one-line message) when
 * the demo does not answer at the start or stops answering during the run.
 *
 * @example
 * const summary = await runLoad(options, { line: console.log, progress: console.log, now: Date.now });
 * process.exitCode = summary.exitCode;
 */
export async function runLoad(options: LoadOptions, io: LoadIo): Promise<LoadSummary> {
  const { url } = options;
  const run = Date.now().toString(36);
  const fetchMetrics = async (): Promise<DemoFigures> => {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
    return demoFigures(parsePrometheusText(await res.text()));
  };

  let start: DemoFigures;
  try {
    const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) });
    await health.text();
    start = await fetchMetrics();
  } catch (error) {
    io.line(
      `error: no demo answers at ${url} (${reason(error)}); start it with \`pnpm demo\` (or pass --url)`,
    );
    return {
      sent: 0,
      accepted: 0,
      rejected: {},
      unanswered: 0,
      elapsedMs: 0,
      handled: 0,
      retried: 0,
      deadLettered: 0,
      exitCode: 1,
    };
  }

  const what =
    options.mode.kind === "steady"
      ? `${options.mode.rate} requests/s for ${options.mode.durationMs / 1000} s`
      : `a burst of ${options.mode.count} requests`;
  io.line(
    `driving ${url} with ${what} (orders, failed payments, users; up to ${options.concurrency} in flight)`,
  );

  const t0 = io.now();
  let sent = 0;
  let accepted = 0;
  let unanswered = 0;
  const rejected: Record<string, number> = {};
  let inFlight = 0;
  let lastAnswerAt = t0;
  let lastError = "";
  let firstRejection: string | undefined;
  const total = options.mode.kind === "burst" ? options.mode.count : Number.POSITIVE_INFINITY;
  const sendUntil = options.mode.kind === "steady" ? t0 + options.mode.durationMs : Number.POSITIVE_INFINITY;
  let sendingDone = false;
  let gone: DemoGone | undefined;
  let wake: (() => void) | undefined;
  const nudge = () => {
    wake?.();
    wake = undefined;
  };

  const fire = (i: number) => {
    const request = requestAt(i, run);
    inFlight++;
    sent++;
    fetch(`${url}${request.path}`, {
      method: request.method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
      .then(async (res) => {
        const text = await res.text();
        lastAnswerAt = io.now();
        if (res.ok) accepted++;
        else {
          rejected[res.status] = (rejected[res.status] ?? 0) + 1;
          firstRejection ??= `${res.status} on ${request.path}: ${text.slice(0, 200).replace(/\s+/g, " ")}`;
        }
      })
      .catch((error: unknown) => {
        unanswered++;
        lastError = reason(error);
      })
      .finally(() => {
        inFlight--;
        nudge();
      });
  };

  // The sender: keeps `sent` at rate × elapsed (steady) or as high as the concurrency allows (burst).
  const sender = (async () => {
    while (!gone) {
      const now = io.now();
      if (now >= sendUntil || sent >= total) break;
      const due =
        options.mode.kind === "steady" ? Math.floor(((now - t0) * options.mode.rate) / 1000) + 1 : total;
      while (sent < due && sent < total && inFlight < options.concurrency) fire(sent);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(nudge, options.mode.kind === "steady" ? 5 : 50);
      });
    }
    while (inFlight > 0 && !gone) await new Promise<void>((resolve) => setTimeout(resolve, 10));
    sendingDone = true;
  })();

  // The progress line, once per interval, from /metrics.
  let previous = start;
  let previousAt = t0;
  let previousSent = 0;
  let latest = start;
  let drainStartedAt: number | undefined;
  let tick = 0;
  for (;;) {
    // On the interval's grid (1 s, 2 s, …), so a slow /metrics answer does not shift later lines.
    tick = Math.max(tick + 1, Math.ceil((io.now() - t0) / options.intervalMs));
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, t0 + tick * options.intervalMs - io.now())),
    );
    const now = io.now();
    let figures: DemoFigures | undefined;
    try {
      figures = await fetchMetrics();
      lastAnswerAt = io.now();
    } catch (error) {
      lastError = reason(error);
    }
    if (io.now() - lastAnswerAt > GONE_AFTER_MS) {
      gone = new DemoGone(lastError);
      break;
    }
    if (!figures) continue;
    const windowMs = now - previousAt;
    const lag = bucketDelta(figures.lagBuckets, previous.lagBuckets);
    const backlog =
      (figures.inbox.pending ?? 0) - (figures.inbox.scheduled ?? 0) + (figures.inbox.inFlight ?? 0);
    const handledNow = figures.processed - previous.processed;
    io.progress(
      `[${String(Math.round((now - t0) / 1000)).padStart(3)}s] sent ${rate(sent - previousSent, windowMs)}/s (${sent} total, ${inFlight} in flight) · handled ${rate(handledNow, windowMs)}/s · lag p50 ${fmtMs(histogramQuantile(0.5, lag))} p95 ${fmtMs(histogramQuantile(0.95, lag))} · backlog ${backlog} (+${figures.inbox.scheduled ?? 0} awaiting retry) · retries ${figures.retried - start.retried} · dead letters ${figures.deadLettered - start.deadLettered}`,
    );
    previous = figures;
    previousAt = now;
    previousSent = sent;
    latest = figures;
    if (sendingDone) {
      drainStartedAt ??= now;
      const drained = backlog <= 0 && (figures.inbox.scheduled ?? 0) === 0 && handledNow === 0;
      if (drained) break;
      if (now - drainStartedAt >= options.drainMs) {
        io.line(
          `the backlog did not drain within ${options.drainMs / 1000} s (backlog ${backlog}); stopping`,
        );
        break;
      }
    }
  }
  await sender;
  const elapsedMs = io.now() - t0;
  const summary: LoadSummary = {
    sent,
    accepted,
    rejected,
    unanswered,
    elapsedMs,
    handled: latest.processed - start.processed,
    retried: latest.retried - start.retried,
    deadLettered: latest.deadLettered - start.deadLettered,
    exitCode: gone ? 1 : 0,
  };
  io.line("");
  if (gone) {
    io.line(
      `error: the demo at ${url} stopped answering (${gone.message || "no answer"}) after ${(elapsedMs / 1000).toFixed(1)} s; ${sent} requests sent, ${accepted} accepted, ${unanswered} unanswered`,
    );
    return summary;
  }
  const rejectedText = Object.entries(rejected)
    .map(([status, n]) => `${n} × ${status}`)
    .join(", ");
  const lag = bucketDelta(latest.lagBuckets, start.lagBuckets);
  io.line(
    `done in ${(elapsedMs / 1000).toFixed(1)} s: ${sent} requests sent (${rate(sent, elapsedMs)}/s), ${accepted} accepted, ${rejectedText || "0 rejected"}, ${unanswered} unanswered`,
  );
  if (firstRejection) io.line(`first rejection: ${firstRejection}`);
  io.line(
    `handlers: ${summary.handled} attempts succeeded (${rate(summary.handled, elapsedMs)}/s), ${summary.retried} retried, ${summary.deadLettered} dead-lettered; end-to-end lag p50 ${fmtMs(histogramQuantile(0.5, lag))}, p95 ${fmtMs(histogramQuantile(0.95, lag))}, p99 ${fmtMs(histogramQuantile(0.99, lag))}`,
  );
  return summary;
}
