/**
 * A JSON value with its order taken out where order means nothing: object keys sorted, and the
 * arrays under `required`, `enum`, `tags` and `parameters` (sets in OpenAPI and JSON Schema)
 * sorted by their JSON. Two documents equal after this differ in ordering only.
 */
const SETS = new Set(["required", "enum", "tags", "parameters"]);

export function unordered(value: unknown, key?: string): unknown {
  if (Array.isArray(value)) {
    const items = value.map((v) => unordered(v));
    if (key === undefined || !SETS.has(key)) return items;
    return items
      .map((v) => [JSON.stringify(v), v] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => v);
  }
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, unordered((value as Record<string, unknown>)[k], k)]),
    );
  }
  return value;
}
