export {
  APIC_BASE_MSR,
  APIC_DEFAULT_BASE,
  APIC_PAGE_SIZE,
  APIC_REG,
  DEST_SHORTHAND,
  ESR,
  ICR,
  isX2apicMsr,
  LVT,
  MSR,
  SVR,
  TIMER_MODE,
  x2apicMsr,
  x2apicOffset,
} from './apic.js';
export { high32, join64, low32, TWO_POW_32 } from './bits.js';
export type { GuestPhysicalMap } from './bus.js';
export { AddressMapError, GPA_ACCESS, PhysicalBus } from './bus.js';
export type {
  DeliveryMode,
  DmaPort,
  InterruptLine,
  InterruptLineListener,
  InterruptMessage,
  InterruptMessageSink,
  MmioDevice,
  MmioSize,
  MsiSink,
  MsrAccessResult,
  MsrDevice,
  MsrValue,
} from './devices.js';
export {
  DELIVERY_MODE,
  DEST_MODE,
  DirectDmaPort,
  DMA_OK,
  formatRequesterId,
  MSR_GP,
  MSR_OK,
  makeInterruptMessage,
  requesterId,
  TRIGGER_MODE,
} from './devices.js';
export { UserError } from './errors.js';
export type { IdtGate } from './idt.js';
export {
  decodeIdtGate,
  decodeIdtGateWords,
  decodeIdtr,
  encodeIdtGate,
  encodeIdtr,
  GATE_TYPE,
  gateDpl,
  gateOffsetNumber,
  gatePresent,
  gateType,
  IDT_GATE_SIZE,
  interruptGate,
} from './idt.js';
export { encodePvEoiMsr, KVM_FEATURE_PV_EOI, KVM_MSR, KVM_PV_EOI } from './kvm-para.js';
export type { ApicBus, LocalApic } from './lapic.js';
export type { PhysicalMemory } from './memory.js';
export { MemoryConfigError, MemoryWindow, PAGE_SIZE, SparseMemory } from './memory.js';
export type { CompatMsi, RemappableMsi } from './msi.js';
export {
  decodeCompatMsi,
  decodeRemappableMsi,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  encodeRemappableMsiAddress,
  encodeRemappableMsiData,
  isMsiAddress,
  isRemappableMsi,
  MSI_ADDRESS_BASE,
  MSI_ADDRESS_MASK,
  MSI_ADDRESS_REMAPPABLE_FORMAT,
  remappableMsiIndex,
} from './msi.js';
export type { PciConfigSize, PciFunction } from './pci.js';
export {
  decodeExtCapHeader,
  encodeExtCapHeader,
  findCapability,
  findExtendedCapability,
  MSIX_BIR_MASK,
  MSIX_CAP,
  MSIX_CONTROL,
  MSIX_ENTRY,
  PCI_BAR,
  PCI_CAP_ID,
  PCI_CAP_NEXT,
  PCI_CFG,
  PCI_COMMAND,
  PCI_CONFIG_SPACE_SIZE,
  PCI_EXT_CAP_ID,
  PCI_EXT_CAP_START,
  PCI_STATUS,
  PCIE_CAP,
  SRIOV_CAP,
  SRIOV_CONTROL,
} from './pci.js';
export { RFLAGS } from './rflags.js';
export type { CpuContext, Frame, Routine } from './software.js';
export { CodeSpace } from './software.js';
export {
  EXCEPTION,
  exceptionHasErrorCode,
  FIRST_EXTERNAL_VECTOR,
  idtErrorCode,
  isContributoryException,
  isVector,
  priorityClass,
  VECTOR_COUNT,
} from './vectors.js';
export type { ExitReason, InterruptionInfo, VmcsField } from './vmx.js';
export {
  ACTIVITY_STATE,
  APIC_ACCESS_TYPE,
  DESCRIPTOR_TABLE_INSTRUCTION,
  decodeInterruptionInfo,
  ENTRY_CONTROLS,
  EPT_VIOLATION_QUAL,
  EXIT_CONTROLS,
  EXIT_REASON,
  EXIT_REASON_ENTRY_FAILURE,
  encodeInterruptionInfo,
  exitReasonName,
  GUEST_INTERRUPT_STATUS_BITS,
  INSTRUCTION_INFO,
  INTERRUPTIBILITY,
  INTR_INFO,
  INTR_TYPE,
  interruptionInfo,
  MSR_BITMAP,
  msrBitmapPosition,
  PIN_BASED,
  POSTED_INTERRUPT_DESCRIPTOR,
  PROC_BASED,
  PROC_BASED2,
  setMsrIntercept,
  VM_INSTRUCTION_ERROR,
  VMCS_FIELD,
  VMCS_FIELD_TYPE,
  VMCS_FIELD_WIDTH,
  vmcsFieldType,
  vmcsFieldWidth,
} from './vmx.js';
export type { VmxStatus } from './vmx-status.js';
export { VMX_STATUS } from './vmx-status.js';
