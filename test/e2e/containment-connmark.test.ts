/**
 * Containment (issue 16) end to end in mode connmark: the upstream attacker, the
 * compromised backend and leaks by the home uplink — see test/helpers/containment.ts.
 */
import { defineContainmentTests } from '../helpers/containment.js';

defineContainmentTests('connmark');
