import { app } from "./routes.ts";
import { documentFrom, type OpenApiDocument } from "./openapi-build.ts";

export { API_VERSION } from "./openapi-build.ts";

/**
 * `GET /api/openapi.json`: the document of the front door's routes, generated from their
 * declarations (src/http/openapi-build.ts), built once per isolate. (routes.ts imports this
 * module back, for the route that serves it: only when it is called.)
 */
let built: OpenApiDocument | undefined;

export function openApiDocument(): OpenApiDocument {
  return (built ??= documentFrom(app.openAPIRegistry.definitions));
}
