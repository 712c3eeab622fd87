/**
 * `GET /api/openapi.json` from the Worker itself, and the real answers of the routes against the
 * document's schemas (src/http/schemas.ts): a field the code adds or drops shows up here.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import type * as z from "zod";
import { openApiDocument } from "../../src/http/openapi.ts";
import type { JobView, publicJob, socketMessage } from "../../src/http/job-view.ts";
import * as S from "../../src/http/schemas.ts";
import type { IndexedJob } from "../../src/objects/job-index.ts";
import type { ProverView } from "../../src/core/prover-view.ts";
import { call, callWith, ended, postTape, uniqueTape, waitForJob } from "./helpers.ts";

const TOKEN = "admin-token-for-tests-0123456789";
const asAdmin = (path: string, init: RequestInit = {}) =>
  callWith({ ADMIN_TOKEN: TOKEN }, path, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${TOKEN}` },
  });

/** Exactly what the schema describes: parsing (which drops unknown keys) keeps the body whole. */
function expectShape(schema: z.ZodType, body: unknown) {
  const r = schema.safeParse(body);
  expect(r.error?.issues ?? []).toEqual([]);
  expect(r.data).toStrictEqual(body);
}

describe("GET /api/openapi.json", () => {
  it("answers 200 with the OpenAPI document, as JSON, with the usual headers", async () => {
    const r = await call("/api/openapi.json");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    expect(r.body.openapi).toBe("3.1.0");
    expect(r.body).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    expect(Object.keys(r.body.paths)).toContain("/api/proofs/jobs/{jobId}/ws");
  });
});

describe("the routes answer what the document says", () => {
  it("POST, GET, the result and the admin views of a job", async () => {
    const posted = await postTape(uniqueTape(60));
    expect(posted.status).toBe(202);
    expectShape(S.JobAcceptedBody, posted.body);
    const jobId = posted.body.job.jobId;

    const empty = await postTape(new Uint8Array());
    expect(empty.body.error.code).toBe("tape_empty");
    expectShape(S.ErrorBody, empty.body);

    const got = await call(`/api/proofs/jobs/${jobId}`);
    expect(got.status).toBe(200);
    expectShape(S.JobViewBody, got.body);

    await waitForJob(jobId, ended);
    const done = await call(`/api/proofs/jobs/${jobId}`);
    expectShape(S.JobViewBody, done.body);
    expect(done.body.job.status).toBe("succeeded");
    const result = await call(`/api/proofs/jobs/${jobId}/result`);
    expect(result.status).toBe(200);
    expectShape(S.ResultDocument, result.body);

    const one = await asAdmin(`/api/admin/jobs/${jobId}`);
    expectShape(S.JobBody, one.body);
    const list = await asAdmin("/api/admin/jobs?limit=5");
    expect(list.status).toBe(200);
    expectShape(S.AdminJobsBody, list.body);
    const provers = await asAdmin("/api/admin/provers");
    expect(provers.status).toBe(200);
    expectShape(S.ProversBody, provers.body);
  });

  it("health, and errors with their documented codes", async () => {
    const health = await call("/api/health");
    expectShape(S.HealthBody, health.body);
    const bad = await call("/api/proofs/jobs/nope");
    expect(bad.status).toBe(400);
    expectShape(S.ErrorBody, bad.body);
    expect(bad.body.error.code).toBe("invalid_job_id");
    const query = await asAdmin("/api/admin/jobs?limit=0");
    expectShape(S.ErrorBody, query.body);
    expect(query.body.error.code).toBe("invalid_limit");
  });
});

describe("the schemas mirror the Worker-side types", () => {
  it("the public job, the job view, the socket message, the admin views", () => {
    expectTypeOf<z.output<typeof S.PublicJob>>().toEqualTypeOf<ReturnType<typeof publicJob>>();
    expectTypeOf<z.output<typeof S.JobSocketMessage>>().toEqualTypeOf<
      ReturnType<typeof socketMessage>
    >();
    expectTypeOf<Omit<z.output<typeof S.JobViewBody>, "success" | "job">>().toEqualTypeOf<
      Omit<JobView, "job">
    >();
    expectTypeOf<z.output<typeof S.IndexedJob>>().toEqualTypeOf<IndexedJob>();
    // `.branded`: ProverView's health is an intersection, the schema's a flat object.
    expectTypeOf<z.output<typeof S.ProverView>>().branded.toEqualTypeOf<ProverView>();
  });
});
