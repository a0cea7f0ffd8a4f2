// Where a command writes its lines: stdout for what scripts and tests wait for (listening,
// a reload applied), stderr for the rest. The runtime prints through it and never to the
// console, so tests capture every line in process.
export interface Io {
  out(line: string): void;
  err(line: string): void;
}
