import type { OpenAPIHono, RouteConfig } from "@hono/zod-openapi";
import * as z from "zod";
import { components } from "./route-spec.ts";

/**
 * The OpenAPI 3.1 document of routes as they are declared (`createRoute`, src/http/routes.ts,
 * jobs.ts, admin.ts, settlement.ts, health.ts), from an app's registry. Schemas are converted by
 * zod 4's own `z.toJSONSchema` (JSON Schema 2020-12, OpenAPI 3.1's dialect); the components are
 * src/http/route-spec.ts's. No Worker code: test/unit/openapi.test.ts types the document by it.
 */

/** package.json `version` (a unit test keeps them equal). */
export const API_VERSION = "0.1.0";

type JsonSchema = Record<string, unknown>;
type Json = Record<string, any>;

const isZod = (s: unknown): s is z.ZodType => s instanceof z.ZodType;

/** A component by `$ref`; any other zod schema inline (it may not contain a component). */
function schemaOf(schema: unknown): unknown {
  if (!isZod(schema)) return schema;
  const id = components.get(schema)?.id;
  if (id) return { $ref: `#/components/schemas/${id}` };
  const { $schema: _, ...inline } = z.toJSONSchema(schema, {
    io: "input",
    override: ({ zodSchema }) => {
      const inner = components.get(zodSchema as unknown as z.ZodType)?.id;
      if (inner) throw new Error(`an inline schema contains the component ${inner}: refer to it`);
    },
  }) as JsonSchema;
  return inline;
}

/** Each media type's schema, converted. */
function content(c: Json | undefined) {
  if (!c) return undefined;
  return Object.fromEntries(
    Object.entries(c).map(([type, media]) => [type, { ...media, schema: schemaOf(media.schema) }]),
  );
}

/** The method and the path's words (`getApiProofsJobsJobIdResult`); `/` is `getPage`. */
const operationId = (method: string, path: string) =>
  method +
  (path
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join("") || "Page");

/** The path and query parameters of the route's zod schemas, then the ones it lists itself. */
function parameters(route: RouteConfig) {
  const out: unknown[] = [];
  const add = (where: "path" | "query", shape: unknown) => {
    if (!(shape instanceof z.ZodObject)) return;
    for (const [name, s] of Object.entries(shape.shape as Record<string, z.ZodType>)) {
      const optional = s.safeParse(undefined).success;
      const description = s.meta()?.description;
      out.push({
        name,
        in: where,
        required: where === "path" || !optional,
        ...(description ? { description } : {}),
        schema: schemaOf(s),
      });
    }
  };
  add("path", route.request?.params);
  add("query", route.request?.query);
  return [...out, ...(route.parameters ?? [])];
}

function operation(route: RouteConfig) {
  const {
    method,
    path,
    request,
    responses,
    parameters: _,
    getRoutingPath: __,
    ...rest
  } = route as RouteConfig & { getRoutingPath?: unknown };
  const params = parameters(route);
  const body = request?.body;
  return {
    operationId: operationId(method, path),
    ...rest,
    ...(params.length ? { parameters: params } : {}),
    ...(body ? { requestBody: { ...body, content: content(body.content) } } : {}),
    responses: Object.fromEntries(
      Object.entries(responses).map(([status, r]) => {
        const answer = r as Json;
        return [status, answer.content ? { ...answer, content: content(answer.content) } : answer];
      }),
    ),
  };
}

type Definitions = OpenAPIHono["openAPIRegistry"]["definitions"];

/** The document of the routes `definitions` declare (an `OpenAPIHono`'s registry). */
export function documentFrom(definitions: Definitions) {
  const { schemas } = z.toJSONSchema(components, {
    io: "input",
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  for (const s of Object.values(schemas)) {
    // Each component is a schema inside this document, not a document of its own.
    delete s.$schema;
    delete s.$id;
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const def of definitions) {
    if (def.type !== "route") continue;
    (paths[def.route.path] ??= {})[def.route.method] = operation(def.route);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Proof gateway",
      version: API_VERSION,
      description:
        "Proves Asteroids tapes on a fleet of RISC Zero GPU provers. Every error is `{success:false,error:{code,message}}` with a stable `code`; a path no route matches answers 404 not_found. Generated from src/http/schemas.ts by src/http/openapi.ts.",
    },
    tags: [
      { name: "player", description: "The game's routes (CORS for CORS_ALLOWED_ORIGINS)." },
      { name: "admin", description: "The operator API: Authorization: Bearer <ADMIN_TOKEN>." },
      {
        name: "settlement",
        description: "The settlement service's reports: Authorization: Bearer <SETTLEMENT_TOKEN>.",
      },
      { name: "meta", description: "The page and this document." },
    ],
    paths,
    components: {
      schemas,
      securitySchemes: {
        adminToken: {
          type: "http",
          scheme: "bearer",
          description: "ADMIN_TOKEN (a secret; unset: the admin API answers 403 admin_disabled).",
        },
        settlementToken: {
          type: "http",
          scheme: "bearer",
          description:
            "SETTLEMENT_TOKEN (a secret; unset: the settlement route answers 403 settlement_disabled).",
        },
        cancelToken: {
          type: "http",
          scheme: "bearer",
          description: "The `cancel_token` of the 202 that started the job's current attempt.",
        },
      },
    },
  };
}

export type OpenApiDocument = ReturnType<typeof documentFrom>;
