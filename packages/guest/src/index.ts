export type { AckState } from './ack.js';
export { STREAM_ACK_SEQ, StreamAckBuilder } from './ack.js';
export type { ApicAccessMode, ApicCpu, TickRestart } from './apic.js';
export { APIC_TIMER_DIVIDE_BY_1, LapicDriver, SchedulerTick, TICK_RESTART } from './apic.js';
export type { BootKernel, BootOp, KernelHandlers } from './boot.js';
export { BOOT_OP, BOOT_PHASE, BootRoutine, BootScript, idtTarget, writeIdt } from './boot.js';
export type { GuestApplication, GuestKernelOptions, GuestNicConfig } from './config.js';
export {
  GuestConfigError,
  validateKernelOptions,
  validateTcpServerOptions,
  validateUdpSocketOptions,
} from './config.js';
export type { GuestCosts } from './costs.js';
export type { SocketRoute } from './demux.js';
export { SOCKET_ROUTE, SocketTable } from './demux.js';
export type { GroReceiver } from './gro.js';
export { GRO_MAX_BYTES, TcpGro } from './gro.js';
export type { IrqCounters, IrqKernel } from './irq.js';
export {
  MAILBOX_IRQ_STEP,
  MailboxIrqRoutine,
  RX_IRQ_STEP,
  RxIrqRoutine,
  TX_IRQ_STEP,
  TxIrqRoutine,
} from './irq.js';
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
export type { InterruptThrottling, IxgbevfCounters, IxgbevfOptions, IxgbevfStack } from './ixgbevf.js';
export { IXGBEVF_MSIX, IXGBEVF_RX_BUFFER_WRITE, Ixgbevf, QueueVector, TX_SLOT } from './ixgbevf.js';
export type { GuestKernelCounters } from './kernel.js';
export { GuestKernel } from './kernel.js';
export { GUEST_LAYOUT, GUEST_VECTOR } from './layout.js';
export { Napi } from './napi.js';
export type { NetStackCounters, NetStackOptions } from './netstack.js';
export { NetStack } from './netstack.js';
export type { GuestPvEoiOptions, PvEoiGuestCounters } from './pv-eoi.js';
export { PvEoiGuest } from './pv-eoi.js';
export type { IdleKernel, IdleState } from './sched.js';
export { IDLE_STATE, Scheduler } from './sched.js';
export type { SocketTransmit, TcpServerOptions, UdpSocketOptions } from './sockets.js';
export { TCP_STATE, TcpConnection, TcpListener, UdpSocket } from './sockets.js';
export type { TcpReceiverOptions } from './tcp.js';
export { TcpReceiver } from './tcp.js';
export type { TimerKernel, VectorCounters, VectorKernel } from './vectors.js';
export {
  EXCEPTION_STEP,
  ExceptionRoutine,
  SIMPLE_IRQ_STEP,
  SpuriousIrqRoutine,
  TIMER_IRQ_STEP,
  TimerIrqRoutine,
  UnexpectedIrqRoutine,
} from './vectors.js';
export type { TxDriver } from './xmit.js';
export { FrameTransmitter } from './xmit.js';
