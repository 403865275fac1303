import type { Eventferry, Logger } from "eventferry";
import type { DemoConfig } from "../config.js";
import type { ShopRepository } from "../repository/shop-repository.js";

/** What the demo's handlers are built with. */
export interface HandlerDeps {
  readonly ferry: Eventferry;
  readonly repo: ShopRepository;
  readonly config: DemoConfig;
  readonly logger: Logger;
  /** Returns a number in [0, 1): the webhook provider's dice. @default Math.random */
  readonly random: () => number;
}
