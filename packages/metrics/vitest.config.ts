import { definePackageTestConfig } from "@eventferry-internal/vitest-config";

// The preset's SSR conditions include `module`, under which @opentelemetry/api resolves to its
// bundler-only ESM build (extensionless imports) that Node cannot load when the OpenTelemetry SDK
// (CommonJS) requires it. This package's tests resolve external modules without `module`.
const config = definePackageTestConfig();
if (config.ssr?.resolve) {
  config.ssr.resolve.conditions = config.ssr.resolve.conditions?.filter((c) => c !== "module");
}

export default config;
