/**
 * Sysctls under net. of the spec's namespace (through the namespace
 * primitives), or of the caller's own namespace when the spec has none.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { netns as namespaces, sysctlPath } from '../../netns/index.js';

export function readSysctl(netns: string | undefined, key: string): string {
  if (netns !== undefined) return namespaces.sysctl(netns, key);
  return readFileSync(sysctlPath(key), 'utf8').trim();
}

export function writeSysctl(netns: string | undefined, key: string, value: string): void {
  if (netns !== undefined) namespaces.sysctl(netns, key, value);
  else writeFileSync(sysctlPath(key), value);
}
