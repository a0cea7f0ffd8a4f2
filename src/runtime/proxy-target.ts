// The proxy as the target of config snapshots: reconfigured in place (RPCs in flight carry
// on); what needs a restart is only warned about.
import type { Proxy } from "../proxy/proxy.js";
import { describeReload, isNoop } from "../proxy/reconfigure.js";
import type { ReloadTarget } from "./config-applier.js";

export function proxyReloadTarget(proxy: Proxy): ReloadTarget {
  return {
    async apply(config) {
      const plan = await proxy.reconfigure(config);
      return {
        summary: describeReload(plan),
        noop: isNoop(plan),
        warnings: plan.needsRestart.map((r) => `${r.split(":")[0]} changed; it needs a restart and is not applied (${r})`),
        fields: {
          added: plan.added,
          removed: plan.removed,
          changed: Object.fromEntries(plan.changed),
          routesChanged: plan.routesChanged,
          listener: plan.listenerChanged,
          needsRestart: plan.needsRestart,
        },
      };
    },
  };
}
