// Module hooks (node:module register()) that append every module URL a process resolves to
// the file named by SLUICE_LOAD_LOG: which packages a command loads, read after it ran.
import { appendFileSync } from "node:fs";
import type { ResolveHook } from "node:module";

export const resolve: ResolveHook = async (specifier, context, next) => {
  const result = await next(specifier, context);
  const log = process.env["SLUICE_LOAD_LOG"];
  if (log !== undefined) appendFileSync(log, `${result.url}\n`);
  return result;
};
