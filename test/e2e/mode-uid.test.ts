/** End to end in return-path mode `uid`: see test/helpers/e2e-modes.ts for what is checked. */
import { defineModeTests } from '../helpers/e2e-modes.js';

defineModeTests('uid');
