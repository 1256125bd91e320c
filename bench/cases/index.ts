/** The benchmark cases, with the sizes the issues name (smaller with --quick). */
import type { BenchCase } from '../lib/harness.js';
import { routesCase } from './routes.js';
import { rulesCase } from './rules.js';

export function allCases(quick: boolean): Array<BenchCase<any>> {
  return [
    routesCase(quick ? [1000, 10000] : [1000, 10000, 100000]),
    rulesCase(quick ? [1000] : [1000, 10000]),
  ];
}
