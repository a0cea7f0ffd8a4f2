// Runs fast-check properties in worker threads. A node:test timeout cannot interrupt
// synchronous code, so an input that made push() or decode() loop forever would wedge the
// whole test run; Worker.terminate() can stop it, and the test then fails naming the seed
// and the run that hung.
//
// Each property has a fixed seed (derived from its name) so every run checks the same
// cases; fast-check prints the seed and counterexample path of a failure. For a longer
// local hunt: SLUICE_FUZZ_SEED=<n> picks another seed, SLUICE_FUZZ_RUNS=<k> multiplies
// the number of runs (and the time allowed).
import { test } from "node:test";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import fc from "fast-check";

/** Wall-clock allowance per property at the default number of runs (each takes under 1 s). */
const DEADLINE_MS = 30_000;

type Verdict = { t: "run" } | { t: "passed" } | { t: "failed"; message: string };

interface Job {
  readonly module: string;
  readonly name: string;
}

function scale(): number {
  const k = Number(process.env.SLUICE_FUZZ_RUNS ?? "1");
  return Number.isFinite(k) && k > 0 ? k : 1;
}

function seedFor(name: string): number {
  const fromEnv = process.env.SLUICE_FUZZ_SEED;
  if (fromEnv !== undefined && fromEnv !== "") return Number(fromEnv) | 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h | 0;
}

function isJob(data: unknown): data is Job {
  return typeof data === "object" && data !== null && "module" in data && "name" in data;
}

/**
 * Returns `fuzz(name, numRuns, property)` for one test file (pass its import.meta.url).
 * On the main thread each call registers a node:test test that runs the property in a
 * worker loading this same file; in that worker the matching call runs the property.
 */
export function isolatedFuzz(moduleUrl: string): <Ts>(name: string, numRuns: number, property: () => fc.IProperty<Ts>) => void {
  return (name, numRuns, property) => {
    const runs = Math.max(1, Math.round(numRuns * scale()));
    const seed = seedFor(name);
    if (isMainThread) {
      test(name, () => runInWorker({ module: moduleUrl, name }, seed, DEADLINE_MS * scale()));
      return;
    }
    if (!isJob(workerData) || workerData.module !== moduleUrl || workerData.name !== name) return;
    const port = parentPort!;
    const post = (v: Verdict): void => port.postMessage(v);
    try {
      fc.assert(property(), { seed, numRuns: runs, includeErrorInReport: true, plugins: [fc.beforeEach(() => post({ t: "run" }))] });
      post({ t: "passed" });
    } catch (err) {
      post({ t: "failed", message: err instanceof Error ? err.message : String(err) });
    }
  };
}

function runInWorker(job: Job, seed: number, deadlineMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(job.module), { workerData: job });
    let runs = 0;
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if (error === undefined) resolve();
      else reject(error);
    };
    const timer = setTimeout(() => {
      finish(new Error(`${job.name}: no verdict after ${deadlineMs} ms, stuck in predicate call ${runs} (seed ${seed}): the code under test probably loops`));
    }, deadlineMs);
    worker.on("message", (v: Verdict) => {
      if (v.t === "run") runs++;
      else if (v.t === "passed") finish();
      else finish(new Error(v.message));
    });
    worker.on("error", (err) => finish(err));
    worker.on("exit", (code) => finish(new Error(`${job.name}: worker exited (code ${code}) without a verdict`)));
  });
}
