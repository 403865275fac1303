import { definePackageTestConfig } from "@eventferry-internal/vitest-config";
export default definePackageTestConfig();
