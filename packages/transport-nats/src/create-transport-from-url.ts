import { ConfigError, componentMessage, redact } from "@eventferry/core";
import type { TlsOptions } from "@nats-io/transport-node";
import { COMPONENT } from "./internal/names.js";
import { createNatsTransport, type NatsTransport, type NatsTransportOptions } from "./nats-transport.js";

/** Query parameters of a `nats://` URL and the option each sets. */
const QUERY_OPTIONS = [
  "streamPrefix",
  "storage",
  "retention",
  "maxAge",
  "maxBytes",
  "maxMsgs",
  "replicas",
  "duplicateWindow",
  "compression",
  "provision",
  "maxPendingPublishes",
  "publishTimeout",
  "maxAckPending",
  "fetchExpires",
  "connectTimeout",
  "name",
  "token",
  "credsFile",
  "nkeySeedFile",
  "tls",
  "tlsCaFile",
  "tlsCertFile",
  "tlsKeyFile",
] as const;

const INTEGER_OPTIONS = new Set(["maxBytes", "maxMsgs", "replicas", "maxPendingPublishes", "maxAckPending"]);
const BOOLEAN_OPTIONS = new Set(["provision", "tls"]);

/**
 * Parses a `nats://` (or `tls://`) URL into {@link NatsTransportOptions}:
 * `nats://[user:pass@ | token@]host[:port][,host[:port]…][?option=value&…]`.
 *
 * Query options: `streamPrefix`, `storage` (`file`|`memory`), `retention` (`limits`|`interest`),
 * `maxAge`, `duplicateWindow`, `publishTimeout`, `fetchExpires`, `connectTimeout` (durations such
 * as `7d`, `2m`, `5s`), `maxBytes`, `maxMsgs`, `replicas`, `maxPendingPublishes`, `maxAckPending`
 * (integers), `compression` (`none`|`s2`), `provision` and `tls` (`true`|`false`), `name`,
 * `token`, `credsFile`, `nkeySeedFile`, `tlsCaFile`, `tlsCertFile`, `tlsKeyFile`.
 *
 * Throws a `ConfigError` listing every problem (unknown options included); the password never
 * appears in it.
 *
 * @example
 * parseNatsUrl("nats://app:s3cret@n1:4222,n2:4222?streamPrefix=shop&maxAge=3d");
 * // { servers: ["nats://n1:4222", "nats://n2:4222"], user: "app", pass: "s3cret", streamPrefix: "shop", maxAge: "3d" }
 */
export function parseNatsUrl(url: string): NatsTransportOptions {
  const shown = typeof url === "string" ? redactNatsUrl(url) : String(typeof url);
  const fail = (problems: string[]): never => {
    throw new ConfigError(
      componentMessage(COMPONENT, `invalid URL ${JSON.stringify(shown)}: ${problems.join("; ")}`),
      {
        problems,
      },
    );
  };
  if (typeof url !== "string") return fail(["the URL must be a string"]);
  const match = /^(nats|tls):\/\/([^?#]*)(?:\?([^#]*))?(?:#.*)?$/i.exec(url.trim());
  if (!match)
    return fail(["expected nats://[user:pass@]host[:port][,host[:port]…][?option=value…] (or tls://…)"]);
  const scheme = (match[1] as string).toLowerCase();
  let rest = match[2] as string;
  const query = match[3] ?? "";
  const problems: string[] = [];
  const options: NatsTransportOptions & Record<string, unknown> = {};

  const at = rest.lastIndexOf("@");
  if (at !== -1) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(":");
    try {
      if (colon === -1) {
        if (userinfo.length > 0) options.token = decodeURIComponent(userinfo);
      } else {
        const user = decodeURIComponent(userinfo.slice(0, colon));
        const pass = decodeURIComponent(userinfo.slice(colon + 1));
        if (user.length === 0) problems.push("a password needs a user name (user:pass@host)");
        options.user = user;
        options.pass = pass;
      }
    } catch {
      problems.push("the user or password is not valid percent-encoding");
    }
  }
  if (rest.endsWith("/")) rest = rest.slice(0, -1);
  if (rest.includes("/")) problems.push("a nats URL has no path");
  const hosts = rest.length === 0 ? ["127.0.0.1:4222"] : rest.split(",");
  const servers: string[] = [];
  for (const host of hosts) {
    const h = /^(\[[0-9a-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/i.exec(host.trim());
    if (!h || (h[2] !== undefined && Number(h[2]) > 65535)) {
      problems.push(`"${host}" is not host[:port]`);
      continue;
    }
    servers.push(`${scheme}://${h[1]}:${h[2] ?? "4222"}`);
  }
  options.servers = servers;

  const tls: TlsOptions = {};
  let tlsOn: boolean | undefined = scheme === "tls" ? true : undefined;
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(eq === -1 ? part : part.slice(0, eq));
      value = decodeURIComponent((eq === -1 ? "" : part.slice(eq + 1)).replace(/\+/g, " "));
    } catch {
      problems.push(`query parameter ${JSON.stringify(redact(part))} is not valid percent-encoding`);
      continue;
    }
    if (!(QUERY_OPTIONS as readonly string[]).includes(name)) {
      problems.push(`unknown option "${name}" (known: ${QUERY_OPTIONS.join(", ")})`);
      continue;
    }
    if (value === "" && !BOOLEAN_OPTIONS.has(name)) {
      problems.push(`option "${name}" needs a value`);
      continue;
    }
    if (INTEGER_OPTIONS.has(name)) {
      if (!/^-?\d+$/.test(value)) {
        problems.push(`option "${name}" must be an integer, got ${JSON.stringify(value)}`);
        continue;
      }
      options[name] = Number(value);
    } else if (BOOLEAN_OPTIONS.has(name)) {
      const flag =
        value === "" || value === "true" || value === "1"
          ? true
          : value === "false" || value === "0"
            ? false
            : undefined;
      if (flag === undefined) {
        problems.push(`option "${name}" must be true or false, got ${JSON.stringify(value)}`);
        continue;
      }
      if (name === "tls") tlsOn = flag;
      else options.provision = flag;
    } else if (name === "tlsCaFile") tls.caFile = value;
    else if (name === "tlsCertFile") tls.certFile = value;
    else if (name === "tlsKeyFile") tls.keyFile = value;
    else if (name === "token") {
      if (options.token !== undefined) problems.push("token given twice (in the URL and as ?token=)");
      options.token = value;
    } else options[name] = value;
  }
  const hasTlsFiles = Object.keys(tls).length > 0;
  if (hasTlsFiles && tlsOn === false)
    problems.push("tls=false contradicts the tlsCaFile/tlsCertFile/tlsKeyFile options");
  if (hasTlsFiles) options.tls = tls;
  else if (tlsOn !== undefined) options.tls = tlsOn;
  if (problems.length > 0) fail(problems);
  return options;
}

/** The URL with its password (or token) replaced by `***`. */
function redactNatsUrl(url: string): string {
  const scrubbed = url.replace(/^([a-z]+:\/\/)([^@/?#]*)@/i, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(":");
    return colon === -1 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
  return redact(scrubbed);
}

/**
 * Creates a {@link NatsTransport} from a URL (see {@link parseNatsUrl}); what
 * `createEventferry({ transport: "nats://…" })` calls. Validates synchronously, connects lazily.
 *
 * @example
 * const transport = createTransportFromUrl("nats://127.0.0.1:4222?streamPrefix=shop");
 */
export function createTransportFromUrl(url: string): NatsTransport {
  const options = parseNatsUrl(url);
  try {
    return createNatsTransport(options);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(
        componentMessage(
          COMPONENT,
          `invalid URL ${JSON.stringify(redactNatsUrl(url))}: ${error.problems.join("; ")}`,
        ),
        { problems: error.problems, cause: error },
      );
    }
    throw error;
  }
}
