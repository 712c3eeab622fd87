import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, expectTypeOf, it, vi } from "vitest";
import type * as z from "zod";
import type { Estimate } from "../../src/core/estimate.ts";
import type { HealthReading, ProverState } from "../../src/core/fleet.ts";
import type { GatewayJob } from "../../src/client/types.ts";
import * as core from "../../src/core/job.ts";
import type { Job, ReceiptRecord, ResultDocument } from "../../src/core/job.ts";
import type { Speed, TimeoutMargins } from "../../src/core/speed.ts";
import type { TapeErrorCode } from "../../src/core/tape.ts";
import { API_VERSION, type OpenApiDocument } from "../../src/http/openapi-build.ts";
import { readWranglerConfig } from "../../tools/ops/wrangler-config.ts";
import * as S from "../../src/http/schemas.ts";
import { ERROR_CODES, type ErrorCodeName } from "../../src/http/schemas.ts";
import { unordered } from "../support/unordered.ts";

// The Hono apps import the Durable Object classes, whose base class only workerd has.
vi.mock("cloudflare:workers", () => ({ DurableObject: class {} }));

// The document is the Hono apps' (Worker code): imported by a computed name, as in honoRoutes.
const openapiFile = "../../src/http/openapi.ts";
const { openApiDocument } = (await import(openapiFile)) as {
  openApiDocument: () => OpenApiDocument;
};
type Op = { responses: Record<string, any> };
const doc: OpenApiDocument = openApiDocument();
const METHODS = ["get", "post", "delete", "put", "patch"] as const;

function operations(): Map<string, Op> {
  const out = new Map<string, Op>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      const op = (item as Record<string, Op | undefined>)[m];
      if (op) out.set(`${m.toUpperCase()} ${path}`, op);
    }
  }
  return out;
}

/** The routes the Hono apps define (`app.routes`, admin's mounted under /api/admin). */
async function honoRoutes(): Promise<Set<string>> {
  // Imported by a computed name: the Node typecheck would otherwise follow it into Worker code.
  const routesFile = "../../src/http/routes.ts";
  const { app } = (await import(routesFile)) as {
    app: { routes: { method: string; path: string }[] };
  };
  return new Set(
    app.routes
      .filter((r) => r.method !== "ALL") // middleware
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
  );
}

/** `GET /` is a static asset: wrangler.jsonc's assets directory holds index.html. */
function pageIsAnAsset(): boolean {
  const root = new URL("../../", import.meta.url);
  const cfg = readWranglerConfig(fileURLToPath(new URL("wrangler.jsonc", root))) as {
    assets?: { directory?: string };
  };
  const dir = cfg.assets?.directory;
  return dir !== undefined && existsSync(new URL(`${dir}/index.html`, root));
}

/** The rows of README.md's "### Error codes" table: code → HTTP status. */
function readmeErrorCodes(): Map<string, number> {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.split(/^### /m).find((s) => s.startsWith("Error codes\n")) ?? "";
  const rows = new Map<string, number>();
  for (const line of section.split("\n")) {
    const m = /^\|\s*((?:`[a-z_]+`\s*\/?\s*)+)\|\s*(\d{3})\s*\|/.exec(line);
    if (!m) continue;
    for (const [, code] of m[1]!.matchAll(/`([a-z_]+)`/g)) rows.set(code!, Number(m[2]));
  }
  return rows;
}

describe("GET /api/openapi.json", () => {
  it("is the document as it was before the routes declared their schemas (ordering aside)", () => {
    const before = JSON.parse(
      readFileSync(new URL("../fixtures/openapi.before.json", import.meta.url), "utf8"),
    );
    expect(unordered(JSON.parse(JSON.stringify(doc)))).toEqual(unordered(before));
  });

  it("compares documents ignoring the order of keys and of sets only", () => {
    const a = { required: ["a", "b"], enum: [1, 2], tags: ["x", "y"], list: [1, 2], k: 1, j: 2 };
    expect(unordered({ ...a, required: ["b", "a"], enum: [2, 1], tags: ["y", "x"] })).toEqual(
      unordered(a),
    );
    expect(unordered({ ...a, list: [2, 1] })).not.toEqual(unordered(a));
    expect(unordered({ ...a, required: ["a"] })).not.toEqual(unordered(a));
    expect(JSON.stringify(unordered({ b: 1, a: 2 }))).toBe('{"a":2,"b":1}');
  });

  it("is a valid OpenAPI 3.1 document", async () => {
    const result = await new Validator().validate(structuredClone(doc));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\.1\./);
  });

  it("every $ref points at a component", () => {
    const refs = JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g);
    const names = Object.keys(doc.components.schemas);
    for (const [, ref] of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(names, ref).toContain(ref!.split("/").pop());
    }
  });

  it("describes exactly the routes the Hono apps define", async () => {
    const defined = await honoRoutes();
    const documented = new Set(operations().keys());
    expect(defined.size).toBeGreaterThan(10);
    // The page is a static asset (public/), not a Hono route.
    const notHono = new Set(defined.has("GET /") ? [] : ["GET /"]);
    if (notHono.size) expect(pageIsAnAsset()).toBe(true);
    expect([...defined].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !defined.has(r) && !notHono.has(r))).toEqual([]);
  });

  it("names every README error code, each under its own HTTP status", () => {
    const seen = new Map<string, Set<string>>();
    for (const op of operations().values()) {
      for (const [status, r] of Object.entries(op.responses)) {
        const codes: string[] =
          r.content?.["application/json"]?.schema?.allOf?.[1]?.properties?.error?.properties?.code
            ?.enum ?? [];
        for (const code of codes) seen.set(code, (seen.get(code) ?? new Set()).add(status));
      }
    }
    for (const [code, status] of readmeErrorCodes()) {
      // No route answers not_found: it is what a path no route matches gets.
      if (code === "not_found") {
        expect(doc.info.description).toContain("404 not_found");
        continue;
      }
      expect([...(seen.get(code) ?? [])], code).toEqual([String(status)]);
    }
  });

  it("its Error component's code enum is ERROR_CODES", () => {
    expect(doc.components.schemas.ErrorCode).toMatchObject({ enum: Object.keys(ERROR_CODES) });
    const error = doc.components.schemas.Error as any;
    expect(error.properties.error.properties.code).toEqual({
      $ref: "#/components/schemas/ErrorCode",
    });
  });

  it("has the package's version", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    expect(API_VERSION).toBe(pkg.version);
  });
});

describe("ERROR_CODES", () => {
  it("is README's error code table, row for row, with the same HTTP status", () => {
    expect(Object.fromEntries(readmeErrorCodes())).toEqual(ERROR_CODES);
  });

  it("holds every code src/http answers with, at the status it is answered with", () => {
    const dir = new URL("../../src/http/", import.meta.url);
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      if (file === "schemas.ts" || file === "openapi.ts") continue;
      const src = readFileSync(new URL(file, dir), "utf8");
      for (const [, status, code] of src.matchAll(/new ApiError\(\s*(\d{3}),\s*"([a-z_]+)"/g))
        expect(ERROR_CODES[code as ErrorCodeName], `${file}: ${code}`).toBe(Number(status));
      for (const [, fn, code] of src.matchAll(/\b(notFound|conflict)\(\s*"([a-z_]+)"/g))
        expect(ERROR_CODES[code as ErrorCodeName], `${file}: ${code}`).toBe(
          fn === "notFound" ? 404 : 409,
        );
      for (const [, code] of src.matchAll(/\bcode:\s*"([a-z_]+)"/g))
        expect(Object.keys(ERROR_CODES), `${file}: ${code}`).toContain(code);
    }
  });

  it("holds every tape format error and the config error", () => {
    expectTypeOf<TapeErrorCode>().toExtend<ErrorCodeName>();
    expect(ERROR_CODES.config_invalid).toBe(503);
  });
});

describe("request schemas (what the routes validate with)", () => {
  const id = "a".repeat(64);

  it("a job id is exactly 64 lowercase hex characters", () => {
    expect(S.JobIdParam.safeParse({ jobId: id }).success).toBe(true);
    for (const bad of ["a".repeat(63), "a".repeat(65), "A".repeat(64), `${"a".repeat(63)}g`, ""])
      expect(S.JobIdParam.safeParse({ jobId: bad }).success, bad).toBe(false);
  });

  it("admin jobs query: limit 1..100 (default 20), a known status, any cursor string", () => {
    const q = (query: Record<string, string>) => S.AdminJobsQuery.safeParse(query);
    expect(q({}).data).toEqual({ limit: 20 });
    expect(q({ limit: "1" }).data?.limit).toBe(1);
    expect(q({ limit: "100" }).data?.limit).toBe(100);
    for (const bad of ["0", "101", "2.5", "", "x"])
      expect(q({ limit: bad }).error?.issues[0]?.path, bad).toEqual(["limit"]);
    expect(q({ status: "failed" }).data?.status).toBe("failed");
    expect(q({ status: "done" }).error?.issues[0]?.path).toEqual(["status"]);
    expect(q({ cursor: "nope" }).data?.cursor).toBe("nope");
  });

  it("admin prover body: {url: string}", () => {
    expect(S.AdminProverBody.safeParse({ url: "https://x.example" }).success).toBe(true);
    for (const bad of [{}, { url: 5 }, [], "https://x.example", null])
      expect(S.AdminProverBody.safeParse(bad).success).toBe(false);
  });
});

describe("response schemas mirror the TypeScript types", () => {
  it("the job's shapes are the core's schemas, one source, whose types the code and the client use", () => {
    // One source: the HTTP API documents the very schemas src/core/job.ts takes its types from.
    expect(S.Job).toBe(core.Job);
    expect(S.PublicJob).toBe(core.PublicJob);
    expect(S.ResultDocument).toBe(core.ResultDocument);
    expect(S.ReceiptRecord).toBe(core.ReceiptRecord);
    expect(S.JobProver).toBe(core.JobProverSide);
    expectTypeOf<GatewayJob>().toEqualTypeOf<z.output<typeof S.PublicJob>>();
    expectTypeOf<z.output<typeof S.Job>>().toEqualTypeOf<Job>();
    expectTypeOf<z.output<typeof S.ResultDocument>>().toEqualTypeOf<ResultDocument>();
    expectTypeOf<z.output<typeof S.ReceiptRecord>>().toEqualTypeOf<ReceiptRecord>();
    expectTypeOf<z.output<typeof S.Estimate>>().toEqualTypeOf<Estimate>();
    expectTypeOf<Omit<Job, "cancelTokenHash" | "client">>().toEqualTypeOf<
      z.output<typeof S.PublicJob>
    >();
  });

  it("the fleet's shapes", () => {
    expectTypeOf<z.output<typeof S.ProverState>>().toEqualTypeOf<ProverState>();
    expectTypeOf<z.output<typeof S.HealthReading>>().toEqualTypeOf<HealthReading>();
    expectTypeOf<z.output<typeof S.Speed>>().toEqualTypeOf<Speed>();
    expectTypeOf<z.output<typeof S.TimeoutMargins>>().toEqualTypeOf<TimeoutMargins>();
  });
});
