import type { HistogramBucket } from "./metrics-registry.js";

/**
 * Estimates the `q`-quantile (0…1) from cumulative buckets the way PromQL's `histogram_quantile`
 * does: linear interpolation inside the bucket the rank falls in (the first bucket starts at 0);
 * a rank in the `+Inf` bucket gives the largest finite bound. `undefined` without observations.
 */
export function histogramQuantile(q: number, buckets: readonly HistogramBucket[]): number | undefined {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0 || buckets.length === 0) return undefined;
  const rank = Math.min(Math.max(q, 0), 1) * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i] as HistogramBucket;
    if (b.count >= rank && b.count > lowerCount) {
      if (b.le === Number.POSITIVE_INFINITY)
        return i === 0 ? undefined : (buckets[i - 1] as HistogramBucket).le;
      const start = i === 0 ? Math.min(0, b.le) : lowerBound;
      return start + ((b.le - start) * (rank - lowerCount)) / (b.count - lowerCount);
    }
    lowerBound = b.le;
    lowerCount = b.count;
  }
  return lowerBound;
}

/** Adds cumulative bucket lists of the same bounds (e.g. several series of one histogram). */
export function mergeBuckets(lists: readonly (readonly HistogramBucket[])[]): HistogramBucket[] {
  const first = lists[0];
  if (!first) return [];
  return first.map((b, i) => ({
    le: b.le,
    count: lists.reduce((sum, list) => sum + ((list[i] as HistogramBucket | undefined)?.count ?? 0), 0),
  }));
}
