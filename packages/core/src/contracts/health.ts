/** Health of one component or of the whole ferry. */
export type HealthStatus = "healthy" | "degraded" | "unhealthy";

export interface HealthReport {
  readonly status: HealthStatus;
  /** Component name, e.g. `store-postgres`, `transport-redis`. */
  readonly component: string;
  /** Why it is not healthy (empty when healthy). Never contains secrets. */
  readonly reasons: readonly string[];
  /** Round trip of the check, when one was made. */
  readonly latencyMs?: number | undefined;
  /** Component-specific facts: lag, depth, server version, durability settings… */
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

const rank: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

/** The worst of several statuses. */
export function worstStatus(statuses: Iterable<HealthStatus>): HealthStatus {
  let worst: HealthStatus = "healthy";
  for (const s of statuses) if (rank[s] > rank[worst]) worst = s;
  return worst;
}
