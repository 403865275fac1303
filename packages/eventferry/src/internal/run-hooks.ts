import type { Logger, Plugin, PluginHooks } from "@eventferry/core";

/**
 * Calls hook `name` of every plugin, in array order, one after the other. A hook that throws (or
 * rejects) is logged and never breaks the caller.
 */
export async function runHooks<K extends keyof PluginHooks>(
  plugins: readonly Plugin[],
  logger: Logger,
  name: K,
  ...args: Parameters<NonNullable<PluginHooks[K]>>
): Promise<void> {
  for (const plugin of plugins) {
    const hook = plugin.hooks?.[name] as ((...a: unknown[]) => unknown) | undefined;
    if (typeof hook !== "function") continue;
    try {
      await hook.apply(plugin.hooks, args);
    } catch (error) {
      logger.error(`plugin "${plugin.name}" hook ${name} threw; ignored`, { plugin: plugin.name, error });
    }
  }
}
