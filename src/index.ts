import { app } from "./routes.ts";
import { handleQueue } from "./queue.ts";

export { ProverDispatcher } from "./dispatcher.ts";
export { JobIndex } from "./job-index.ts";
export { ProofJob } from "./job-object.ts";

/** The Worker: Hono routes for HTTP, one queue handler for both the jobs queue and its DLQ. */
export default {
  fetch: app.fetch,
  queue: handleQueue,
} satisfies ExportedHandler<Env>;
