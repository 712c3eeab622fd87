import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "zod";
import type { AppEnv } from "./app-env.ts";
import { openApiDocument } from "./openapi.ts";
import { ANY, answers, json } from "./route-spec.ts";

/**
 * The API's "meta" routes, mounted at the root: this document, and the page (documented only).
 * (openapi.ts reads the whole app, this one included, when the document is first asked for.)
 */
export const meta = new OpenAPIHono<AppEnv>();

meta.openapi(
  createRoute({
    method: "get",
    path: "/api/openapi.json",
    summary: "This document",
    tags: ["meta"],
    responses: answers(
      {
        200: json(
          "The OpenAPI 3.1 document, generated from the routes' zod schemas.",
          z.record(z.string(), z.unknown()),
        ),
      },
      ANY,
    ),
  }),
  (c) => c.json(openApiDocument()),
);

// The page is a static asset (public/index.html), served before the Worker: documented only.
meta.openAPIRegistry.registerPath(
  createRoute({
    method: "get",
    path: "/",
    summary: "The page: post a tape and watch its proof",
    tags: ["meta"],
    responses: {
      200: {
        description: "The page (HTML), served from public/ as a static asset.",
        content: { "text/html": { schema: z.string() } },
      },
    },
  }),
);
