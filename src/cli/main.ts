#!/usr/bin/env node
/**
 * The `netfwd` command. This first version only reports its version; the
 * commands (up, down, plan, status, keygen, pubkey, doctor, demo) arrive with
 * the ServiceForward layer.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { version } = require('../package.json') as { version: string };

const args = process.argv.slice(2);
if (args[0] === '--version' || args[0] === '-V') {
  process.stdout.write(`${version}\n`);
  process.exit(0);
}
process.stderr.write(`netfwd ${version}: no commands are implemented yet (see README.md)\n`);
process.exit(64);
