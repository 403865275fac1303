import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isEventferryError, type Logger, redact } from "eventferry";
import { assertAdmin } from "./admin-auth.js";
import { adminRoutes } from "./admin-routes.js";
import { HttpError } from "./http-error.js";
import { readJsonBody } from "./read-json-body.js";
import { createRouter, type RouteResult } from "./route.js";
import { type RouteDeps, shopRoutes } from "./shop-routes.js";

/** Options of {@link createHttpServer}. */
export interface HttpServerDeps extends RouteDeps {
  readonly logger: Logger;
}

/**
 * The demo's HTTP API on `node:http`. Every response is JSON (but `GET /`) and carries an
 * `x-request-id`. Client errors say what was wrong; a 500 says only `internal error` and the
 * request id, the details go to the log.
 */
export function createHttpServer(deps: HttpServerDeps): Server {
  const { logger, config } = deps;
  const router = createRouter([...shopRoutes(deps), ...adminRoutes(deps)]);

  const send = (res: ServerResponse, requestId: string, result: RouteResult) => {
    const isText = "text" in result;
    const payload = isText ? result.text : `${JSON.stringify(result.json, null, 2)}\n`;
    res.writeHead(result.status, {
      "content-type": isText
        ? (result.contentType ?? "text/plain; charset=utf-8")
        : "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(payload),
      "x-request-id": requestId,
      "cache-control": "no-store",
      ...(result.status === 401 ? { "www-authenticate": 'Bearer realm="eventferry-demo admin"' } : {}),
    });
    res.end(payload);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    if (path === "/admin" || path.startsWith("/admin/")) assertAdmin(req, config.adminToken);
    let found: ReturnType<typeof router.match>;
    try {
      found = router.match(req.method ?? "GET", path);
    } catch {
      throw new HttpError(400, "malformed URL encoding in path");
    }
    if (!found.route) {
      if (found.allowed.length > 0) {
        res.setHeader("allow", found.allowed.join(", "));
        throw new HttpError(405, `method ${req.method} not allowed on ${path}`);
      }
      throw new HttpError(404, "not found");
    }
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const result = await found.route.handle({
      req,
      params: found.params,
      query,
      requestId,
      body: () => readJsonBody(req, config.bodyLimitBytes),
    });
    send(res, requestId, result);
  };

  return createServer((req, res) => {
    const requestId = randomUUID();
    const started = performance.now();
    res.on("finish", () => {
      logger.debug(`${req.method} ${req.url} ${res.statusCode}`, {
        requestId,
        ms: Math.round(performance.now() - started),
      });
    });
    handle(req, res, requestId).catch((error: unknown) => {
      if (res.headersSent) {
        logger.error("request failed after the response started", { requestId, error: describe(error) });
        res.destroy();
        return;
      }
      if (error instanceof HttpError) {
        send(res, requestId, {
          status: error.status,
          json: { error: error.message, ...(error.issues ? { issues: error.issues } : {}), requestId },
        });
        return;
      }
      if (isEventferryError(error) && error.code === "VALIDATION_FAILED") {
        send(res, requestId, { status: 400, json: { error: error.message, requestId } });
        return;
      }
      logger.error(`${req.method} ${req.url} failed`, { requestId, error: describe(error) });
      send(res, requestId, { status: 500, json: { error: "internal error", requestId } });
    });
  });
}

function describe(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    return { name: error.name, message: redact(error.message), stack: error.stack && redact(error.stack) };
  }
  return { message: redact(String(error)) };
}
