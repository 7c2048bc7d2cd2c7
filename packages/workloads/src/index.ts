export { WorkloadConfigError } from './errors.js';
export type { NetperfKernel, NetperfReceiverOptions, NetperfSocket } from './netperf-receiver.js';
export { NetperfReceiver } from './netperf-receiver.js';
export type {
  SenderPort,
  TcpCongestionOptions,
  TcpEndpointAddress,
  TcpSenderTiming,
  TcpStreamConnection,
  TcpStreamSenderOptions,
} from './tcp-stream-sender.js';
export { TcpStreamSender } from './tcp-stream-sender.js';
