import type { UserConfig } from "vitest/config";
export declare function definePackageTestConfig(options?: { integrationTimeout?: number }): UserConfig;
