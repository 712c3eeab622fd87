import { app } from "./http/routes.ts";
import { handleQueue } from "./queue/consumer.ts";

export { ProverDispatcher } from "./objects/prover-dispatcher.ts";
export { JobIndex } from "./objects/job-index.ts";
export { ProofJob } from "./objects/proof-job.ts";
export { ClientQuota } from "./objects/client-quota.ts";

/** The Worker: Hono routes for HTTP, one queue handler for the jobs queue, its DLQ and webhooks. */
export default {
  fetch: app.fetch,
  queue: handleQueue,
} satisfies ExportedHandler<Env>;
