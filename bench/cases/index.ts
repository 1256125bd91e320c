/** The benchmark cases, with the sizes the issue names (smaller with --quick, smallest with --smoke). */
import type { BenchCase } from '../lib/harness.js';
import { bringupCase } from './bringup.js';
import { dataplaneConnectionsCase, dataplaneThroughputCase } from './dataplane.js';
import { fleetCase } from './fleet.js';
import { nftAddOneCase, nftMapCase, nftRulesCase } from './nft.js';
import { reconcileCase } from './reconcile.js';
import { routesCase } from './routes.js';
import { rulesCase } from './rules.js';
import { wireguardCase, wireguardKernelCase } from './wireguard.js';

export type Scale = 'full' | 'quick' | 'smoke';

export function allCases(scale: Scale): Array<BenchCase<any>> {
  const pick = <T>(full: T, quick: T, smoke: T) => (scale === 'full' ? full : scale === 'quick' ? quick : smoke);
  return [
    routesCase(pick([1000, 10000, 100000], [1000, 10000], [100])),
    rulesCase(pick([1000, 10000], [1000], [100])),
    nftMapCase(pick([100, 1000, 10000], [100, 10000], [100])),
    nftRulesCase(pick([100, 1000, 10000], [100, 1000], [100])),
    nftAddOneCase(pick([10000], [10000], [100])),
    wireguardCase(pick([100, 1000, 10000], [100, 1000], [10])),
    wireguardKernelCase(pick([100, 1000, 10000], [100, 1000], [10])),
    bringupCase(),
    reconcileCase(pick([10000], [1000], [10])),
    fleetCase(pick([100, 1000], [100], [10])),
    dataplaneConnectionsCase(pick(4000, 2000, 200)),
    dataplaneThroughputCase(pick(2048, 1024, 64)),
  ];
}
