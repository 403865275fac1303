/**
 * Hides secrets in text before it reaches an error message or a log line.
 */

/** What secrets are replaced with. */
export const REDACTED = "***";

/** `scheme://user:password@host` — the password runs to the last `@` before the path. */
const URL_USERINFO_RE = /([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@"'<>`]*:)[^\s/?#"'<>`]*@/gi;

/** Names of fields whose values are secret (matched as a suffix: `sslpassword`, `client_secret`). */
const SECRET_NAME = String.raw`[\w.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|credentials?|authorization)`;

/** `name=value` in query strings, conninfo strings and logfmt: value up to `&`, `#`, `;`, `,`, space. */
const KEY_VALUE_RE = new RegExp(
  String.raw`(^|[?&;,\s"'(\[{])(${SECRET_NAME})(\s*=\s*)(?!\*\*\*)(?:(?:bearer|basic|digest|token)\s+)?('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&#;,'"]+)`,
  "gi",
);

/** `"password": "…"`, `password: '…'` (JSON and `util.inspect`); the quoted-key form also with bare values. */
const KEY_COLON_RE = new RegExp(
  String.raw`(["']?)(${SECRET_NAME})\1(\s*:\s*)(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|(?<=["']\s*:\s*)[^\s,}\]"']+)`,
  "gi",
);

/** `Authorization: Bearer abc…` / `Authorization: abc…` as a header line. */
const AUTH_HEADER_RE = /\b(authorization\s*:\s*)(?:(bearer|basic|digest|token)\s+)?[^\s"',;]+/gi;

/** A bare `Bearer <token>` anywhere else. */
const BEARER_RE = /\b(bearer)\s+(?!\*\*\*)[A-Za-z0-9._~+/-]{8,}=*/gi;

/**
 * Replaces secrets in `text` with `***`:
 * - URL passwords: `postgres://user:pass@host/db` → `postgres://user:***@host/db`
 *   (also `redis://:pass@host`);
 * - secret query/conninfo parameters: `?password=…`, `&token=…`, `secret=…`, `api_key=…`,
 *   `sslpassword='…'` → `password=***`;
 * - secret fields in JSON or inspected objects: `"password": "…"`, `token: '…'`;
 * - credentials: `Authorization: Basic dXN…` → `Authorization: Basic ***`, `Bearer eyJ…` → `Bearer ***`.
 *
 * MUST never throw: any input (even a non-string from untyped code) gives a string. Intended for
 * messages and logs; it errs on the side of hiding a little too much.
 *
 * @example
 * redact("connect postgres://app:s3cret@db:5432/shop failed");
 * // "connect postgres://app:***@db:5432/shop failed"
 */
export function redact(text: string): string {
  try {
    let out = typeof text === "string" ? text : String(text);
    if (out.includes("://")) out = out.replace(URL_USERINFO_RE, `$1${REDACTED}@`);
    if (out.includes("=")) out = out.replace(KEY_VALUE_RE, `$1$2$3${REDACTED}`);
    if (out.includes(":"))
      out = out.replace(KEY_COLON_RE, (_m, q: string, name: string, sep: string) => {
        return `${q}${name}${q}${sep}${q ? `"${REDACTED}"` : `'${REDACTED}'`}`;
      });
    out = out.replace(AUTH_HEADER_RE, (_m, header: string, scheme: string | undefined) =>
      scheme ? `${header}${scheme} ${REDACTED}` : `${header}${REDACTED}`,
    );
    out = out.replace(BEARER_RE, `$1 ${REDACTED}`);
    return out;
  } catch {
    return REDACTED;
  }
}
