// Where a command writes its lines (stdout and stderr; tests capture them). The runtime owns
// the type: it prints the proxy's lines.
export type { Io } from "../runtime/io.js";
