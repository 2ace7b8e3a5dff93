// The typed API client: `schema.d.ts` is generated from the API's openapi.json (`make api-client`).
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

/** The body every API error has: {"error": {"code", "message", "field"?, "details"?}}. */
export interface ApiErrorBody {
  error: { code: string; message: string; field?: string; details?: unknown };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const CSRF_COOKIE = "nexus_csrf";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function readCookie(name: string): string | undefined {
  return document.cookie
    .split("; ")
    .find((part) => part.startsWith(`${name}=`))
    ?.slice(name.length + 1);
}

/** Browser sessions echo the CSRF cookie in X-CSRF-Token on every state-changing request. */
const csrf: Middleware = {
  onRequest({ request }) {
    const token = readCookie(CSRF_COOKIE);
    if (token && UNSAFE.has(request.method)) request.headers.set("X-CSRF-Token", token);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(csrf);

/** Unwrap an openapi-fetch result: the data, or throw an ApiError carrying the API's error body. */
export async function ok<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await pending;
  if (!response.ok) {
    const body = (error ?? {}) as Partial<ApiErrorBody>;
    throw new ApiError(
      response.status,
      body.error?.code ?? `http_${response.status}`,
      body.error?.message ?? response.statusText,
      body.error?.field,
      body.error?.details,
    );
  }
  return data as T;
}

/** Raw fetch for what the typed client cannot express (YAML bodies, SSE, downloads). */
export async function rawFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = readCookie(CSRF_COOKIE);
  if (token && UNSAFE.has((init.method ?? "GET").toUpperCase())) headers.set("X-CSRF-Token", token);
  const response = await fetch(path, { credentials: "same-origin", ...init, headers });
  if (!response.ok) {
    let body: Partial<ApiErrorBody> = {};
    try {
      body = await response.json();
    } catch {
      /* not JSON */
    }
    throw new ApiError(
      response.status,
      body.error?.code ?? `http_${response.status}`,
      body.error?.message ?? response.statusText,
      body.error?.field,
      body.error?.details,
    );
  }
  return response;
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
