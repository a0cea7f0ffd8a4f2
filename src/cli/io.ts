// Where a command writes its lines (stdout and stderr; tests capture them).
export interface Io {
  out(line: string): void;
  err(line: string): void;
}
