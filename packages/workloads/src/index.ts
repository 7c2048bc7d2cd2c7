export type { ApacheBenchOptions, ApacheServerOptions } from './apache.js';
export {
  ApacheBench,
  ApacheServer,
  abRequest,
  apacheResponseHeader,
  apacheResponseLength,
} from './apache.js';
export { WorkloadConfigError } from './errors.js';
export type { MemcachedServerOptions, MemslapOptions } from './memcached.js';
export {
  MEMCACHED_STORED_LENGTH,
  MemcachedServer,
  Memslap,
  memcachedGetResponseLength,
  memslapKey,
} from './memcached.js';
export type { NetperfKernel, NetperfReceiverOptions, NetperfSocket } from './netperf-receiver.js';
export { NetperfReceiver } from './netperf-receiver.js';
export { PeerCpu } from './peer-cpu.js';
export type { PeerCosts, PeerHostOptions, PeerKernel, PeerNicOptions } from './peer-host.js';
export { PeerHost, ZERO_COST_PEER } from './peer-host.js';
export type { PeerItrOptions } from './peer-itr.js';
export { ITR_CLASS, ixgbeUpdateItr, PeerItr } from './peer-itr.js';
export type { ServerCosts, TcpServerKernel } from './server.js';
export { EventLoopServer } from './server.js';
export type { ClientGeneratorOptions, TcpClientHandler, TcpClientOptions } from './tcp-client.js';
export { CLIENT_STATE, ClientConnection, TcpClient } from './tcp-client.js';
export type {
  HostAddress,
  SenderPort,
  TcpCongestionOptions,
  TcpEndpointAddress,
  TcpSenderTiming,
  TcpStreamConnection,
  TcpStreamSenderOptions,
} from './tcp-stream-sender.js';
export { ForwardingPort, TcpStreamSender } from './tcp-stream-sender.js';
export type { UdpKernel, UdpRrClientOptions, UdpRrServerOptions } from './udp-rr.js';
export { UdpRrClient, UdpRrServer } from './udp-rr.js';
