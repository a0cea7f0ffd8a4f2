// The streams a connection closed lately, and how: RFC 9113 section 5.1 answers a frame on a
// closed stream by how it closed. After we reset a stream, frames the peer sent before it saw
// our RST_STREAM are still on their way and are ignored; after the peer ended or reset it, a
// DATA or HEADERS frame breaks the rules (STREAM_CLOSED). A bounded window of the most
// recent closes, newest first: a stream closed longer ago is not told apart.
const CAPACITY = 128;

export const ClosedBy = {
  /** Not in the window: closed long ago, or an id the peer skipped. */
  UNKNOWN: 0,
  /** We sent RST_STREAM. */
  US_RESET: 1,
  /** Both sides ended it, or the peer reset it. */
  ENDED: 2,
} as const;
export type ClosedBy = (typeof ClosedBy)[keyof typeof ClosedBy];

export class ClosedStreams {
  // Allocated with the first close: a connection that never carried a stream pays nothing.
  private ids: Int32Array | undefined;
  private how: Uint8Array | undefined;
  private next = 0;

  /** Records a close; a stream we reset stays recorded as such when it then leaves the table. */
  add(id: number, how: typeof ClosedBy.US_RESET | typeof ClosedBy.ENDED): void {
    if (how === ClosedBy.ENDED && this.lookup(id) === ClosedBy.US_RESET) return;
    if (this.ids === undefined) {
      this.ids = new Int32Array(CAPACITY);
      this.how = new Uint8Array(CAPACITY);
    }
    this.ids[this.next] = id;
    this.how![this.next] = how;
    this.next = (this.next + 1) % CAPACITY;
  }

  lookup(id: number): ClosedBy {
    const ids = this.ids;
    if (ids === undefined) return ClosedBy.UNKNOWN;
    for (let k = 1; k <= CAPACITY; k++) {
      const i = (this.next - k + CAPACITY) % CAPACITY;
      if (ids[i] === id) return this.how![i] as ClosedBy;
    }
    return ClosedBy.UNKNOWN;
  }
}
