import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-error.js";

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

/**
 * Guards `/admin`: without a configured token the admin API does not exist (404); with one, the
 * request needs `Authorization: Bearer <token>` (401 otherwise). The comparison is constant-time
 * (both sides hashed to equal length first, so the token's length does not leak either).
 */
export function assertAdmin(req: IncomingMessage, token: string | undefined): void {
  if (token === undefined) throw new HttpError(404, "not found");
  const header = req.headers.authorization ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const given = match?.[1] ?? "";
  const ok = timingSafeEqual(digest(given), digest(token));
  if (!match || !ok) throw new HttpError(401, "admin API: missing or wrong bearer token");
}
