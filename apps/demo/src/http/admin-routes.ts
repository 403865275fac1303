import { HttpError, parseOr400 } from "./http-error.js";
import { deadLettersQuery } from "./request-schemas.js";
import type { Route } from "./route.js";
import type { RouteDeps } from "./shop-routes.js";

/**
 * The admin API over the dead letters. The server guards every `/admin` path (see `assertAdmin`)
 * before these run.
 */
export function adminRoutes({ ferry }: Pick<RouteDeps, "ferry">): Route[] {
  return [
    {
      method: "GET",
      path: "/admin/dead-letters",
      async handle(ctx) {
        const q = parseOr400(deadLettersQuery, ctx.query, "query");
        const deadLetters = await ferry.deadLetters.list(q);
        const last = deadLetters.at(-1);
        return {
          status: 200,
          json: { deadLetters, next: deadLetters.length === q.limit && last ? last.id : null },
        };
      },
    },
    {
      method: "GET",
      path: "/admin/dead-letters/:id",
      async handle(ctx) {
        const deadLetter = await ferry.deadLetters.get(ctx.params.id as string);
        if (!deadLetter) throw new HttpError(404, `dead letter ${ctx.params.id} not found`);
        return { status: 200, json: deadLetter };
      },
    },
    {
      method: "POST",
      path: "/admin/dead-letters/:id/retry",
      async handle(ctx) {
        const id = ctx.params.id as string;
        const retried = await ferry.deadLetters.retry([id]);
        if (retried.length === 0) {
          const exists = await ferry.deadLetters.get(id);
          if (!exists) throw new HttpError(404, `dead letter ${id} not found`);
          throw new HttpError(409, `dead letter ${id} cannot be retried (its message never decoded)`);
        }
        return { status: 200, json: { retried } };
      },
    },
    {
      method: "DELETE",
      path: "/admin/dead-letters/:id",
      async handle(ctx) {
        const id = ctx.params.id as string;
        const purged = await ferry.deadLetters.purge({ ids: [id] });
        if (purged === 0) throw new HttpError(404, `dead letter ${id} not found`);
        return { status: 200, json: { purged } };
      },
    },
  ];
}
