// A channel's connectivity state transitions (IDLE, CONNECTING, READY, TRANSIENT_FAILURE,
// SHUTDOWN) as callbacks, instead of grpc-js's one-shot watchConnectivityState that must
// be re-armed after every change. For dashboards, logs, and "is the backend reachable"
// readiness checks.
import { connectivityState, type ChannelInterface, type Client } from "@grpc/grpc-js";
import { logger, tracer } from "../core/trace.js";

const trace = tracer("channel_state");

export type ChannelState = "IDLE" | "CONNECTING" | "READY" | "TRANSIENT_FAILURE" | "SHUTDOWN";

export interface StateChange {
  readonly from: ChannelState;
  readonly to: ChannelState;
}

export interface WatchOptions {
  /** Ask an IDLE channel to connect when the watch starts (getConnectivityState(true)). */
  readonly connect?: boolean;
}

function stateName(state: connectivityState): ChannelState {
  return connectivityState[state] as ChannelState;
}

/**
 * Calls `onChange` for every state transition of the channel (or a Client's channel)
 * from now on, SHUTDOWN last. Returns an unsubscribe function; after it, `onChange` is
 * never called again. (grpc-js offers no way to remove a watcher, so the one pending
 * watcher is dropped at the channel's next transition; it holds no timer.)
 */
export function watchState(target: ChannelInterface | Client, onChange: (change: StateChange) => void, options: WatchOptions = {}): () => void {
  const channel = "getChannel" in target ? target.getChannel() : target;
  let subscribed = true;
  let current = channel.getConnectivityState(options.connect === true);
  const arm = (): void => {
    if (current === connectivityState.SHUTDOWN) return;
    channel.watchConnectivityState(current, Infinity, () => {
      if (!subscribed) return;
      const next = channel.getConnectivityState(false);
      const change = { from: stateName(current), to: stateName(next) };
      current = next;
      trace("transition", { target: channel.getTarget(), ...change });
      arm();
      // grpc-js runs this inside its own state change: an exception escaping here would
      // leave the channel READY over a subchannel that is not (calls retried forever).
      try {
        onChange(change);
      } catch (err) {
        logger.error({ err, target: channel.getTarget(), ...change }, "watchState: the callback threw; the watch goes on");
      }
    });
  };
  arm();
  return () => {
    subscribed = false;
  };
}
