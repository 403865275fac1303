import { definePackageConfig } from "@eventferry-internal/tsup-config";
export default definePackageConfig({ entry: { index: "src/index.ts" } });
