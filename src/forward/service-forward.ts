/**
 * `forwardService(spec)`: the declarative API. The spec is validated at once
 * (ConfigError before anything touches the kernel); plan, apply, status and
 * down each open the spec's namespace, read what netfwd owns, and act.
 */
import { type ApplyHooks, applySteps } from './plan/apply.js';
import { type ForwardOptions, type Kernel, openKernel } from './plan/context.js';
import type { Plan } from './plan/plan.js';
import type { PlanHealth } from './plan/plan-health.js';
import { planDown, planUp } from './plan/planner.js';
import { ResolveError, type ResolveOptions, resolveEndpoints } from './plan/resolve.js';
import type { NormalizedConfig } from './spec/normalized-config.js';
import type { ServiceForwardSpec } from './spec/spec.js';
import { type ValidateOptions, validateSpec } from './spec/validate/index.js';
import { type ForwardStatus, type ProbeOptions, readStatus } from './status/status.js';

export interface ApplyResult {
  /** The plan that was applied (empty when nothing had to change). */
  plan: Plan;
  /**
   * Netlink messages that changed kernel state, counted on this call's own
   * connections (so concurrent work elsewhere in the process does not count).
   * A userspace WireGuard daemon is configured over its UAPI socket, which is
   * not netlink and not counted.
   */
  netlinkWrites: number;
}

export interface ServiceForwardOptions extends ForwardOptions, ValidateOptions, ResolveOptions {}

export class ServiceForward {
  /** The validated, normalised configuration. */
  readonly config: NormalizedConfig;
  private readonly options: ServiceForwardOptions;

  constructor(spec: ServiceForwardSpec | NormalizedConfig, options: ServiceForwardOptions = {}) {
    this.config = isNormalized(spec) ? spec : validateSpec(spec as unknown, options);
    this.options = options;
  }

  /** Opens the kernel handles with the config whose host name endpoint (if any) is resolved now (ResolveError before anything is touched). */
  private async with<T>(fn: (k: Kernel, config: NormalizedConfig) => Promise<T>, config?: NormalizedConfig): Promise<T> {
    const resolved = config ?? (await resolveEndpoints(this.config, this.options));
    const k = await openKernel(resolved, this.options);
    try {
      return await fn(k, resolved);
    } finally {
      k.close();
    }
  }

  /** The changes `apply()` would make, without making them (`health`: what `netfwd run` measured, see PlanHealth). */
  plan(options: { health?: PlanHealth } = {}): Promise<Plan> {
    return this.with((k, config) => planUp(k, config, options.health));
  }

  /**
   * Makes the kernel match the spec. Idempotent: when nothing differs, nothing
   * is written. On a failure the steps already applied are undone and an
   * ApplyError names the failing step.
   */
  apply(options: { hooks?: ApplyHooks; health?: PlanHealth } = {}): Promise<ApplyResult> {
    return this.with(async (k, config) => {
      const before = k.writes();
      const plan = await planUp(k, config, options.health);
      await applySteps(plan.steps, options.hooks);
      return { plan, netlinkWrites: k.writes() - before };
    });
  }

  /**
   * Tunnel, counters, present objects, drift and warnings; with `probe`, the
   * end-to-end probe too. An endpoint host name that does not resolve is a
   * warning here (the drift then shows the endpoint), not an error.
   */
  async status(options: ProbeOptions = {}): Promise<ForwardStatus> {
    let config = this.config;
    let unresolved: ResolveError | undefined;
    try {
      config = await resolveEndpoints(this.config, this.options);
    } catch (err) {
      if (!(err instanceof ResolveError)) throw err;
      unresolved = err;
    }
    const status = await this.with((k, c) => readStatus(k, c, options), config);
    if (unresolved) status.warnings.push(unresolved.message);
    return status;
  }

  /** The changes `down()` would make. */
  planDown(): Promise<Plan> {
    return this.with((k) => planDown(k, this.config), this.config);
  }

  /** Removes exactly what netfwd owns for this spec. */
  down(options: { hooks?: ApplyHooks } = {}): Promise<ApplyResult> {
    return this.with(async (k) => {
      const before = k.writes();
      const plan = await planDown(k, this.config);
      await applySteps(plan.steps, options.hooks);
      return { plan, netlinkWrites: k.writes() - before };
    }, this.config);
  }
}

function isNormalized(x: unknown): x is NormalizedConfig {
  return typeof x === 'object' && x !== null && 'families' in x && Array.isArray((x as { families: unknown }).families);
}

/** Validates `spec` (ConfigError when invalid, before anything touches the kernel) and returns its handle. */
export function forwardService(spec: ServiceForwardSpec, options: ServiceForwardOptions = {}): ServiceForward {
  return new ServiceForward(spec, options);
}
