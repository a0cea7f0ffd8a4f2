// Where a command writes its lines. stdout: what people and scripts read, one plain line per
// lifecycle event (events.ts: listening, a config applied, a drain...) and the warnings and
// problems that go with it. stderr: the log (pino, JSON or text per --log-format) and, when
// the command cannot run at all, why. The runtime prints through it and never to the console,
// so tests capture every line in process.
export interface Io {
  out(line: string): void;
  err(line: string): void;
}
