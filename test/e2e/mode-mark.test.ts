/** End to end in return-path mode `mark`: see test/helpers/e2e-modes.ts for what is checked. */
import { defineModeTests } from '../helpers/e2e-modes.js';

defineModeTests('mark');
