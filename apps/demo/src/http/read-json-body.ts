import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-error.js";

/**
 * Reads a request body as JSON, at most `limitBytes` (413 beyond, also when `content-length`
 * already says so). An empty body is `undefined`; invalid JSON or another content type is a 400.
 */
export async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    throw new HttpError(413, `request body too large (limit ${limitBytes} bytes)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limitBytes) {
      req.resume();
      throw new HttpError(413, `request body too large (limit ${limitBytes} bytes)`);
    }
    chunks.push(buf);
  }
  if (size === 0) return undefined;
  const type = String(req.headers["content-type"] ?? "application/json");
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw new HttpError(415, "request body must be JSON (content-type: application/json)");
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "request body is not valid JSON");
  }
}
