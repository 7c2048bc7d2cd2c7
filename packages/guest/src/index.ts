export type { GuestCosts } from './costs.js';
export type { IrqCounters, IrqKernel } from './irq.js';
export { MailboxIrqRoutine, RxIrqRoutine, TxIrqRoutine } from './irq.js';
export type { ItrClass, ItrParameters } from './itr.js';
export {
  eitrForNewRate,
  eitrForRate,
  eitrIntsPerSecToReg,
  ITR_CLASS,
  ITR_CLASS_NAME,
  itrClassRate,
  stepItrClass,
  updateItr,
} from './itr.js';
export type { InterruptThrottling, IxgbevfOptions, IxgbevfStack } from './ixgbevf.js';
export { IXGBEVF_MSIX, IXGBEVF_RX_BUFFER_WRITE, Ixgbevf, QueueVector } from './ixgbevf.js';
export type { GuestApplication, GuestKernelOptions, GuestNicConfig } from './kernel.js';
export { GuestConfigError, GuestKernel } from './kernel.js';
export { GUEST_LAYOUT, GUEST_VECTOR } from './layout.js';
export { Napi } from './napi.js';
export type { SocketTransmit, TcpServerOptions, UdpSocketOptions } from './sockets.js';
export { TCP_STATE, TcpConnection, TcpListener, UdpSocket } from './sockets.js';
export type { TcpReceiverOptions } from './tcp.js';
export { TcpReceiver } from './tcp.js';
