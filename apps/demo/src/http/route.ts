import type { IncomingMessage } from "node:http";

/** What a route handler gets. */
export interface RouteContext {
  readonly req: IncomingMessage;
  /** Named path parameters (`/orders/:id` → `{ id }`), URL-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** Query parameters (the last value of a repeated name wins). */
  readonly query: Readonly<Record<string, string>>;
  readonly requestId: string;
  /** The JSON body (size-limited; `undefined` when empty). */
  body(): Promise<unknown>;
}

/** A route's answer: JSON unless `text` is given (`text/plain; charset=utf-8` unless `contentType` says otherwise). */
export type RouteResult =
  | { readonly status: number; readonly json: unknown }
  | { readonly status: number; readonly text: string; readonly contentType?: string };

/** One route: method, path with `:name` parameters, handler. */
export interface Route {
  readonly method: "GET" | "POST" | "DELETE";
  readonly path: string;
  readonly handle: (ctx: RouteContext) => Promise<RouteResult>;
}

/** A compiled route table: finds the route of a method and path. */
export interface Router {
  /** The route and its params; `allowed` lists the methods of a path matched with another method. */
  match(
    method: string,
    path: string,
  ): { route: Route; params: Record<string, string> } | { route: undefined; allowed: string[] };
}

/** Compiles routes (`/orders/:id`) into a {@link Router}. */
export function createRouter(routes: readonly Route[]): Router {
  const compiled = routes.map((route) => {
    const names: string[] = [];
    const source = route.path
      .split("/")
      .map((segment) => {
        if (!segment.startsWith(":")) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        names.push(segment.slice(1));
        return "([^/]+)";
      })
      .join("/");
    return { route, names, re: new RegExp(`^${source}/?$`) };
  });
  return {
    match(method, path) {
      const allowed: string[] = [];
      for (const { route, names, re } of compiled) {
        const m = re.exec(path);
        if (!m) continue;
        if (route.method !== method) {
          allowed.push(route.method);
          continue;
        }
        const params: Record<string, string> = {};
        names.forEach((name, i) => {
          params[name] = decodeURIComponent(m[i + 1] as string);
        });
        return { route, params };
      }
      return { route: undefined, allowed };
    },
  };
}
