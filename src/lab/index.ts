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
export { tcpAsk, udpAsk, whoami } from './probes.js';
export { endProcessesIn, LAB_ADDRESSES, Lab, type LabHost, type LabHostName, type LabOptions, withLab } from './topology.js';
