import { describeDemoScenarios } from "../test/scenarios.js";

describeDemoScenarios("the memory store and transport", () => ({ store: "memory:", transport: "memory:" }));
