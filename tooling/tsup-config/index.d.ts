import type { Options } from "tsup";
export declare function definePackageConfig(options?: {
  entry?: Record<string, string> | string[];
}): Options | Options[];
