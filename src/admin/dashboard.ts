// The dashboard's HTTP side: the page at / (dashboard-page.ts) and uPlot's own files, read
// from its package in node_modules (resolved from here, so it works from src/ and dist/).
// The page itself reads /history and /clusters like any other client.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { ServerResponse } from "node:http";
import { DASHBOARD_HTML } from "./dashboard-page.js";

const require = createRequire(import.meta.url);

/** What the page loads besides itself: path -> the package file and its content type. */
const ASSETS: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  "/assets/uPlot.iife.min.js": { file: "uplot/dist/uPlot.iife.min.js", type: "text/javascript; charset=utf-8" },
  "/assets/uPlot.min.css": { file: "uplot/dist/uPlot.min.css", type: "text/css; charset=utf-8" },
};

/** Read once, on first request: the admin server of a proxy that nobody looks at never reads them. */
const loaded = new Map<string, Promise<Buffer>>();

/**
 * Answers the dashboard's paths (/ and /assets/...); false for any other path. The caller
 * has checked the method (GET or HEAD).
 */
export async function serveDashboard(pathname: string, res: ServerResponse): Promise<boolean> {
  if (pathname === "/") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(DASHBOARD_HTML);
    return true;
  }
  const asset = ASSETS[pathname];
  if (asset === undefined) return false;
  let body = loaded.get(pathname);
  if (body === undefined) {
    body = readFile(require.resolve(asset.file));
    loaded.set(pathname, body);
    // A failed read (uplot missing) is retried on the next request rather than cached.
    void body.catch(() => loaded.delete(pathname));
  }
  const bytes = await body;
  // The files change only with the installed uplot version, i.e. with a restart.
  res.writeHead(200, { "content-type": asset.type, "content-length": bytes.length, "cache-control": "max-age=3600" });
  res.end(bytes);
  return true;
}
