// A simulated backend: serves up to `concurrency` RPCs at once from a FIFO queue, each for a
// sampled service time (times its slow factor), or fails a share of them fast.
import type { Clock } from "../core/clock.js";
import type { Random } from "../core/random.js";
import { Status } from "../core/status.js";
import type { Sampler } from "./distribution.js";

const MIN_SERVICE_MS = 0.001;

export type ServeDone = (status: number) => void;

export class SimBackend {
  /** RPCs being served (not queued). */
  active = 0;
  /** In the balancing set (false once removed). */
  alive = true;
  slowFactor = 1;
  errorRate = 0;
  private readonly queue: ServeDone[] = [];
  private head = 0;

  constructor(
    /** "pod-N". */
    readonly name: string,
    /** Index in the simulation's backend list (series columns). */
    readonly index: number,
    readonly address: string,
    readonly port: number,
    readonly addedAt: number,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly serviceTime: Sampler,
    private readonly concurrency: number,
    private readonly failMs: number,
  ) {}

  removedAt: number | null = null;

  get key(): string {
    return `${this.address}:${this.port}`;
  }

  /** RPCs waiting for a free slot. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  serve(done: ServeDone): void {
    if (this.errorRate > 0 && this.random() < this.errorRate) {
      this.clock.setTimer(this.failMs, () => done(Status.UNAVAILABLE));
      return;
    }
    if (this.active < this.concurrency) this.start(done);
    else this.queue.push(done);
  }

  private start(done: ServeDone): void {
    this.active++;
    // At least 1 µs, so that a closed loop always moves the virtual clock.
    this.clock.setTimer(Math.max(MIN_SERVICE_MS, this.serviceTime() * this.slowFactor), () => {
      this.active--;
      if (this.head < this.queue.length) {
        const next = this.queue[this.head]!;
        this.queue[this.head++] = noop;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue.splice(0, this.head);
          this.head = 0;
        }
        this.start(next);
      }
      done(Status.OK);
    });
  }
}

function noop(): void {}
