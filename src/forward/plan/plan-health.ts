/**
 * What `netfwd run` has measured that a plan depends on: which of a
 * backend's tunnels the selected services' own traffic uses (the first one
 * with a fresh handshake and a live frontend), and (frontend) which targets
 * of a forward are healthy. `netfwd up` has no measurements: it keeps what
 * the kernel holds where that is still valid, and otherwise takes the spec's
 * order (the first tunnel, the first target).
 */
export interface PlanHealth {
  /**
   * Backend with several tunnels: the interface the selected services' own
   * outgoing traffic (modes uid and mark, returnPath.sources) leaves by.
   * Default: the one it leaves by now, when that is still one of the spec's
   * tunnels; else the first.
   */
  egressTunnel?: string;
  /**
   * Frontend: the forwards' targets found down, by their key
   * (NormalizedForwardTarget.key, e.g. 'forwards[0] home' or
   * 'forwards[1] home/198.51.100.131'). Undefined (no measurement, `netfwd
   * up`): every forward keeps the target(s) its map elements point at now
   * when they are still among its targets, else takes the spec's order.
   */
  downTargets?: ReadonlySet<string>;
}
