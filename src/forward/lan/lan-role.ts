/**
 * `lanRole(spec)`: the two LAN roles of the tagged-routing recipe as a
 * declarative API, the same shape as forwardService: the spec is validated at
 * once (ConfigError before anything touches the kernel); plan, apply, status
 * and down each open the spec's namespace, read what netfwd owns, and act.
 */
import { type ApplyHooks, applySteps } from '../plan/apply.js';
import { type Kernel, openKernelIn } from '../plan/context.js';
import type { Plan } from '../plan/plan.js';
import type { ApplyResult } from '../service-forward.js';
import { planLanDown, planLanUp } from './planner.js';
import type { LanRoleSpec, NormalizedLanConfig } from './spec.js';
import { type LanRoleStatus, readLanStatus } from './status.js';
import { validateLanSpec } from './validate.js';

/** A lan-router or service-host configuration, validated. */
export class LanRole {
  /** The validated, normalised configuration. */
  readonly config: NormalizedLanConfig;

  constructor(spec: LanRoleSpec | NormalizedLanConfig) {
    // A validated router has its families (and `via` as parsed addresses); a validated service host validates as it is.
    const validated = spec.role === 'lan-router' && Array.isArray((spec as { families?: unknown }).families);
    this.config = validated ? (spec as NormalizedLanConfig) : validateLanSpec(spec);
  }

  private async with<T>(fn: (k: Kernel) => Promise<T>): Promise<T> {
    const k = await openKernelIn(this.config.netns, {});
    try {
      return await fn(k);
    } finally {
      k.close();
    }
  }

  /** The changes `apply()` would make, without making them (warnings included). */
  plan(): Promise<Plan> {
    return this.with((k) => planLanUp(k, this.config));
  }

  /**
   * Makes the kernel match the spec. Idempotent: when nothing differs, nothing
   * is written. On a failure the steps already applied are undone and an
   * ApplyError names the failing step.
   */
  apply(options: { hooks?: ApplyHooks } = {}): Promise<ApplyResult> {
    return this.with(async (k) => {
      const before = k.writes();
      const plan = await planLanUp(k, this.config);
      await applySteps(plan.steps, options.hooks);
      return { plan, netlinkWrites: k.writes() - before };
    });
  }

  /** What is present, the counters of the tagged packets, drift and warnings. */
  status(): Promise<LanRoleStatus> {
    return this.with((k) => readLanStatus(k, this.config));
  }

  /** The changes `down()` would make. */
  planDown(): Promise<Plan> {
    return this.with((k) => planLanDown(k, this.config));
  }

  /** Removes exactly what netfwd made for this spec and puts the sysctls it changed back. */
  down(options: { hooks?: ApplyHooks } = {}): Promise<ApplyResult> {
    return this.with(async (k) => {
      const before = k.writes();
      const plan = await planLanDown(k, this.config);
      await applySteps(plan.steps, options.hooks);
      return { plan, netlinkWrites: k.writes() - before };
    });
  }
}

/** Validates `spec` (ConfigError when invalid, before anything touches the kernel) and returns its handle. */
export function lanRole(spec: LanRoleSpec): LanRole {
  return new LanRole(spec);
}
