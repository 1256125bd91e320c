/** `netfwd/lab`: network-namespace topologies for tests and the demo. */
export { LAB_ADDRESSES, Lab, endProcessesIn, withLab, type LabHost, type LabHostName, type LabOptions } from './topology.js';
export { runInNetns, startInNetns, type NetnsTask, type PortableFunction } from '../netns/run-in-netns.js';
export { tcpAsk, udpAsk, whoami } from './probes.js';
