// Runs a command and passes its output through. If the command prints nothing for STALL seconds
// it is killed (its whole process group) and this exits 124; otherwise it exits with the
// command's own code. For `npm test`: @cloudflare/vitest-plugin can stall for good between two
// test files with no error and no workerd left (cloudflare/workers-sdk#15498, open), about one
// run in twenty here. A stall is not a test failure: .ci/run retries it once; a failure it never retries.
//
//   node .ci/stall-guard.mjs <stall seconds> <command> [args...]
import { spawn } from "node:child_process";

const [stallArg, cmd, ...args] = process.argv.slice(2);
const stallMs = Number(stallArg) * 1000;
if (!cmd || !(stallMs > 0)) {
  console.error("usage: node .ci/stall-guard.mjs <stall seconds> <command> [args...]");
  process.exit(2);
}
const child = spawn(cmd, args, { stdio: ["inherit", "pipe", "pipe"], detached: true });
let timer;
const arm = () => {
  clearTimeout(timer);
  timer = setTimeout(() => {
    console.error(
      `\nstall-guard: no output for ${stallArg} s from \`${[cmd, ...args].join(" ")}\`: killed`,
    );
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
    process.exit(124);
  }, stallMs);
};
arm();
child.stdout.on("data", (d) => (process.stdout.write(d), arm()));
child.stderr.on("data", (d) => (process.stderr.write(d), arm()));
child.on("exit", (code, signal) => {
  clearTimeout(timer);
  process.exit(code ?? (signal ? 128 : 1));
});
for (const sig of ["SIGINT", "SIGTERM"])
  process.on(sig, () => (process.kill(-child.pid, "SIGKILL"), process.exit(130)));
