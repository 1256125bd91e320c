/** End to end in return-path mode `snat`: see test/helpers/e2e-modes.ts for what is checked. */
import { defineModeTests } from '../helpers/e2e-modes.js';

defineModeTests('snat');
