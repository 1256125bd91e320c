/**
 * Applies a plan step by step. Each applied step records its undo; when a
 * step fails, the undos run in reverse order and an ApplyError says which
 * step failed and whether the previous state was restored.
 */
import { ApplyError } from '../../errors.js';
import { formatChange, type Step, type Undo } from './plan.js';

export interface ApplyHooks {
  /**
   * Called before each step with its 1-based position. Throwing here makes
   * that step fail (fault injection in tests; never set in production).
   */
  beforeStep?(step: Step, position: number): void | Promise<void>;
  /** Called after each step that succeeded. */
  afterStep?(step: Step, position: number): void | Promise<void>;
}

export interface ApplyReport {
  /** The steps applied, as printed by plan. */
  applied: string[];
}

export async function applySteps(steps: readonly Step[], hooks: ApplyHooks = {}): Promise<ApplyReport> {
  const undos: Undo[] = [];
  const applied: string[] = [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    try {
      await hooks.beforeStep?.(step, i + 1);
      const undo = await step.apply((recorded) => undos.push(recorded));
      if (undo) undos.push(undo);
      applied.push(formatChange(step));
      await hooks.afterStep?.(step, i + 1);
    } catch (cause) {
      const rollbackErrors: Error[] = [];
      for (const undo of undos.reverse()) {
        try {
          await undo.run();
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          rollbackErrors.push(new Error(`${undo.description}: ${e.message}`, { cause: e }));
        }
      }
      throw new ApplyError(formatChange(step), i + 1, steps.length, cause, rollbackErrors);
    }
  }
  return { applied };
}
