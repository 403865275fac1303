import { type HealthReport, type HealthStatus, redact, worstStatus } from "@eventferry/core";

/** A named health check. */
export interface HealthCheck {
  readonly name: string;
  check(): Promise<HealthReport>;
}

/**
 * Runs every check at once (each bounded by `timeoutMs`; a check that throws or times out counts
 * as unhealthy) and joins them into one report of component `component` whose status is the worst
 * of them. Reasons are prefixed with the component that gave them; the reports are in
 * `details.components`.
 */
export async function aggregateHealth(
  component: string,
  checks: readonly HealthCheck[],
  timeoutMs: number,
  extra: { status?: HealthStatus; reasons?: readonly string[]; details?: Record<string, unknown> } = {},
): Promise<HealthReport> {
  const started = performance.now();
  const reports = await Promise.all(checks.map((c) => runCheck(c, timeoutMs)));
  const reasons = [
    ...(extra.reasons ?? []),
    ...reports.flatMap((r) => r.reasons.map((reason) => `${r.component}: ${reason}`)),
  ];
  return {
    status: worstStatus([extra.status ?? "healthy", ...reports.map((r) => r.status)]),
    component,
    reasons,
    latencyMs: Math.round((performance.now() - started) * 100) / 100,
    details: { ...extra.details, components: reports },
  };
}

async function runCheck(check: HealthCheck, timeoutMs: number): Promise<HealthReport> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<HealthReport>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          status: "unhealthy",
          component: check.name,
          reasons: [`health check did not answer within ${timeoutMs} ms`],
        }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([
      Promise.resolve()
        .then(() => check.check())
        .then((report) => ({ ...report, component: report.component || check.name })),
      timedOut,
    ]);
  } catch (error) {
    return {
      status: "unhealthy",
      component: check.name,
      reasons: [`health check failed: ${redact(error instanceof Error ? error.message : String(error))}`],
    };
  } finally {
    clearTimeout(timer);
  }
}
