import {
  ACTIVITY_STATE,
  EXCEPTION,
  EXIT_CONTROLS,
  EXIT_REASON,
  INTERRUPTIBILITY,
  MSR,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  VM_INSTRUCTION_ERROR,
  VMCS_FIELD,
  VMX_STATUS,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { Cpu, CpuConfigError, CpuUsageError, VMX_DEFAULT1, Vmcs } from '../src/index.js';
import { vmcsFieldSlot } from '../src/vmcs.js';
import {
  at,
  COSTS,
  GUEST_ENTRY,
  HOST_ENTRY,
  HOST_IDT,
  handler,
  hypervisor,
  machine,
  type Op,
  PS_PER_CYCLE,
  script,
  setupVmcs,
  VAPIC,
  VMCS_ADDRESS,
  type VmcsSetup,
  writeIdtr,
} from './harness.js';

function launch(s: VmcsSetup): { m: ReturnType<typeof machine>; exits: ReturnType<typeof hypervisor> } {
  const m = machine();
  setupVmcs(m, s);
  m.code.register(GUEST_ENTRY, script('guest', [(c) => c.compute(100), (c) => c.vmcall()]));
  const exits = hypervisor(m);
  m.cpu.start(HOST_ENTRY);
  m.sim.runUntil(100_000_000);
  return { m, exits };
}

function expectVmfailValid(s: VmcsSetup, error: number): void {
  const { m, exits } = launch(s);
  expect(exits[0]!.vmxStatus).toBe(VMX_STATUS.FAIL_VALID);
  expect(m.cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR)).toBe(error);
  expect(m.cpu.vmxNonRoot).toBe(false);
  expect(m.stats.counterValue('cpu0.vmentries')).toBe(0);
}

describe('VMREAD / VMWRITE / VMCLEAR / VMPTRLD', () => {
  it('without a current VMCS, VMREAD fails with VMfailInvalid (RFLAGS.CF)', () => {
    const m = machine();
    m.cpu.vmread(VMCS_FIELD.GUEST_RIP);
    expect(m.cpu.vmxStatus).toBe(VMX_STATUS.FAIL_INVALID);
  });

  it('an unsupported encoding fails with VMfailValid error 12', () => {
    const m = machine();
    setupVmcs(m);
    m.cpu.vmread(0x1234);
    expect(m.cpu.vmxStatus).toBe(VMX_STATUS.FAIL_VALID);
    expect(m.cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR)).toBe(
      VM_INSTRUCTION_ERROR.UNSUPPORTED_VMCS_COMPONENT,
    );
  });

  it('VMWRITE to a read-only field (VM_EXIT_REASON) fails with error 13 and changes nothing', () => {
    const m = machine();
    setupVmcs(m);
    m.cpu.vmwrite(VMCS_FIELD.VM_EXIT_REASON, 5);
    expect(m.cpu.vmxStatus).toBe(VMX_STATUS.FAIL_VALID);
    expect(m.cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR)).toBe(
      VM_INSTRUCTION_ERROR.VMWRITE_READ_ONLY_COMPONENT,
    );
    expect(m.cpu.vmread(VMCS_FIELD.VM_EXIT_REASON)).toBe(0);
  });

  it('fields are truncated to their width; the high access of a 64-bit field (encoding | 1) reads bits 63:32', () => {
    const m = machine();
    setupVmcs(m);
    m.cpu.vmwrite(VMCS_FIELD.VIRTUAL_PROCESSOR_ID, 0x12345);
    expect(m.cpu.vmread(VMCS_FIELD.VIRTUAL_PROCESSOR_ID)).toBe(0x2345);
    m.cpu.vmwrite(VMCS_FIELD.MSR_BITMAP, 0x1_0000_2000);
    expect(m.cpu.vmread(VMCS_FIELD.MSR_BITMAP + 1)).toBe(1);
    m.cpu.vmwrite(VMCS_FIELD.MSR_BITMAP + 1, 3);
    expect(m.cpu.vmread(VMCS_FIELD.MSR_BITMAP)).toBe(0x3_0000_2000);
    expect(m.cpu.vmxStatus).toBe(VMX_STATUS.SUCCEED);
  });

  it('VMCLEAR / VMPTRLD of an address that is not 4 KiB aligned fail with errors 2 and 9', () => {
    const m = machine();
    setupVmcs(m);
    m.cpu.vmclear(VMCS_ADDRESS + 8);
    expect(m.cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR)).toBe(VM_INSTRUCTION_ERROR.VMCLEAR_INVALID_ADDRESS);
    m.cpu.vmptrld(VMCS_ADDRESS + 8);
    expect(m.cpu.vmxStatus).toBe(VMX_STATUS.FAIL_VALID);
    expect(m.cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR)).toBe(VM_INSTRUCTION_ERROR.VMPTRLD_INVALID_ADDRESS);
  });

  it('VMCLEAR of the current VMCS leaves no current VMCS', () => {
    const m = machine();
    setupVmcs(m);
    m.cpu.vmclear(VMCS_ADDRESS);
    expect(m.cpu.currentVmcsAddress).toBe(-1);
    m.cpu.vmread(VMCS_FIELD.GUEST_RIP);
    expect(m.cpu.vmxStatus).toBe(VMX_STATUS.FAIL_INVALID);
  });
});

describe('VMLAUNCH / VMRESUME launch-state rules', () => {
  it('VMRESUME of a clear VMCS fails with error 5; VMLAUNCH of a launched VMCS fails with error 4', () => {
    const m = machine();
    setupVmcs(m);
    m.code.register(GUEST_ENTRY, script('guest', [(c) => c.vmcall(), (c) => c.vmcall()]));
    const status: number[] = [];
    m.code.register(
      HOST_ENTRY,
      script('host', [
        (c) => c.vmresume(),
        (c) => {
          status.push(c.vmxStatus, m.cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR));
          c.vmlaunch();
        },
        (c) => {
          status.push(c.vmxStatus, m.cpu.vmread(VMCS_FIELD.VM_EXIT_REASON));
          c.vmlaunch();
        },
        (c) => {
          status.push(c.vmxStatus, m.cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR));
          c.vmresume();
        },
        (c) => {
          status.push(c.vmxStatus, m.cpu.vmread(VMCS_FIELD.VM_EXIT_REASON));
          c.compute(1);
        },
      ]),
    );
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(100_000_000);
    expect(status).toEqual([
      VMX_STATUS.FAIL_VALID,
      VM_INSTRUCTION_ERROR.VMRESUME_NON_LAUNCHED_VMCS,
      VMX_STATUS.SUCCEED,
      EXIT_REASON.VMCALL,
      VMX_STATUS.FAIL_VALID,
      VM_INSTRUCTION_ERROR.VMLAUNCH_NON_CLEAR_VMCS,
      VMX_STATUS.SUCCEED,
      EXIT_REASON.VMCALL,
    ]);
    expect(m.stats.counterValue('cpu0.vmentries')).toBe(2);
  });

  it('VMCALL in VMX root operation fails with VMfailValid error 1', () => {
    const m = machine();
    setupVmcs(m);
    const status: number[] = [];
    m.code.register(
      HOST_ENTRY,
      script('host', [
        (c) => c.vmcall(),
        (c) => {
          status.push(c.vmxStatus);
          c.hlt();
        },
      ]),
    );
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(1_000_000);
    expect(status).toEqual([VMX_STATUS.FAIL_VALID]);
    expect(m.cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR)).toBe(VM_INSTRUCTION_ERROR.VMCALL_IN_ROOT);
  });
});

describe('VM-entry checks on control fields (VMfailValid error 7)', () => {
  const E7 = VM_INSTRUCTION_ERROR.ENTRY_INVALID_CONTROL_FIELDS;
  it('a pin-based control outside allowed-1 (bit 8 is reserved)', () => {
    expectVmfailValid({ pin: 0x100 }, E7);
  });
  it('a default1 bit cleared', () => {
    const { m, exits } = launch({ fields: { [VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL]: 0 } });
    expect(exits[0]!.vmxStatus).toBe(VMX_STATUS.FAIL_VALID);
    expect(m.cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR)).toBe(E7);
  });
  it('virtual NMIs without NMI exiting', () => {
    expectVmfailValid({ pin: PIN_BASED.VIRTUAL_NMIS }, E7);
  });
  it('a secondary control outside allowed-1 with "activate secondary controls" set (unrestricted guest)', () => {
    expectVmfailValid(
      { proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, proc2: PROC_BASED2.UNRESTRICTED_GUEST },
      E7,
    );
  });
  it('secondary controls are ignored while "activate secondary controls" is 0', () => {
    const m = machine();
    setupVmcs(m, { proc2: PROC_BASED2.DESCRIPTOR_TABLE_EXITING | PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY });
    m.code.register(GUEST_ENTRY, script('guest', [(c) => c.lidt(0x8000), (c) => c.vmcall()]));
    const exits = hypervisor(m);
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(100_000_000);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
  });
  it('an MSR-bitmap address that is not 4 KiB aligned with "use MSR bitmaps"', () => {
    expectVmfailValid({ proc: PROC_BASED.USE_MSR_BITMAPS, fields: { [VMCS_FIELD.MSR_BITMAP]: 0x6010 } }, E7);
  });
  it('an APIC-access address that is not 4 KiB aligned with "virtualize APIC accesses"', () => {
    expectVmfailValid(
      {
        proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
        proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES,
        fields: { [VMCS_FIELD.APIC_ACCESS_ADDR]: 0x7004 },
      },
      E7,
    );
  });
  it('"save VMX-preemption timer value" without "activate VMX-preemption timer"', () => {
    expectVmfailValid({ exit: EXIT_CONTROLS.SAVE_PREEMPTION_TIMER }, E7);
  });
  it.each([
    ['#GP without deliver-error-code', 0x80000300 | EXCEPTION.GP],
    ['an external interrupt with deliver-error-code', 0x80000841],
    ['an NMI with a vector other than 2', 0x80000203],
    ['a hardware exception with vector 40', 0x80000328],
    ['reserved type 1', 0x80000141],
    ['reserved bits 30:12', 0x80010041],
    ['a software interrupt with instruction length 0', 0x80000480],
  ])('VM-entry interruption information: %s', (_name, info) => {
    expectVmfailValid({ fields: { [VMCS_FIELD.VM_ENTRY_INTR_INFO]: info } }, E7);
  });
});

describe('VM-entry failure on invalid guest state (exit reason 33 | 0x80000000)', () => {
  it.each([
    [
      'blocking by STI with RFLAGS.IF = 0',
      { rflags: 0x2, fields: { [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: INTERRUPTIBILITY.BLOCKING_BY_STI } },
    ],
    ['RFLAGS bit 1 clear', { rflags: 0x200 }],
    [
      'an unsupported activity state (shutdown)',
      { fields: { [VMCS_FIELD.GUEST_ACTIVITY_STATE]: ACTIVITY_STATE.SHUTDOWN } },
    ],
    [
      'injecting an external interrupt with RFLAGS.IF = 0',
      { rflags: 0x2, fields: { [VMCS_FIELD.VM_ENTRY_INTR_INFO]: 0x80000041 } },
    ],
    // SDM vol. 3 §26.3.1.5: blocking by SMI must be 0 outside SMM; the activity state must be
    // active if blocking by STI or by MOV SS is set.
    [
      'blocking by SMI outside SMM',
      { fields: { [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: INTERRUPTIBILITY.BLOCKING_BY_SMI } },
    ],
    [
      'HLT activity with blocking by STI',
      {
        fields: {
          [VMCS_FIELD.GUEST_ACTIVITY_STATE]: ACTIVITY_STATE.HLT,
          [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: INTERRUPTIBILITY.BLOCKING_BY_STI,
        },
      },
    ],
    [
      'HLT activity with blocking by MOV SS',
      {
        fields: {
          [VMCS_FIELD.GUEST_ACTIVITY_STATE]: ACTIVITY_STATE.HLT,
          [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: INTERRUPTIBILITY.BLOCKING_BY_MOV_SS,
        },
      },
    ],
    [
      'HLT activity while injecting #GP',
      {
        fields: {
          [VMCS_FIELD.GUEST_ACTIVITY_STATE]: ACTIVITY_STATE.HLT,
          [VMCS_FIELD.VM_ENTRY_INTR_INFO]: 0x80000b0d,
        },
      },
    ],
  ] as [string, VmcsSetup][])('%s', (_name, s) => {
    const { m, exits } = launch(s);
    expect(exits[0]!.vmxStatus).toBe(VMX_STATUS.SUCCEED);
    expect(exits[0]!.reason).toBe((EXIT_REASON.INVALID_GUEST_STATE | 0x80000000) >>> 0);
    expect(m.stats.counterValue('cpu0.vmentry-failures')).toBe(1);
    expect(m.stats.counterValue('cpu0.vmentries')).toBe(0);
    expect(m.cpu.vmxNonRoot).toBe(false);
  });
});

describe('processor state after a VM exit', () => {
  it('RFLAGS.IF is 0 and IDTR is HOST_IDTR_BASE: after STI the host takes the still-pending interrupt through its own IDT', () => {
    const m = machine();
    setupVmcs(m, { pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING });
    writeIdtr(m, 0x800, 0xfff, 0);
    const seen: number[] = [];
    handler(
      m,
      HOST_IDT,
      0x41,
      script(
        'host41',
        [
          (c, f) => {
            seen.push(f.vector);
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    m.code.register(GUEST_ENTRY, script('guest', [(c) => c.compute(1_000_000)]));
    const ifAfterExit: boolean[] = [];
    m.code.register(
      HOST_ENTRY,
      script('host', [
        (c) => c.vmlaunch(),
        (c) => {
          ifAfterExit.push(c.interruptsEnabled);
          c.sti();
        },
        (c) => c.compute(10),
      ]),
    );
    m.cpu.start(HOST_ENTRY);
    at(m.sim, 5_000_000, () => m.lapic.raise(0x41));
    m.sim.runUntil(100_000_000);
    expect(ifAfterExit).toEqual([false]);
    expect(seen).toEqual([0x41]);
    expect(m.cpu.deliveredRoot[0x41]).toBe(1);
    expect(m.cpu.idtr).toEqual({ base: HOST_IDT, limit: 0xffff });
  });

  it('the guest’s interrupted compute resumes with its remaining cycles after VM re-entry', () => {
    const m = machine();
    setupVmcs(m, {
      pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING,
      exit: EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT,
    });
    const log: number[] = [];
    m.code.register(
      GUEST_ENTRY,
      script('guest', [
        (c) => c.compute(10_000),
        (c) => {
          log.push(c.now);
          c.vmcall();
        },
      ]),
    );
    hypervisor(m, (e) => e.reason === EXIT_REASON.EXTERNAL_INTERRUPT);
    m.cpu.start(HOST_ENTRY);
    at(m.sim, 3_000_000, () => m.lapic.raise(0x41));
    m.sim.runUntil(100_000_000);
    // entry 800 + 10,000 cycles of work + exit 1000 + entry 800
    expect(log).toEqual([(800 + 10_000 + 1000 + 800) * PS_PER_CYCLE]);
  });
});

describe('MSRs owned by the CPU', () => {
  it('a CPU without APIC virtualization (a Nehalem) does not offer its controls (SDM vol. 3 ch. 29; from Ivy Bridge-EP on)', () => {
    const read = (apicVirtualization: boolean) => {
      const m = machine({ apicVirtualization });
      const values: number[] = [];
      const msrs = [MSR.IA32_VMX_PINBASED_CTLS, MSR.IA32_VMX_PROCBASED_CTLS, MSR.IA32_VMX_PROCBASED_CTLS2];
      m.code.register(
        HOST_ENTRY,
        script(
          'host',
          msrs.flatMap((i): Op[] => [
            (c) => c.rdmsr(i),
            (c) => {
              values.push(c.resultHi >>> 0);
              c.compute(1);
            },
          ]),
        ),
      );
      m.cpu.start(HOST_ENTRY);
      m.sim.runUntil(10_000_000);
      return values;
    };
    const [pin, proc, proc2] = read(false);
    expect(pin! & PIN_BASED.PROCESS_POSTED_INTERRUPTS).toBe(0);
    expect(proc! & PROC_BASED.USE_TPR_SHADOW).toBe(0);
    expect(
      proc2! &
        (PROC_BASED2.VIRTUALIZE_X2APIC_MODE |
          PROC_BASED2.APIC_REGISTER_VIRTUALIZATION |
          PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY),
    ).toBe(0);
    // Everything else is offered as before.
    const [pinOn, procOn, proc2On] = read(true);
    expect(pin).toBe((pinOn! & ~PIN_BASED.PROCESS_POSTED_INTERRUPTS) >>> 0);
    expect(proc).toBe((procOn! & ~PROC_BASED.USE_TPR_SHADOW) >>> 0);
    expect(proc2! & PROC_BASED2.ENABLE_EPT).toBe(PROC_BASED2.ENABLE_EPT);
    expect(proc2On! & PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY).toBe(PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY);
  });

  it('reports IA32_VMX_* capabilities consistent with the implemented controls; unknown MSRs raise #GP(0)', () => {
    const m = machine({ preemptionRate: 7 });
    writeIdtr(m, 0x800, 0xfff, HOST_IDT);
    const values: [number, number][] = [];
    const gp: number[] = [];
    handler(
      m,
      HOST_IDT,
      EXCEPTION.GP,
      script(
        'gp',
        [
          (c, f) => {
            gp.push(f.errorCode);
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    const msrs = [
      MSR.IA32_VMX_PINBASED_CTLS,
      MSR.IA32_VMX_PROCBASED_CTLS,
      MSR.IA32_VMX_PROCBASED_CTLS2,
      MSR.IA32_VMX_EXIT_CTLS,
      MSR.IA32_VMX_ENTRY_CTLS,
      MSR.IA32_VMX_MISC,
      MSR.IA32_FEATURE_CONTROL,
    ];
    m.code.register(
      HOST_ENTRY,
      script('host', [
        (c) => c.lidt(0x800),
        ...msrs.flatMap((i): Op[] => [
          (c) => c.rdmsr(i),
          (c) => {
            values.push([c.resultLo, c.resultHi]);
            c.compute(1);
          },
        ]),
        (c) => c.rdmsr(0xdead),
      ]),
    );
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(10_000_000);
    expect(values).toEqual([
      // Allowed-1 adds process posted interrupts (pin bit 7), use TPR shadow (primary bit 21),
      // virtualize x2APIC mode, APIC-register virtualization, virtual-interrupt delivery
      // (secondary bits 4, 8, 9) to what the ELI-era controls were (0x7f, 0x9401e1f6, 0x7).
      [VMX_DEFAULT1.PIN_BASED, 0xff],
      [VMX_DEFAULT1.PROC_BASED, 0x9421e1f6],
      [0, 0x317],
      [VMX_DEFAULT1.EXIT, 0x0043efff],
      [VMX_DEFAULT1.ENTRY, 0x13ff],
      [7 | 0x40, 0],
      [0x5, 0],
    ]);
    expect(gp).toEqual([0]);
  });
});

describe('configuration and contract errors', () => {
  it('a negative cost is a CpuConfigError naming the field', () => {
    const m = machine();
    expect(
      () =>
        new Cpu({
          id: 1,
          sim: m.sim,
          bus: m.bus,
          code: m.code,
          lapic: m.lapic,
          costs: { ...COSTS, iretCycles: -1 },
          stats: m.stats,
        }),
    ).toThrow(/iretCycles/);
  });

  it('start() at an address with no routine is a CpuConfigError', () => {
    expect(() => machine().cpu.start(0x999000)).toThrow(CpuConfigError);
  });

  it('a routine that issues two operations in one step is a CpuUsageError', () => {
    const m = machine();
    m.code.register(HOST_ENTRY, {
      name: 'twice',
      step(c) {
        c.compute(1);
        c.compute(1);
      },
    });
    m.cpu.start(HOST_ENTRY);
    expect(() => m.sim.runUntil(1_000_000)).toThrow(CpuUsageError);
  });
});

describe('VM-entry checks on control fields, repeated at each entry', () => {
  const E7 = VM_INSTRUCTION_ERROR.ENTRY_INVALID_CONTROL_FIELDS;

  /**
   * Enters, exits on VMCALL, calls `change` (between the two entries) and VMRESUMEs: the
   * second entry's VMX status and error. The CPU reuses the control checks' result while
   * the VMCS's control fields are unwritten: each change here must be seen.
   */
  function secondEntry(
    s: VmcsSetup,
    change: (m: ReturnType<typeof machine>) => void,
    before: (m: ReturnType<typeof machine>) => void = () => {},
  ): [number, number] {
    const m = machine();
    setupVmcs(m, s);
    before(m);
    m.code.register(GUEST_ENTRY, script('guest', [(c) => c.vmcall(), (c) => c.vmcall()]));
    const exits = hypervisor(m, (_e, cpu) => {
      if (exits.length === 1) change(m);
      return cpu.vmxStatus === VMX_STATUS.SUCCEED && exits.length === 1;
    });
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.vmxStatus).toBe(VMX_STATUS.SUCCEED);
    expect(exits.length).toBe(2);
    return [exits[1]!.vmxStatus, m.cpu.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR)];
  }

  it('a control field made invalid by VMWRITE between entries fails the next entry', () => {
    const fail = secondEntry({}, (m) => m.cpu.vmwrite(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, 0));
    expect(fail).toEqual([VMX_STATUS.FAIL_VALID, E7]);
    const nmis = secondEntry({}, (m) =>
      m.cpu.vmwrite(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, VMX_DEFAULT1.PIN_BASED | PIN_BASED.VIRTUAL_NMIS),
    );
    expect(nmis).toEqual([VMX_STATUS.FAIL_VALID, E7]);
  });

  it('an address made unaligned through the 32-bit access of its low half fails the next entry', () => {
    const s: VmcsSetup = {
      proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
      proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES,
    };
    // VMWRITE of the full field's encoding with a 32-bit value goes through Vmcs.set; of
    // encoding | 1 (bits 63:32) through setHalf: both must count as control writes.
    const low = secondEntry(s, (m) => m.cpu.vmwrite(VMCS_FIELD.APIC_ACCESS_ADDR, 0x7004));
    expect(low).toEqual([VMX_STATUS.FAIL_VALID, E7]);
    const vmcs = (m: ReturnType<typeof machine>) => m.cpu.vmcsStore.find(VMCS_ADDRESS)!;
    const half = secondEntry(s, (m) => vmcs(m).setHalf(VMCS_FIELD.APIC_ACCESS_ADDR, false, 0x7004));
    expect(half).toEqual([VMX_STATUS.FAIL_VALID, E7]);
    const bitmap = secondEntry({ proc: PROC_BASED.USE_MSR_BITMAPS }, (m) =>
      m.cpu.vmwrite(VMCS_FIELD.MSR_BITMAP, 0x6010),
    );
    expect(bitmap).toEqual([VMX_STATUS.FAIL_VALID, E7]);
  });

  it('a write that keeps the controls valid, or a write to another field, still enters', () => {
    const same = secondEntry({}, (m) => m.cpu.vmwrite(VMCS_FIELD.EXCEPTION_BITMAP, 0));
    expect(same[0]).toBe(VMX_STATUS.SUCCEED);
    const window = secondEntry({}, (m) =>
      m.cpu.vmwrite(
        VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
        (VMX_DEFAULT1.PROC_BASED | PROC_BASED.HLT_EXITING) >>> 0,
      ),
    );
    expect(window[0]).toBe(VMX_STATUS.SUCCEED);
  });

  it('the TPR threshold is checked against VTPR on the virtual-APIC page at every entry (memory, no VMCS write)', () => {
    const s: VmcsSetup = {
      proc: PROC_BASED.USE_TPR_SHADOW,
      fields: { [VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR]: VAPIC, [VMCS_FIELD.TPR_THRESHOLD]: 4 },
    };
    // VTPR 0x50 (class 5 ≥ threshold 4), then lowered to class 3 in memory only.
    const vtpr50 = (m: ReturnType<typeof machine>) => m.memory.write32(VAPIC + 0x80, 0x50);
    const ok = secondEntry(s, () => {}, vtpr50);
    expect(ok[0]).toBe(VMX_STATUS.SUCCEED);
    const lowered = secondEntry(s, (m) => m.memory.write32(VAPIC + 0x80, 0x30), vtpr50);
    expect(lowered).toEqual([VMX_STATUS.FAIL_VALID, E7]);
  });

  it('the event-injection checks run at every entry (VM-entry interruption information)', () => {
    const bad = secondEntry({}, (m) => m.cpu.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO, 0x80000141));
    expect(bad).toEqual([VMX_STATUS.FAIL_VALID, E7]);
  });
});

describe('Vmcs slot accessors (getAt / setAt, the CPU fast path) agree with get / set', () => {
  const values = [
    0,
    1,
    0x1234,
    0xffff,
    0x12345,
    0xffffffff,
    0x1_0000_0000,
    0x1_2345_6789,
    2 ** 53 + 2,
    -1,
    -0x8000_0001,
    3.75,
    -2.5,
    Number.NaN,
  ];
  it.each(Object.entries(VMCS_FIELD))('%s', (_name, encoding) => {
    const slot = vmcsFieldSlot(encoding);
    for (const value of values) {
      const a = new Vmcs(0x1000);
      const b = new Vmcs(0x1000);
      a.set(encoding, value);
      b.setAt(slot, value);
      expect(b.get(encoding)).toStrictEqual(a.get(encoding));
      expect(b.getAt(slot)).toStrictEqual(a.get(encoding));
      expect(b.getHalf(encoding, false)).toStrictEqual(a.getHalf(encoding, false));
      expect(b.getHalf(encoding, true)).toStrictEqual(a.getHalf(encoding, true));
      expect(b.controlWrites).toBe(a.controlWrites);
    }
  });
  it('vmcsFieldSlot refuses an encoding that is not an implemented field', () => {
    expect(() => vmcsFieldSlot(0x1234)).toThrow(RangeError);
  });
});
