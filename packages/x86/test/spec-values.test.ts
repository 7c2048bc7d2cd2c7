import { describe, expect, it } from 'vitest';
import {
  ACTIVITY_STATE,
  APIC_ACCESS_TYPE,
  APIC_BASE_MSR,
  APIC_REG,
  DELIVERY_MODE,
  DESCRIPTOR_TABLE_INSTRUCTION,
  DEST_SHORTHAND,
  decodeExtCapHeader,
  ENTRY_CONTROLS,
  EPT_VIOLATION_QUAL,
  ESR,
  EXCEPTION,
  EXIT_CONTROLS,
  EXIT_REASON,
  EXIT_REASON_ENTRY_FAILURE,
  encodeExtCapHeader,
  encodePvEoiMsr,
  GATE_TYPE,
  ICR,
  INSTRUCTION_INFO,
  INTERRUPTIBILITY,
  INTR_INFO,
  INTR_TYPE,
  isContributoryException,
  KVM_FEATURE_PV_EOI,
  KVM_MSR,
  KVM_PV_EOI,
  LVT,
  MSIX_CAP,
  MSIX_CONTROL,
  MSIX_ENTRY,
  MSR,
  MSR_BITMAP,
  PCI_BAR,
  PCI_CAP_ID,
  PCI_CFG,
  PCI_COMMAND,
  PCI_EXT_CAP_ID,
  PCI_STATUS,
  PCIE_CAP,
  PIN_BASED,
  POSTED_INTERRUPT_DESCRIPTOR,
  PROC_BASED,
  PROC_BASED2,
  SRIOV_CAP,
  SRIOV_CONTROL,
  SVR,
  TIMER_MODE,
  VM_INSTRUCTION_ERROR,
  VMCS_FIELD,
  x2apicMsr,
} from '../src/index.js';

/**
 * Every architectural constant of this package against the value its source documents. The expected
 * values are written as the sources write them (bit numbers as `bit(n)`, encodings in hex), so a
 * constant that drifts from the SDM, the PCI specifications, VT-d or the KVM ABI fails here.
 *
 * Sources: Intel SDM vol. 3 (appendix B "Field encoding in VMCS", appendix C "VMX basic exit
 * reasons", §24.4.2, §24.6–24.9, §27.2, §30.4, ch. 6 and ch. 10); Linux
 * arch/x86/include/asm/{vmx.h,vmxfeatures.h,apicdef.h}, arch/x86/include/uapi/asm/{vmx.h,kvm_para.h},
 * include/uapi/linux/pci_regs.h, Documentation/virt/kvm/x86/msr.rst; VT-d §5.1.2.2 and §9.12.
 */

/** The value of a control bit, as the SDM's tables number them. */
const bit = (n: number): number => 2 ** n;

describe('VMCS field encodings (SDM vol. 3 appendix B; Linux asm/vmx.h enum vmcs_field)', () => {
  it('gives each field its appendix-B encoding', () => {
    expect(VMCS_FIELD).toMatchObject({
      VIRTUAL_PROCESSOR_ID: 0x0000,
      POSTED_INTR_NOTIFICATION_VECTOR: 0x0002,
      GUEST_INTERRUPT_STATUS: 0x0810,
      IO_BITMAP_A: 0x2000,
      IO_BITMAP_B: 0x2002,
      MSR_BITMAP: 0x2004,
      TSC_OFFSET: 0x2010,
      VIRTUAL_APIC_PAGE_ADDR: 0x2012,
      APIC_ACCESS_ADDR: 0x2014,
      POSTED_INTR_DESC_ADDR: 0x2016,
      EPT_POINTER: 0x201a,
      EOI_EXIT_BITMAP0: 0x201c,
      EOI_EXIT_BITMAP1: 0x201e,
      EOI_EXIT_BITMAP2: 0x2020,
      EOI_EXIT_BITMAP3: 0x2022,
      GUEST_PHYSICAL_ADDRESS: 0x2400,
      VMCS_LINK_POINTER: 0x2800,
      PIN_BASED_VM_EXEC_CONTROL: 0x4000,
      CPU_BASED_VM_EXEC_CONTROL: 0x4002,
      EXCEPTION_BITMAP: 0x4004,
      PAGE_FAULT_ERROR_CODE_MASK: 0x4006,
      PAGE_FAULT_ERROR_CODE_MATCH: 0x4008,
      VM_EXIT_CONTROLS: 0x400c,
      VM_ENTRY_CONTROLS: 0x4012,
      VM_ENTRY_INTR_INFO: 0x4016,
      VM_ENTRY_EXCEPTION_ERROR_CODE: 0x4018,
      VM_ENTRY_INSTRUCTION_LEN: 0x401a,
      TPR_THRESHOLD: 0x401c,
      SECONDARY_VM_EXEC_CONTROL: 0x401e,
      VM_INSTRUCTION_ERROR: 0x4400,
      VM_EXIT_REASON: 0x4402,
      VM_EXIT_INTR_INFO: 0x4404,
      VM_EXIT_INTR_ERROR_CODE: 0x4406,
      IDT_VECTORING_INFO: 0x4408,
      IDT_VECTORING_ERROR_CODE: 0x440a,
      VM_EXIT_INSTRUCTION_LEN: 0x440c,
      VMX_INSTRUCTION_INFO: 0x440e,
      GUEST_GDTR_LIMIT: 0x4810,
      GUEST_IDTR_LIMIT: 0x4812,
      GUEST_INTERRUPTIBILITY_INFO: 0x4824,
      GUEST_ACTIVITY_STATE: 0x4826,
      VMX_PREEMPTION_TIMER_VALUE: 0x482e,
      EXIT_QUALIFICATION: 0x6400,
      GUEST_LINEAR_ADDRESS: 0x640a,
      GUEST_CR0: 0x6800,
      GUEST_CR3: 0x6802,
      GUEST_CR4: 0x6804,
      GUEST_GDTR_BASE: 0x6816,
      GUEST_IDTR_BASE: 0x6818,
      GUEST_RSP: 0x681c,
      GUEST_RIP: 0x681e,
      GUEST_RFLAGS: 0x6820,
      HOST_CR0: 0x6c00,
      HOST_CR3: 0x6c02,
      HOST_CR4: 0x6c04,
      HOST_GDTR_BASE: 0x6c0c,
      HOST_IDTR_BASE: 0x6c0e,
      HOST_RSP: 0x6c14,
      HOST_RIP: 0x6c16,
    });
  });

  it('uses only "full" encodings (access type, bit 0, clear) with bit 12 reserved as 0', () => {
    for (const encoding of Object.values(VMCS_FIELD)) expect(encoding & 0x1001).toBe(0);
  });
});

describe('VM-execution, exit and entry controls (SDM vol. 3 §24.6.1, §24.6.2, §24.7.1, §24.8.1)', () => {
  it('puts each pin-based control at its bit (table 24-5)', () => {
    expect(PIN_BASED).toEqual({
      EXTERNAL_INTERRUPT_EXITING: bit(0),
      NMI_EXITING: bit(3),
      VIRTUAL_NMIS: bit(5),
      ACTIVATE_PREEMPTION_TIMER: bit(6),
      PROCESS_POSTED_INTERRUPTS: bit(7),
    });
  });

  it('puts each primary processor-based control at its bit (table 24-6)', () => {
    expect(PROC_BASED).toEqual({
      INTERRUPT_WINDOW_EXITING: bit(2),
      USE_TSC_OFFSETTING: bit(3),
      HLT_EXITING: bit(7),
      INVLPG_EXITING: bit(9),
      MWAIT_EXITING: bit(10),
      RDPMC_EXITING: bit(11),
      RDTSC_EXITING: bit(12),
      CR3_LOAD_EXITING: bit(15),
      CR3_STORE_EXITING: bit(16),
      CR8_LOAD_EXITING: bit(19),
      CR8_STORE_EXITING: bit(20),
      USE_TPR_SHADOW: bit(21),
      NMI_WINDOW_EXITING: bit(22),
      MOV_DR_EXITING: bit(23),
      UNCONDITIONAL_IO_EXITING: bit(24),
      USE_IO_BITMAPS: bit(25),
      MONITOR_TRAP_FLAG: bit(27),
      USE_MSR_BITMAPS: bit(28),
      MONITOR_EXITING: bit(29),
      PAUSE_EXITING: bit(30),
      ACTIVATE_SECONDARY_CONTROLS: bit(31),
    });
  });

  it('puts each secondary processor-based control at its bit (table 24-7)', () => {
    expect(PROC_BASED2).toEqual({
      VIRTUALIZE_APIC_ACCESSES: bit(0),
      ENABLE_EPT: bit(1),
      DESCRIPTOR_TABLE_EXITING: bit(2),
      ENABLE_RDTSCP: bit(3),
      VIRTUALIZE_X2APIC_MODE: bit(4),
      ENABLE_VPID: bit(5),
      WBINVD_EXITING: bit(6),
      UNRESTRICTED_GUEST: bit(7),
      APIC_REGISTER_VIRTUALIZATION: bit(8),
      VIRTUAL_INTERRUPT_DELIVERY: bit(9),
      PAUSE_LOOP_EXITING: bit(10),
    });
  });

  it('puts each VM-exit and VM-entry control at its bit (tables 24-11, 24-13)', () => {
    expect(EXIT_CONTROLS).toEqual({
      SAVE_DEBUG_CONTROLS: bit(2),
      HOST_ADDRESS_SPACE_SIZE: bit(9),
      ACKNOWLEDGE_INTERRUPT_ON_EXIT: bit(15),
      SAVE_IA32_PAT: bit(18),
      LOAD_IA32_PAT: bit(19),
      SAVE_IA32_EFER: bit(20),
      LOAD_IA32_EFER: bit(21),
      SAVE_PREEMPTION_TIMER: bit(22),
    });
    expect(ENTRY_CONTROLS).toEqual({ LOAD_DEBUG_CONTROLS: bit(2), IA32E_MODE_GUEST: bit(9) });
  });
});

describe('VM exits (SDM vol. 3 appendix C, §24.9, §27.2, §30.4)', () => {
  it('numbers each basic exit reason as appendix C does', () => {
    expect(EXIT_REASON).toEqual({
      EXCEPTION_OR_NMI: 0,
      EXTERNAL_INTERRUPT: 1,
      TRIPLE_FAULT: 2,
      INIT_SIGNAL: 3,
      STARTUP_IPI: 4,
      INTERRUPT_WINDOW: 7,
      NMI_WINDOW: 8,
      TASK_SWITCH: 9,
      CPUID: 10,
      HLT: 12,
      INVLPG: 14,
      RDPMC: 15,
      RDTSC: 16,
      VMCALL: 18,
      VMCLEAR: 19,
      VMLAUNCH: 20,
      VMPTRLD: 21,
      VMPTRST: 22,
      VMREAD: 23,
      VMRESUME: 24,
      VMWRITE: 25,
      VMXOFF: 26,
      VMXON: 27,
      CR_ACCESS: 28,
      DR_ACCESS: 29,
      IO_INSTRUCTION: 30,
      RDMSR: 31,
      WRMSR: 32,
      INVALID_GUEST_STATE: 33,
      MSR_LOADING: 34,
      MWAIT: 36,
      MONITOR_TRAP_FLAG: 37,
      MONITOR: 39,
      PAUSE: 40,
      MACHINE_CHECK_DURING_ENTRY: 41,
      TPR_BELOW_THRESHOLD: 43,
      APIC_ACCESS: 44,
      VIRTUALIZED_EOI: 45,
      GDTR_IDTR_ACCESS: 46,
      LDTR_TR_ACCESS: 47,
      EPT_VIOLATION: 48,
      EPT_MISCONFIGURATION: 49,
      INVEPT: 50,
      RDTSCP: 51,
      PREEMPTION_TIMER: 52,
      INVVPID: 53,
      WBINVD: 54,
      XSETBV: 55,
      APIC_WRITE: 56,
    });
    expect(EXIT_REASON_ENTRY_FAILURE).toBe(bit(31));
  });

  it('numbers the VM-instruction errors as §30.4 does', () => {
    expect(VM_INSTRUCTION_ERROR).toEqual({
      VMCALL_IN_ROOT: 1,
      VMCLEAR_INVALID_ADDRESS: 2,
      VMLAUNCH_NON_CLEAR_VMCS: 4,
      VMRESUME_NON_LAUNCHED_VMCS: 5,
      ENTRY_INVALID_CONTROL_FIELDS: 7,
      ENTRY_INVALID_HOST_STATE: 8,
      VMPTRLD_INVALID_ADDRESS: 9,
      UNSUPPORTED_VMCS_COMPONENT: 12,
      VMWRITE_READ_ONLY_COMPONENT: 13,
      ENTRY_EVENTS_BLOCKED_BY_MOV_SS: 26,
    });
  });

  it('lays out the interruption-information format (table 24-16) and its event types', () => {
    expect(INTR_INFO).toEqual({
      VECTOR_MASK: 0xff,
      TYPE_SHIFT: 8,
      TYPE_MASK: 0x700,
      ERROR_CODE_VALID: bit(11),
      NMI_UNBLOCKING: bit(12),
      VALID: bit(31),
    });
    expect(INTR_TYPE).toEqual({
      EXTERNAL_INTERRUPT: 0,
      NMI: 2,
      HARDWARE_EXCEPTION: 3,
      SOFTWARE_INTERRUPT: 4,
      PRIVILEGED_SOFTWARE_EXCEPTION: 5,
      SOFTWARE_EXCEPTION: 6,
      OTHER_EVENT: 7,
    });
  });

  it('numbers interruptibility bits and activity states as §24.4.2 does', () => {
    expect(INTERRUPTIBILITY).toEqual({
      BLOCKING_BY_STI: bit(0),
      BLOCKING_BY_MOV_SS: bit(1),
      BLOCKING_BY_SMI: bit(2),
      BLOCKING_BY_NMI: bit(3),
    });
    expect(ACTIVITY_STATE).toEqual({ ACTIVE: 0, HLT: 1, SHUTDOWN: 2, WAIT_FOR_SIPI: 3 });
  });

  it('decodes exit qualifications and instruction information as §27.2 does', () => {
    expect(APIC_ACCESS_TYPE).toEqual({
      LINEAR_READ: 0,
      LINEAR_WRITE: 1,
      LINEAR_FETCH: 2,
      LINEAR_EVENT_DELIVERY: 3,
      GUEST_PHYSICAL_EVENT_DELIVERY: 10,
      GUEST_PHYSICAL_FETCH: 15,
    });
    expect(EPT_VIOLATION_QUAL).toEqual({
      READ: bit(0),
      WRITE: bit(1),
      FETCH: bit(2),
      READABLE: bit(3),
      WRITABLE: bit(4),
      EXECUTABLE: bit(5),
      LINEAR_ADDRESS_VALID: bit(7),
    });
    // Table 27-10: address size 9:7 (2 = 64-bit), IndexReg invalid bit 22, BaseReg invalid bit 27,
    // instruction identity 29:28 (0 SGDT, 1 SIDT, 2 LGDT, 3 LIDT).
    expect(INSTRUCTION_INFO).toEqual({
      ADDRESS_SIZE_64: 2 << 7,
      INDEX_INVALID: bit(22),
      BASE_INVALID: bit(27),
      IDENTITY_SHIFT: 28,
    });
    expect(DESCRIPTOR_TABLE_INSTRUCTION).toEqual({ SGDT: 0, SIDT: 1, LGDT: 2, LIDT: 3 });
  });

  it('lays out the MSR bitmap (§24.6.9) and the posted-interrupt descriptor (§29.6, VT-d §9.12)', () => {
    expect(MSR_BITMAP).toEqual({
      READ_LOW: 0,
      READ_HIGH: 1024,
      WRITE_LOW: 2048,
      WRITE_HIGH: 3072,
      SIZE: 4096,
    });
    // PIR bits 255:0, ON bit 256, SN bit 257, NV bits 279:272, NDST bits 319:288.
    expect(POSTED_INTERRUPT_DESCRIPTOR).toEqual({
      PIR: 0,
      CONTROL: 256 / 8,
      ON: bit(256 - 256),
      SN: bit(257 - 256),
      NV_SHIFT: 272 - 256,
      NDST: 288 / 8,
      SIZE: 64,
    });
  });
});

describe('exceptions and IDT gates (SDM vol. 3 table 6-1, §6.14.1, table 6-4)', () => {
  it('numbers the exception vectors as table 6-1 does', () => {
    expect(EXCEPTION).toEqual({
      DE: 0,
      DB: 1,
      NMI: 2,
      BP: 3,
      OF: 4,
      BR: 5,
      UD: 6,
      NM: 7,
      DF: 8,
      TS: 10,
      NP: 11,
      SS: 12,
      GP: 13,
      PF: 14,
      MF: 16,
      AC: 17,
      MC: 18,
      XM: 19,
      VE: 20,
    });
    expect(GATE_TYPE).toEqual({ INTERRUPT: 0xe, TRAP: 0xf });
  });

  it('treats #DE, #TS, #NP, #SS and #GP as the contributory exceptions', () => {
    expect([...Array(32).keys()].filter(isContributoryException)).toEqual([0, 10, 11, 12, 13]);
  });
});

describe('local APIC (SDM vol. 3 ch. 10; Linux asm/apicdef.h)', () => {
  it('places the xAPIC registers at their table 10-1 offsets', () => {
    expect(APIC_REG).toEqual({
      ID: 0x020,
      VERSION: 0x030,
      TPR: 0x080,
      APR: 0x090,
      PPR: 0x0a0,
      EOI: 0x0b0,
      RRD: 0x0c0,
      LDR: 0x0d0,
      DFR: 0x0e0,
      SVR: 0x0f0,
      ISR0: 0x100,
      TMR0: 0x180,
      IRR0: 0x200,
      ESR: 0x280,
      LVT_CMCI: 0x2f0,
      ICR_LOW: 0x300,
      ICR_HIGH: 0x310,
      LVT_TIMER: 0x320,
      LVT_THERMAL: 0x330,
      LVT_PERF: 0x340,
      LVT_LINT0: 0x350,
      LVT_LINT1: 0x360,
      LVT_ERROR: 0x370,
      TIMER_INITIAL_COUNT: 0x380,
      TIMER_CURRENT_COUNT: 0x390,
      TIMER_DIVIDE_CONFIG: 0x3e0,
    });
  });

  it('numbers the MSRs as SDM vol. 4 and table 10-6 do', () => {
    expect(MSR).toMatchObject({
      IA32_TSC: 0x10,
      IA32_APIC_BASE: 0x1b,
      IA32_FEATURE_CONTROL: 0x3a,
      IA32_TSC_DEADLINE: 0x6e0,
      IA32_VMX_BASIC: 0x480,
      IA32_VMX_PINBASED_CTLS: 0x481,
      IA32_VMX_PROCBASED_CTLS: 0x482,
      IA32_VMX_EXIT_CTLS: 0x483,
      IA32_VMX_ENTRY_CTLS: 0x484,
      IA32_VMX_MISC: 0x485,
      IA32_VMX_PROCBASED_CTLS2: 0x48b,
      X2APIC_ID: 0x802,
      X2APIC_VERSION: 0x803,
      X2APIC_TPR: 0x808,
      X2APIC_PPR: 0x80a,
      X2APIC_EOI: 0x80b,
      X2APIC_LDR: 0x80d,
      X2APIC_SVR: 0x80f,
      X2APIC_ISR0: 0x810,
      X2APIC_TMR0: 0x818,
      X2APIC_IRR0: 0x820,
      X2APIC_ESR: 0x828,
      X2APIC_LVT_CMCI: 0x82f,
      X2APIC_ICR: 0x830,
      X2APIC_LVT_TIMER: 0x832,
      X2APIC_LVT_THERMAL: 0x833,
      X2APIC_LVT_PERF: 0x834,
      X2APIC_LVT_LINT0: 0x835,
      X2APIC_LVT_LINT1: 0x836,
      X2APIC_LVT_ERROR: 0x837,
      X2APIC_TIMER_INITIAL_COUNT: 0x838,
      X2APIC_TIMER_CURRENT_COUNT: 0x839,
      X2APIC_TIMER_DIVIDE_CONFIG: 0x83e,
      X2APIC_SELF_IPI: 0x83f,
    });
    // Each x2APIC MSR is 0x800 + (its xAPIC offset >> 4) (§10.12.1.2); SELF IPI has no xAPIC register.
    const pairs: [number, number][] = [
      [MSR.X2APIC_ID, APIC_REG.ID],
      [MSR.X2APIC_TPR, APIC_REG.TPR],
      [MSR.X2APIC_EOI, APIC_REG.EOI],
      [MSR.X2APIC_SVR, APIC_REG.SVR],
      [MSR.X2APIC_ISR0, APIC_REG.ISR0],
      [MSR.X2APIC_IRR0, APIC_REG.IRR0],
      [MSR.X2APIC_ESR, APIC_REG.ESR],
      [MSR.X2APIC_ICR, APIC_REG.ICR_LOW],
      [MSR.X2APIC_LVT_TIMER, APIC_REG.LVT_TIMER],
      [MSR.X2APIC_LVT_ERROR, APIC_REG.LVT_ERROR],
      [MSR.X2APIC_TIMER_DIVIDE_CONFIG, APIC_REG.TIMER_DIVIDE_CONFIG],
    ];
    for (const [msr, offset] of pairs) expect(msr).toBe(x2apicMsr(offset));
  });

  it('lays out IA32_APIC_BASE, LVT, ICR, ESR and SVR bits as §10.4.4, §10.5, §10.6.1 and §10.9 do', () => {
    expect(APIC_BASE_MSR).toEqual({ BSP: bit(8), EXTD: bit(10), ENABLE: bit(11), BASE_MASK: 0xfffff000 });
    expect(LVT).toEqual({
      VECTOR_MASK: 0xff,
      DELIVERY_MODE_SHIFT: 8,
      DELIVERY_STATUS: bit(12),
      POLARITY: bit(13),
      REMOTE_IRR: bit(14),
      TRIGGER_LEVEL: bit(15),
      MASKED: bit(16),
      TIMER_MODE_SHIFT: 17,
    });
    expect(TIMER_MODE).toEqual({ ONE_SHOT: 0, PERIODIC: 1, TSC_DEADLINE: 2 });
    expect(ICR).toEqual({
      VECTOR_MASK: 0xff,
      DELIVERY_MODE_SHIFT: 8,
      DEST_MODE_LOGICAL: bit(11),
      DELIVERY_STATUS: bit(12),
      LEVEL_ASSERT: bit(14),
      TRIGGER_LEVEL: bit(15),
      SHORTHAND_SHIFT: 18,
    });
    expect(DEST_SHORTHAND).toEqual({ NONE: 0, SELF: 1, ALL_INCLUDING_SELF: 2, ALL_EXCLUDING_SELF: 3 });
    expect(DELIVERY_MODE).toEqual({
      FIXED: 0,
      LOWEST_PRIORITY: 1,
      SMI: 2,
      NMI: 4,
      INIT: 5,
      STARTUP: 6,
      EXTINT: 7,
    });
    expect(ESR).toEqual({
      SEND_CHECKSUM: bit(0),
      RECEIVE_CHECKSUM: bit(1),
      SEND_ACCEPT: bit(2),
      RECEIVE_ACCEPT: bit(3),
      REDIRECTABLE_IPI: bit(4),
      SEND_ILLEGAL_VECTOR: bit(5),
      RECEIVED_ILLEGAL_VECTOR: bit(6),
      ILLEGAL_REGISTER_ADDRESS: bit(7),
    });
    expect(SVR).toEqual({
      VECTOR_MASK: 0xff,
      APIC_SOFTWARE_ENABLE: bit(8),
      FOCUS_CHECK_DISABLE: bit(9),
      EOI_BROADCAST_SUPPRESSION: bit(12),
    });
  });
});

describe('PCI configuration space (PCI 3.0 §6, PCIe §7.8–7.9, SR-IOV 1.1 §3.3; Linux pci_regs.h)', () => {
  it('places the type-0 header registers and their bits', () => {
    expect(PCI_CFG).toEqual({
      VENDOR_ID: 0x00,
      DEVICE_ID: 0x02,
      COMMAND: 0x04,
      STATUS: 0x06,
      REVISION_ID: 0x08,
      CLASS_PROG_IF: 0x09,
      CLASS_SUBCLASS: 0x0a,
      CLASS_BASE: 0x0b,
      CACHE_LINE_SIZE: 0x0c,
      LATENCY_TIMER: 0x0d,
      HEADER_TYPE: 0x0e,
      BIST: 0x0f,
      BAR0: 0x10,
      SUBSYSTEM_VENDOR_ID: 0x2c,
      SUBSYSTEM_ID: 0x2e,
      EXPANSION_ROM: 0x30,
      CAPABILITIES_POINTER: 0x34,
      INTERRUPT_LINE: 0x3c,
      INTERRUPT_PIN: 0x3d,
    });
    expect(PCI_COMMAND).toEqual({
      IO_SPACE: bit(0),
      MEMORY_SPACE: bit(1),
      BUS_MASTER: bit(2),
      PARITY_ERROR_RESPONSE: bit(6),
      SERR_ENABLE: bit(8),
      INTX_DISABLE: bit(10),
    });
    expect(PCI_STATUS).toEqual({
      INTERRUPT_STATUS: bit(3),
      CAPABILITIES_LIST: bit(4),
      MASTER_DATA_PARITY_ERROR: bit(8),
      SIGNALED_TARGET_ABORT: bit(11),
      RECEIVED_TARGET_ABORT: bit(12),
      RECEIVED_MASTER_ABORT: bit(13),
      SIGNALED_SYSTEM_ERROR: bit(14),
      DETECTED_PARITY_ERROR: bit(15),
    });
    expect(PCI_BAR).toEqual({
      IO_SPACE: bit(0),
      MEM_TYPE_64: 0b10 << 1,
      PREFETCHABLE: bit(3),
      MEM_ADDRESS_MASK: 0xfffffff0,
    });
  });

  it('numbers capability IDs and lays out MSI-X as PCI 3.0 §6.8.2 does', () => {
    expect(PCI_CAP_ID).toEqual({ POWER_MANAGEMENT: 0x01, MSI: 0x05, PCI_EXPRESS: 0x10, MSIX: 0x11 });
    expect(PCI_EXT_CAP_ID).toEqual({ AER: 0x0001, DEVICE_SERIAL_NUMBER: 0x0003, ARI: 0x000e, SRIOV: 0x0010 });
    expect(MSIX_CAP).toEqual({ MESSAGE_CONTROL: 2, TABLE: 4, PBA: 8, SIZE: 12 });
    expect(MSIX_CONTROL).toEqual({ TABLE_SIZE_MASK: 0x07ff, FUNCTION_MASK: bit(14), ENABLE: bit(15) });
    expect(MSIX_ENTRY).toEqual({
      ADDRESS_LO: 0,
      ADDRESS_HI: 4,
      DATA: 8,
      VECTOR_CONTROL: 12,
      SIZE: 16,
      MASK_BIT: bit(0),
    });
  });

  it('lays out the PCIe and SR-IOV capabilities and the extended capability header', () => {
    expect(PCIE_CAP).toEqual({
      CAPABILITIES: 2,
      DEVICE_CAPABILITIES: 4,
      DEVICE_CONTROL: 8,
      DEVICE_STATUS: 10,
      LINK_CAPABILITIES: 12,
      LINK_CONTROL: 16,
      LINK_STATUS: 18,
      SIZE: 60,
    });
    expect(SRIOV_CAP).toEqual({
      CAPABILITIES: 0x04,
      CONTROL: 0x08,
      STATUS: 0x0a,
      INITIAL_VFS: 0x0c,
      TOTAL_VFS: 0x0e,
      NUM_VFS: 0x10,
      FUNCTION_DEPENDENCY_LINK: 0x12,
      FIRST_VF_OFFSET: 0x14,
      VF_STRIDE: 0x16,
      VF_DEVICE_ID: 0x1a,
      SUPPORTED_PAGE_SIZES: 0x1c,
      SYSTEM_PAGE_SIZE: 0x20,
      VF_BAR0: 0x24,
      VF_MIGRATION_STATE_ARRAY: 0x3c,
      SIZE: 0x40,
    });
    expect(SRIOV_CONTROL).toEqual({
      VF_ENABLE: bit(0),
      VF_MIGRATION_ENABLE: bit(1),
      VF_MIGRATION_INTERRUPT_ENABLE: bit(2),
      VF_MSE: bit(3),
      ARI_CAPABLE_HIERARCHY: bit(4),
    });
    // An SR-IOV capability, version 1, followed by one at 0x160: ID 15:0, version 19:16, next 31:20.
    expect(encodeExtCapHeader(PCI_EXT_CAP_ID.SRIOV, 1, 0x160)).toBe(0x16010010);
    expect(decodeExtCapHeader(0x16010010)).toEqual({ id: 0x10, version: 1, next: 0x160 });
  });
});

describe('KVM paravirtual EOI (Linux uapi/asm/kvm_para.h, Documentation/virt/kvm/x86/msr.rst)', () => {
  it('numbers MSR_KVM_PV_EOI_EN, KVM_FEATURE_PV_EOI and the enable and flag bits as KVM does', () => {
    expect(KVM_MSR.PV_EOI_EN).toBe(0x4b564d04);
    expect(KVM_FEATURE_PV_EOI).toBe(6);
    expect(KVM_PV_EOI).toEqual({
      MSR_ENABLED: bit(0),
      MSR_RESERVED: bit(1),
      ALIGNMENT: 4,
      FLAG_BIT: 0,
      FLAG_ENABLED: 1,
      FLAG_DISABLED: 0,
    });
  });

  it('writes the 4-byte-aligned address in bits 63:2 and the enable in bit 0', () => {
    expect(encodePvEoiMsr(0x1_2345_6780, true)).toEqual({ lo: 0x23456781, hi: 0x1 });
    expect(encodePvEoiMsr(0x7000, false)).toEqual({ lo: 0x7000, hi: 0 });
  });
});
