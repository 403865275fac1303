// An adapter whose driver is not installed (the "adapter installed, driver missing" case).
import "eventferry-driver-that-is-not-installed";

export function createStoreFromUrl(): never {
  throw new Error("unreachable: the driver import fails first");
}
