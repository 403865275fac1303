import type { MetricsRecorder } from "../recorder.js";

/**
 * A recorder that writes to `a` and then `b` (series are resolved once per recorder). What `b`
 * throws goes to `onError`, so `a` (the plugin's own registry) always gets every value.
 */
export function teeRecorder(
  a: MetricsRecorder,
  b: MetricsRecorder,
  onError: (error: unknown) => void,
): MetricsRecorder {
  const guard = <T>(make: () => T): T => {
    try {
      return make();
    } catch (error) {
      onError(error);
      throw error;
    }
  };
  return {
    counter(d) {
      const x = a.counter(d);
      const y = guard(() => b.counter(d));
      return {
        series(values) {
          const sx = x.series(values);
          const sy = guard(() => y.series(values));
          return {
            inc(value?: number) {
              sx.inc(value);
              try {
                sy.inc(value);
              } catch (error) {
                onError(error);
              }
            },
          };
        },
      };
    },
    histogram(d) {
      const x = a.histogram(d);
      const y = guard(() => b.histogram(d));
      return {
        series(values) {
          const sx = x.series(values);
          const sy = guard(() => y.series(values));
          return {
            observe(value: number) {
              sx.observe(value);
              try {
                sy.observe(value);
              } catch (error) {
                onError(error);
              }
            },
          };
        },
      };
    },
    gauge(d) {
      const x = a.gauge(d);
      const y = guard(() => b.gauge(d));
      return {
        series(values) {
          const sx = x.series(values);
          const sy = guard(() => y.series(values));
          return {
            set(value: number) {
              sx.set(value);
              try {
                sy.set(value);
              } catch (error) {
                onError(error);
              }
            },
          };
        },
      };
    },
  };
}
