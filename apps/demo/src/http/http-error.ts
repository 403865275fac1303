import type { z } from "zod";

/** An error whose status and message are safe to show to the client. */
export class HttpError extends Error {
  readonly status: number;
  readonly issues: readonly string[] | undefined;

  constructor(status: number, message: string, issues?: readonly string[]) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.issues = issues;
  }
}

/** Turns zod issues into `path: message` lines. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    return path ? `${path}: ${issue.message}` : issue.message;
  });
}

/** Parses `input` with `schema`, or throws a 400 naming what was wrong (`what`: "body", "query"). */
export function parseOr400<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = formatIssues(parsed.error);
  throw new HttpError(400, `invalid ${what}: ${issues.join("; ")}`, issues);
}
