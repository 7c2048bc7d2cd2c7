export type { VirtualApicTimerOptions } from './apic-timer.js';
export { KVM_MIN_TIMER_PERIOD_US, VirtualApicTimer } from './apic-timer.js';
export type { BaselineCosts, BaselineStrategyOptions } from './baseline.js';
export {
  BaselineStrategy,
  baselineStrategy,
  injectPendingInterrupt,
  requestWindowIfPending,
} from './baseline.js';
export type { HostCosts } from './costs.js';
export type { DidCosts, DidCounters, DidStrategyOptions } from './did.js';
export { DID_VECTOR_RANGE, DidStrategy, DidVcpuState, didStrategy } from './did.js';
export type { ExitHandlersOptions } from './exits.js';
export { completesGuestInstruction, ExitHandlers, skipEmulatedInstruction } from './exits.js';
export type { HaltPollOptions } from './halt-poll.js';
export {
  adjustHaltPollNs,
  growHaltPollNs,
  haltPollOptionsProblem,
  shrinkHaltPollNs,
} from './halt-poll.js';
export type { HrTimer } from './hrtimer.js';
export { HrTimerQueue } from './hrtimer.js';
export type { AssignedInterruptPath, HostCpu, HypervisorOptions } from './hypervisor.js';
export { Hypervisor, HypervisorConfigError } from './hypervisor.js';
export { HOST_LAYOUT, HOST_VECTOR } from './layout.js';
export type { PcpuCounters } from './pcpu.js';
export type { PostedCosts, PostedCounters, PostedStrategyOptions } from './posted.js';
export {
  descriptorControl,
  highestPir,
  initPostedDescriptor,
  PostedStrategy,
  PostedVcpuState,
  postedStrategy,
  postInterrupt,
  setControlBit,
  setNotification,
  syncPirToVirr,
} from './posted.js';
export type { PvEoiCosts, PvEoiCounters, PvEoiStrategyOptions } from './pv-eoi.js';
export { PvEoiStrategy, PvEoiVcpuState, pvEoiFlagAddress, pvEoiMsrFault, pvEoiStrategy } from './pv-eoi.js';
export type {
  ExitNotHandled,
  GuestTimerProgramming,
  HostMsrContinuation,
  InterruptVirtualization,
  ProfileReader,
  VcpuControl,
  VirtualLapic,
} from './strategy.js';
export { EXIT_NOT_HANDLED } from './strategy.js';
export type { AfterExit, HostMsrOp, HostMsrRequest, VcpuCounters, VcpuOptions } from './vcpu.js';
export { AFTER_EXIT, HOST_MSR_OP, Vcpu } from './vcpu.js';
export type { ApicWriteResult, VirtualApicOptions } from './virtual-apic.js';
export { APIC_WRITE, VirtualApic } from './virtual-apic.js';
export type { AssignedFunctionConfig, VmConfig } from './vm.js';
export { AssignedFunction, Vm } from './vm.js';
