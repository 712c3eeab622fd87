/**
 * The page at `GET /` (public/index.html): choose or drop a tape, and watch its proof live —
 * status by the API's names, place in line, the ETA counting down, then the journal and a link
 * to the result; errors with their code. Bundled into public/app.js by `npm run build:page`.
 */
import {
  createGatewayClient,
  GatewayError,
  isTerminalStatus,
  type Estimate,
  type GatewayJob,
  type JobUpdate,
  type Journal,
  type Watch,
} from "../client/index.ts";

const gw = createGatewayClient({ baseUrl: location.origin });

const el = <T extends HTMLElement = HTMLElement>(id: string) => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
};

const ui = {
  claimant: el<HTMLInputElement>("claimant"),
  claim: el("claim"),
  drop: el("drop"),
  input: el<HTMLInputElement>("tape"),
  job: el("job"),
  fileName: el("file-name"),
  jobId: el("job-id"),
  status: el("status"),
  detail: el("detail"),
  place: el("place"),
  eta: el("eta"),
  transport: el("transport"),
  cancel: el<HTMLButtonElement>("cancel"),
  result: el("result"),
  verified: el("verified"),
  journal: el<HTMLTableElement>("journal"),
  resultLink: el<HTMLAnchorElement>("result-link"),
  error: el("error"),
  errorCode: el("error-code"),
  errorMessage: el("error-message"),
};

/** The proof this page follows now (a new tape replaces it). */
let current: { jobId: string; cancelToken: string | null; watch: Watch | null } | null = null;
let estimate: Estimate = null;
let ticker: ReturnType<typeof setInterval> | undefined;

ui.input.addEventListener("change", () => {
  const file = ui.input.files?.[0];
  if (file) void prove(file);
});

ui.drop.addEventListener("dragover", (ev) => {
  ev.preventDefault();
  ui.drop.classList.add("over");
});
ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("over"));
ui.drop.addEventListener("drop", (ev) => {
  ev.preventDefault();
  ui.drop.classList.remove("over");
  const file = ev.dataTransfer?.files[0];
  if (file) void prove(file);
});

ui.cancel.addEventListener("click", async () => {
  if (!current?.cancelToken) return;
  ui.cancel.disabled = true;
  try {
    render({
      job: await gw.cancel(current.jobId, current.cancelToken),
      queue: null,
      estimate: null,
      claim: null,
      settlement: "none",
    });
  } catch (e) {
    showError(e);
  } finally {
    ui.cancel.disabled = false;
  }
});

async function prove(file: File) {
  current?.watch?.close();
  current = null;
  reset();
  ui.fileName.textContent = `${file.name} (${file.size.toLocaleString("en")} bytes)`;
  ui.job.hidden = false;
  ui.detail.textContent = "Sending the tape…";
  let submitted;
  try {
    const claimant = ui.claimant.value.trim();
    submitted = await gw.submit(file, claimant ? { claimant } : {});
  } catch (e) {
    ui.detail.textContent = "The gateway did not accept the tape.";
    showError(e);
    return;
  }
  const mine = { jobId: submitted.jobId, cancelToken: submitted.cancelToken, watch: null };
  current = mine;
  ui.jobId.textContent = submitted.jobId;
  render({
    job: submitted.job,
    queue: null,
    estimate: submitted.estimate,
    claim: null,
    settlement: "none",
  });
  if (submitted.existing) ui.detail.textContent += " (This tape was already sent.)";
  if (isTerminalStatus(submitted.job.status)) return finish(submitted.job);
  const watch = gw.watch(submitted.jobId, (u) => current === mine && render(u), {
    onTransport: (t) => {
      if (current !== mine) return;
      ui.transport.textContent = t === "socket" ? "live (WebSocket)" : "polling";
      ui.transport.dataset.transport = t;
    },
  });
  current.watch = watch;
  watch.done.then(
    (job) => current === mine && finish(job),
    (e: unknown) => {
      if (current === mine && !(e instanceof GatewayError && e.code === "watch_closed"))
        showError(e);
    },
  );
}

function reset() {
  clearInterval(ticker);
  ticker = undefined;
  estimate = null;
  for (const e of [ui.job, ui.result, ui.error, ui.cancel]) e.hidden = true;
  ui.status.textContent = "";
  ui.status.dataset.status = "";
  for (const e of [ui.jobId, ui.detail, ui.verified, ui.errorCode, ui.errorMessage])
    e.textContent = "";
  ui.claim.textContent = "—";
  ui.place.textContent = ui.eta.textContent = ui.transport.textContent = "—";
  delete ui.transport.dataset.transport;
  ui.journal.tBodies[0]!.replaceChildren();
}

function render({ job, queue, estimate: next, claim, settlement }: JobUpdate) {
  ui.claim.textContent = claimText(job, claim, settlement);
  ui.claim.dataset.claim = claim?.status ?? "";
  ui.status.textContent = job.status;
  ui.status.dataset.status = job.status;
  ui.detail.textContent = job.detail;
  ui.place.textContent = placeText(job, queue?.ahead);
  ui.place.dataset.ahead = queue ? String(queue.ahead) : "";
  ui.cancel.hidden = !current?.cancelToken || isTerminalStatus(job.status);
  estimate = isTerminalStatus(job.status) ? null : next;
  tick();
  if (estimate && ticker === undefined) ticker = setInterval(tick, 250);
}

/** Who the proof is for and how its on-chain claim stands. */
function claimText(job: GatewayJob, claim: JobUpdate["claim"], settlement: string): string {
  const who = job.claimant ? `for ${job.claimant.slice(0, 6)}…${job.claimant.slice(-4)}` : "";
  if (claim) {
    const tx = claim.txHash ? ` (transaction ${claim.txHash.slice(0, 12)}…)` : "";
    const why = claim.error ? `: ${claim.error}` : "";
    return `${claim.status}${tx}${why} ${who}`.trim();
  }
  if (job.status !== "succeeded") return who || "—";
  return settlement === "automatic"
    ? `waiting for the settlement service ${who}`.trim()
    : `claim it from your wallet ${who}`.trim();
}

function placeText(job: GatewayJob, ahead: number | undefined): string {
  if (job.status === "proving") return "on the prover";
  if (job.status !== "queued") return "—";
  if (ahead === undefined) return "waiting to enter the line";
  if (ahead === 0) return "next";
  return `${ahead} ${ahead === 1 ? "job" : "jobs"} ahead`;
}

/** The ETA, counting down to `estimate.finishAt`. */
function tick() {
  if (!estimate) {
    ui.eta.textContent = "—";
    delete ui.eta.dataset.finishAt;
    return;
  }
  const left = estimate.finishAt - Date.now();
  ui.eta.dataset.finishAt = String(estimate.finishAt);
  ui.eta.textContent = left > 500 ? `about ${duration(left)}` : "any moment now";
  ui.eta.title = `estimate: ${estimate.basis}`;
}

function duration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(s % 60).padStart(2, "0")} s`;
}

function finish(job: GatewayJob) {
  clearInterval(ticker);
  ticker = undefined;
  estimate = null;
  tick();
  ui.cancel.hidden = true;
  if (job.status === "succeeded" && job.result) {
    showJournal(job.result.journal);
    ui.verified.textContent = job.result.verified ? "receipt verified (Groth16)" : "";
    ui.resultLink.href = `/api/proofs/jobs/${job.jobId}/result`;
    ui.result.hidden = false;
  } else if (job.status === "failed" && job.error) {
    showError(new GatewayError(0, job.error.code, job.error.message));
  }
}

const JOURNAL_ROWS: [keyof Journal, string, (v: number) => string][] = [
  ["final_score", "final score", (v) => String(v)],
  ["frame_count", "frames", (v) => String(v)],
  ["seed", "seed", hex],
  ["final_rng_state", "final RNG state", hex],
  ["tape_checksum", "tape checksum", hex],
  ["rules_digest", "rules digest", hex],
];

function hex(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
}

function showJournal(journal: Journal) {
  ui.journal.tBodies[0]!.replaceChildren(
    ...JOURNAL_ROWS.map(([field, label, format]) => {
      const row = document.createElement("tr");
      const name = document.createElement("td");
      const value = document.createElement("td");
      name.textContent = label;
      value.textContent = format(journal[field]);
      value.dataset.field = field;
      row.append(name, value);
      return row;
    }),
  );
}

function showError(e: unknown) {
  const err =
    e instanceof GatewayError
      ? e
      : new GatewayError(0, "page_error", e instanceof Error ? e.message : String(e));
  ui.errorCode.textContent = err.code;
  ui.errorMessage.textContent =
    err.retryAfterSeconds !== undefined
      ? `${err.message} (try again in ${err.retryAfterSeconds} s)`
      : err.message;
  ui.error.hidden = false;
}
