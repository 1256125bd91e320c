/** `netfwd/lab`: network-namespace topologies for tests and the demo. */

export { type NetnsTask, type PortableFunction, runInNetns, startInNetns } from '../netns/run-in-netns.js';
export {
  LAN_LAB_ADDRESSES,
  LAN_LAB_NFT_TABLE,
  type LanHost,
  type LanHostName,
  LanLab,
  type LanLabOptions,
  withLanLab,
} from './lan-topology.js';
export {
  MULTI_FRONTEND_LAB_ADDRESSES,
  MULTI_FRONTEND_LAB_NFT_TABLE,
  type MultiFrontendHost,
  type MultiFrontendHostName,
  MultiFrontendLab,
  type MultiFrontendLabOptions,
  type VpsName,
  withMultiFrontendLab,
} from './multi-frontend.js';
export { tcpAsk, udpAsk, whoami } from './probes.js';
export { endProcessesIn, LAB_ADDRESSES, Lab, type LabHost, type LabHostName, type LabOptions, withLab } from './topology.js';
