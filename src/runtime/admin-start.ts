// Starting the admin server for `sluice proxy`: where the config puts it, by default
// 127.0.0.1:15000. A takeover successor waits for its predecessor to let go of the port; a
// default port some other process holds (a second sluice on the machine) is a warning, not
// a reason to refuse traffic; a configured address that cannot be bound is an error.
import type { Observability } from "../admin/observability.js";
import type { AdminAddress } from "../config/types.js";
import { announce } from "./events.js";
import type { Io } from "./io.js";

/** A takeover successor retries the admin port this often until its predecessor frees it... */
const ADMIN_RETRY_MS = 100;
/** ...for this long at most: the predecessor lets go right after the handover, or never held it. */
export const ADMIN_TAKEOVER_WAIT_MS = 10_000;

export type AdminStart = { readonly ok: true; readonly address: { host: string; port: number } | undefined; cancel(): void } | { readonly ok: false };

export async function startAdminServer(
  observability: Observability,
  where: AdminAddress | null,
  takeover: boolean,
  io: Io,
  retryMs = ADMIN_RETRY_MS,
  waitMs = ADMIN_TAKEOVER_WAIT_MS,
): Promise<AdminStart> {
  let retryTimer: NodeJS.Timeout | undefined;
  const cancel = (): void => clearTimeout(retryTimer);
  const configured = where?.configured === true;
  /** Serving without the admin server: a warning for the default address, an error for one asked for. */
  const without = (why: string): void =>
    announce(io, {
      level: configured ? "error" : "warn",
      event: "admin server not started; serving without it",
      fields: { admin: `${where?.host}:${where?.port}`, err: why },
      line: configured
        ? `sluice proxy: cannot start the admin server: ${why}; serving without it`
        : `warning: the admin server's default address ${where?.host}:${where?.port} is not usable (${why}); ` +
          'running without it. Set spec.admin or --admin to another port (0: any free one), or "none"',
    });
  try {
    return { ok: true, address: await observability.startAdmin(), cancel };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE" && takeover) {
      // The predecessor lets go of the admin port once it has handed over.
      const giveUpAt = Date.now() + waitMs;
      const retry = (): void => {
        retryTimer = setTimeout(() => {
          observability.startAdmin().then(
            (a) => a !== undefined && announceAdmin(io, a),
            (e2: NodeJS.ErrnoException) => {
              // Only a port the predecessor still holds is worth waiting for, and not for ever.
              if (e2.code === "EADDRINUSE" && Date.now() < giveUpAt) retry();
              else without(e2.code === "EADDRINUSE" ? `still in use ${waitMs / 1000} s after the takeover` : e2.message);
            },
          );
        }, retryMs);
      };
      retry();
      return { ok: true, address: undefined, cancel };
    }
    if (!configured && where !== null) {
      // Nobody asked for this address (a second sluice holds it, no IPv4 loopback): traffic matters more.
      without(e.code === "EADDRINUSE" ? "in use, by another sluice?" : e.message);
      return { ok: true, address: undefined, cancel };
    }
    io.err(`sluice proxy: cannot start the admin server: ${e.message}`);
    return { ok: false };
  }
}

/** The admin server listens: its line (which scripts read the URL from) and its log record. */
export function announceAdmin(io: Io, a: { host: string; port: number }): void {
  announce(io, { event: "admin server listening", fields: { admin: adminUrl(a) }, line: `sluice proxy admin on ${adminUrl(a)}` });
}

/** The admin server's base URL (IPv6 hosts in brackets). */
export function adminUrl(a: { host: string; port: number }): string {
  return `http://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}/`;
}

/** What `sluice demo` prints (and `npm start` shows). */
export function dashboardLine(a: { host: string; port: number }): string {
  return `sluice demo: dashboard at ${adminUrl(a)} (metrics at ${adminUrl(a)}metrics)`;
}
