import { Hono } from "hono";

/**
 * The yardstick of `npm run bench:intake`: a bare Hono Worker that reads the posted body and
 * answers, nothing else (no parse, no hash, no storage). Run by the bench with its own
 * `wrangler dev`; never deployed.
 */
const app = new Hono();

app.post("/api/proofs/jobs", async (c) => {
  const bytes = await c.req.arrayBuffer();
  return c.json({ success: true, bytes: bytes.byteLength }, 202);
});

export default app;
