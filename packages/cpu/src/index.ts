/**
 * `@exitless/cpu`: an x86 core with VMX that runs software written against `@exitless/x86`'s
 * `CpuContext` contract.
 *
 * @module @exitless/cpu
 */
export {
  APICV_CONTROLS,
  controlsAllowed1,
  ENTRY_ALLOWED1,
  EXIT_ALLOWED1,
  FEATURE_CONTROL_LOCKED_VMX,
  PIN_BASED_ALLOWED1,
  PROC_BASED_ALLOWED1,
  PROC_BASED2_ALLOWED1,
  VMX_BASIC,
  VMX_DEFAULT1,
  VMX_MISC_ACTIVITY_HLT,
} from './capabilities.js';
export type { CpuCosts } from './costs.js';
export { validateCpuCosts } from './costs.js';
export type { CpuCounters, CpuOptions } from './cpu.js';
export { Cpu, DEFAULT_CPU_HZ, DEFAULT_VMX_PREEMPTION_RATE } from './cpu.js';
export { CpuConfigError, CpuUsageError } from './errors.js';
export { CpuFrame, FRAME_KIND, FrameStack, MAX_FRAME_DEPTH } from './frames.js';
export type { CpuUnderTest, MeasuredCpu } from './part.js';
export { isSupportedVmcsField, maskToFieldWidth, Vmcs, VmcsStore, vmcsFieldBase } from './vmcs.js';
