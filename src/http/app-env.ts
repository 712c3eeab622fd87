import type { Config } from "../core/config.ts";

/** The Hono env of every route: the Worker's bindings, and the config a middleware validated. */
export type AppEnv = { Bindings: Env; Variables: { config: Config } };
