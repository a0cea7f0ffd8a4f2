// An echo pod in a process of its own, so a test can SIGKILL, SIGSTOP and restart it.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { repoPath } from "./paths.js";
import { defer, type Owner } from "./teardown.js";

export interface ChildPod {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
}

/** Starts `startEchoServer(name)` in a child node process on `port` (0: any free port). */
export async function startChildPod(name: string, port = 0): Promise<ChildPod> {
  const module = repoPath("dist/src/demo/echo-service.js");
  const child = spawn(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const m = await import(${JSON.stringify(module)}); const p = await m.startEchoServer(${JSON.stringify(name)}, "127.0.0.1", ${port}); console.log("port " + p.port);`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout });
  const first = once(lines, "line") as Promise<[string]>;
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`pod ${name} exited with ${String(code)} before listening`);
  });
  const [line] = await Promise.race([first, exited]);
  exited.catch(() => undefined); // only its early exit matters
  return { name, port: Number(/^port (\d+)$/.exec(line)![1]), child };
}

/** Kills a pod that may be stopped (SIGCONT first, so a SIGSTOPped one dies too) and waits for it. */
export async function killChildPod(pod: ChildPod): Promise<void> {
  if (pod.child.exitCode !== null || pod.child.signalCode !== null) return;
  const exited = once(pod.child, "exit");
  pod.child.kill("SIGCONT");
  pod.child.kill("SIGKILL");
  await exited;
}

/** startChildPod, killed (SIGCONT, then SIGKILL) when `owner` ends. */
export async function childPod(owner: Owner, name: string, port = 0): Promise<ChildPod> {
  const pod = await startChildPod(name, port);
  defer(owner, () => killChildPod(pod));
  return pod;
}
