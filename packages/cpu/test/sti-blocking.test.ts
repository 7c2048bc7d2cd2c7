import type { GuestPhysicalMap } from '@exitless/x86';
import {
  ACTIVITY_STATE,
  APIC_REG,
  EXCEPTION,
  EXIT_REASON,
  EXIT_REASON_ENTRY_FAILURE,
  INTERRUPTIBILITY,
  MSR,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  RFLAGS,
  VMCS_FIELD,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  APIC_ACCESS_PAGE,
  at,
  ENTRY_DONE,
  EXIT_PS,
  type ExitRecord,
  GUEST_ENTRY,
  GUEST_IDT,
  HOST_ENTRY,
  handler,
  hypervisor,
  type Machine,
  machine,
  type Op,
  PS_PER_CYCLE,
  script,
  setupVmcs,
  VAPIC,
  type VmcsSetup,
} from './harness.js';

// Blocking by STI and MOV SS as a VM exit saves it (GUEST_INTERRUPTIBILITY_INFO bits 0 and 1).
// An instruction that causes a VM exit is, unless the SDM says otherwise, "fault-like": it "does
// not execute and no processor state is updated by the instruction" (SDM vol. 3 §25.1), and the
// exit saves "the logical processor's interruptibility before the VM exit" (§27.3.4). So the
// operation right after STI (IF 0 → 1), if it exits, has not ended the blocking, and bit 0 is
// saved; `sti; hlt` with HLT exiting is the classic case. Trap-like exits come after the
// instruction completed: "If there had been blocking by MOV SS, POP SS, or STI before the
// instruction executed, such blocking is no longer in effect" (§27.1). Exits between operations
// save the blocking of that moment; an exit during event delivery saves none (§27.1).

const STI = INTERRUPTIBILITY.BLOCKING_BY_STI;
const MOV_SS = INTERRUPTIBILITY.BLOCKING_BY_MOV_SS;
/** Guest-physical pages 0xA000–0xAFFF are not mapped by the EPT stand-in; everything else is identity. */
const UNMAPPED = 0xa000;
const eptMap: GuestPhysicalMap = {
  translate: (gpa) => (gpa >= UNMAPPED && gpa < UNMAPPED + 0x1000 ? -1 : gpa),
};
const EPT = { proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, proc2: PROC_BASED2.ENABLE_EPT };

interface Run {
  readonly m: Machine;
  readonly exits: ExitRecord[];
  /** GUEST_INTERRUPTIBILITY_INFO and GUEST_ACTIVITY_STATE read at each exit. */
  readonly saved: [number, number][];
}

function run(
  setup: VmcsSetup,
  ops: readonly Op[],
  onExit: (e: ExitRecord, m: Machine) => boolean = () => false,
  before: (m: Machine) => void = () => {},
): Run {
  const m = machine();
  setupVmcs(m, setup);
  if (((setup.proc2 ?? 0) & PROC_BASED2.ENABLE_EPT) !== 0) m.cpu.setGuestPhysicalMap(eptMap);
  before(m);
  m.code.register(GUEST_ENTRY, script('guest', ops));
  const saved: [number, number][] = [];
  const exits = hypervisor(m, (e, cpu) => {
    saved.push([
      cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO),
      cpu.vmread(VMCS_FIELD.GUEST_ACTIVITY_STATE),
    ]);
    return onExit(e, m);
  });
  m.cpu.start(HOST_ENTRY);
  m.sim.runUntil(1_000_000_000);
  return { m, exits, saved };
}

/** Guest entered with IF = 0: STI sets IF and blocks for one operation, then `op`. */
const afterSti = (op: Op): Op[] => [(c) => c.sti(), op];

/** The operations whose VM exits are fault-like, each with the controls that make it exit. */
const faultLike: readonly [string, VmcsSetup, Op, number][] = [
  ['HLT with HLT exiting (reason 12)', { proc: PROC_BASED.HLT_EXITING }, (c) => c.hlt(), EXIT_REASON.HLT],
  ['VMCALL (reason 18)', {}, (c) => c.vmcall(), EXIT_REASON.VMCALL],
  ['RDMSR without MSR bitmaps (reason 31)', {}, (c) => c.rdmsr(MSR.X2APIC_PPR), EXIT_REASON.RDMSR],
  ['WRMSR without MSR bitmaps (reason 32)', {}, (c) => c.wrmsr(MSR.X2APIC_EOI, 0, 0), EXIT_REASON.WRMSR],
  [
    'a store to the APIC-access page (reason 44)',
    { proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES },
    (c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.EOI, 4, 0),
    EXIT_REASON.APIC_ACCESS,
  ],
  [
    'a load from the APIC-access page (reason 44)',
    { proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES },
    (c) => c.mmioRead(APIC_ACCESS_PAGE + APIC_REG.VERSION, 4),
    EXIT_REASON.APIC_ACCESS,
  ],
  [
    'an MMIO load the EPT does not map (reason 48)',
    EPT,
    (c) => c.mmioRead(UNMAPPED + 4, 4),
    EXIT_REASON.EPT_VIOLATION,
  ],
  [
    'an MMIO store the EPT does not map (reason 48)',
    EPT,
    (c) => c.mmioWrite(UNMAPPED, 4, 1),
    EXIT_REASON.EPT_VIOLATION,
  ],
  [
    'SIDT whose operand the EPT does not map (reason 48)',
    EPT,
    (c) => c.sidt(UNMAPPED),
    EXIT_REASON.EPT_VIOLATION,
  ],
  [
    'LIDT with descriptor-table exiting (reason 46)',
    { proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, proc2: PROC_BASED2.DESCRIPTOR_TABLE_EXITING },
    (c) => c.lidt(0x8000),
    EXIT_REASON.GDTR_IDTR_ACCESS,
  ],
];

describe('a fault-like VM exit of the operation after STI saves blocking by STI (SDM vol. 3 §25.1, §27.3.4)', () => {
  it.each(faultLike)('%s: bit 0 saved, activity state active', (_name, setup, op, reason) => {
    const { exits, saved } = run({ ...setup, rflags: RFLAGS.FIXED1 }, afterSti(op));
    expect(exits.map((e) => e.reason)).toEqual([reason]);
    expect(saved).toEqual([[STI, ACTIVITY_STATE.ACTIVE]]);
    // IF was set by the STI, which completed: the saved RFLAGS has it (entry check: bit 0 needs IF = 1).
    expect(exits[0]!.time).toBe(ENTRY_DONE + 2 * PS_PER_CYCLE + EXIT_PS);
  });

  it.each(faultLike)(
    '%s one operation later: no blocking saved (it covered only the operation after STI)',
    (_n, setup, op, reason) => {
      const { exits, saved } = run({ ...setup, rflags: RFLAGS.FIXED1 }, [
        (c) => c.sti(),
        (c) => c.compute(10),
        op,
      ]);
      expect(exits.map((e) => e.reason)).toEqual([reason]);
      expect(saved).toEqual([[0, ACTIVITY_STATE.ACTIVE]]);
    },
  );

  it('STI with IF already 1 blocks nothing (table 24-3: "Execution of STI with RFLAGS.IF = 0"), so a HLT exit saves 0', () => {
    const { saved } = run(
      { proc: PROC_BASED.HLT_EXITING },
      afterSti((c) => c.hlt()),
    );
    expect(saved).toEqual([[0, ACTIVITY_STATE.ACTIVE]]);
  });

  it('the first operation after an entry that loaded blocking by STI saves it when it exits (HLT)', () => {
    const { saved } = run(
      { proc: PROC_BASED.HLT_EXITING, fields: { [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: STI } },
      [(c) => c.hlt()],
    );
    expect(saved).toEqual([[STI, ACTIVITY_STATE.ACTIVE]]);
  });

  it('blocking by MOV SS loaded by the entry is saved as bit 1 by the first operation’s WRMSR exit', () => {
    const { saved } = run({ fields: { [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: MOV_SS } }, [
      (c) => c.wrmsr(MSR.X2APIC_EOI, 0, 0),
    ]);
    expect(saved).toEqual([[MOV_SS, ACTIVITY_STATE.ACTIVE]]);
  });

  it('blocking by NMI is saved with it (bit 3 is independent of bits 1:0)', () => {
    const { saved } = run(
      {
        rflags: RFLAGS.FIXED1,
        fields: { [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: INTERRUPTIBILITY.BLOCKING_BY_NMI },
      },
      afterSti((c) => c.vmcall()),
    );
    expect(saved).toEqual([[STI | INTERRUPTIBILITY.BLOCKING_BY_NMI, ACTIVITY_STATE.ACTIVE]]);
  });
});

describe('exits that save no blocking from the operation after STI', () => {
  const xapicv = (proc2: number, fields: Record<number, number> = {}): VmcsSetup => ({
    rflags: RFLAGS.FIXED1,
    proc: PROC_BASED.USE_TPR_SHADOW | PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
    proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES | proc2,
    fields: { [VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR]: VAPIC, ...fields },
  });

  it('trap-like APIC-write exit (56) after a virtualized store: the store completed, so the blocking ended (§27.1)', () => {
    const { exits, saved } = run(
      xapicv(PROC_BASED2.APIC_REGISTER_VIRTUALIZATION),
      afterSti((c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.EOI, 4, 0)),
    );
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.APIC_WRITE, 0xb0]]);
    expect(saved).toEqual([[0, ACTIVITY_STATE.ACTIVE]]);
  });

  it('trap-like TPR-below-threshold exit (43) after a virtualized TPR store: no blocking saved', () => {
    const { exits, saved } = run(
      xapicv(0, { [VMCS_FIELD.TPR_THRESHOLD]: 3 }),
      afterSti((c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.TPR, 4, 0x20)),
      () => false,
      (m) => m.memory.write32(VAPIC + APIC_REG.TPR, 0x40),
    );
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.TPR_BELOW_THRESHOLD]);
    expect(saved).toEqual([[0, ACTIVITY_STATE.ACTIVE]]);
  });

  it('trap-like EOI-induced exit (45) after a virtualized EOI store: no blocking saved', () => {
    const { exits, saved } = run(
      {
        ...xapicv(PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY, {
          [VMCS_FIELD.GUEST_INTERRUPT_STATUS]: 0x6100,
          [VMCS_FIELD.EOI_EXIT_BITMAP1 + 1]: 2,
        }),
        pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING,
      },
      afterSti((c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.EOI, 4, 0)),
      () => false,
      (m) => m.memory.write32(VAPIC + APIC_REG.ISR0 + 16 * 3, 1 << 1),
    );
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.VIRTUALIZED_EOI, 0x61]]);
    expect(saved).toEqual([[0, ACTIVITY_STATE.ACTIVE]]);
  });

  it('a preemption-timer exit (52) between STI and the next operation saves the blocking then in effect', () => {
    // Timer value 1 at rate 0: it expires 1 cycle after entry, during STI's 2 cycles.
    const m = machine({ preemptionRate: 0 });
    setupVmcs(m, {
      rflags: RFLAGS.FIXED1,
      pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER,
      fields: { [VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE]: 1 },
    });
    m.code.register(
      GUEST_ENTRY,
      script(
        'guest',
        afterSti((c) => c.hlt()),
      ),
    );
    const exits = hypervisor(m);
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(1_000_000_000);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.PREEMPTION_TIMER]);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO)).toBe(STI);
  });

  it('an exit during delivery of an NMI (EPT violation on its gate) saves none: "there is no blocking by STI or by MOV SS when the VM exit commences" (§27.1)', () => {
    const { m, exits, saved } = run(
      {
        ...EPT,
        fields: { [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: STI, [VMCS_FIELD.GUEST_IDTR_BASE]: UNMAPPED },
      },
      [(c) => c.compute(1000)],
      () => false,
      // Raised during the VM entry's transition: taken at the guest's first boundary.
      (m) => at(m.sim, 1, () => m.lapic.raiseNmi()),
    );
    expect(exits.map((e) => [e.reason, e.vectoringInfo])).toEqual([[EXIT_REASON.EPT_VIOLATION, 0x80000202]]);
    expect(saved).toEqual([[0, ACTIVITY_STATE.ACTIVE]]);
    expect(m.cpu.deliveredGuest[EXCEPTION.NMI]).toBe(0);
  });
});

describe('re-entry after a fault-like exit that saved blocking by STI', () => {
  /** `sti; hlt` with HLT exiting, then the next guest operation records when it begins. */
  function stiHlt(onHltExit: (m: Machine) => void, more: VmcsSetup = {}) {
    const began: number[] = [];
    const seen: number[] = [];
    const result = run(
      { ...more, proc: (more.proc ?? 0) | PROC_BASED.HLT_EXITING, rflags: RFLAGS.FIXED1 },
      [
        (c) => c.sti(),
        (c) => c.hlt(),
        (c) => {
          began.push(c.now);
          c.compute(1000);
        },
      ],
      (e, m) => {
        if (e.reason !== EXIT_REASON.HLT) return false;
        onHltExit(m);
        return true;
      },
      (m) =>
        handler(
          m,
          GUEST_IDT,
          0x41,
          script(
            'h41',
            [
              (c, f) => {
                seen.push(f.vector);
                c.vmcall();
              },
            ],
            'iret',
          ),
        ),
    );
    return { ...result, began, seen };
  }

  it('bits 1:0 left set: the entry fails its guest-state checks when it injects an external interrupt (§26.3.1.5) — why KVM clears them', () => {
    const { exits, seen } = stiHlt((m) => m.cpu.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO, 0x80000041));
    expect(exits.map((e) => e.reason)).toEqual([
      EXIT_REASON.HLT,
      (EXIT_REASON.INVALID_GUEST_STATE | EXIT_REASON_ENTRY_FAILURE) >>> 0,
    ]);
    expect(seen).toEqual([]);
  });

  it('bits 1:0 cleared, as skip_emulated_instruction does: the injected interrupt is delivered at the entry', () => {
    const { exits, seen, began } = stiHlt((m) => {
      const intr = m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
      m.cpu.vmwrite(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO, intr & ~(STI | MOV_SS));
      m.cpu.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO, 0x80000041);
    });
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.HLT, EXIT_REASON.VMCALL]);
    expect(seen).toEqual([0x41]);
    expect(began).toEqual([]);
  });

  it('bits 1:0 left set, no injection: the blocking covers the HLT this entry completes and ends with it — an interrupt-window exit comes at the first boundary, before the next operation begins', () => {
    const { exits, saved, began } = stiHlt((m) => {
      const proc = m.cpu.vmread(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
      m.cpu.vmwrite(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, proc | PROC_BASED.INTERRUPT_WINDOW_EXITING);
    });
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.HLT, EXIT_REASON.INTERRUPT_WINDOW]);
    const reentered = exits[0]!.time + ENTRY_DONE;
    expect(exits[1]!.time).toBe(reentered + EXIT_PS);
    expect(began).toEqual([]);
    expect(saved.map(([intr]) => intr)).toEqual([STI, 0]);
  });

  it('by contrast, blocking by STI saved between operations (preemption timer) holds the window exit until the next operation has begun', () => {
    const m = machine({ preemptionRate: 0 });
    setupVmcs(m, {
      rflags: RFLAGS.FIXED1,
      pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER,
      fields: { [VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE]: 1 },
    });
    const began: number[] = [];
    m.code.register(
      GUEST_ENTRY,
      script('guest', [
        (c) => c.sti(),
        (c) => {
          began.push(c.now);
          c.compute(1000);
        },
      ]),
    );
    const exits = hypervisor(m, (e, cpu) => {
      if (e.reason !== EXIT_REASON.PREEMPTION_TIMER) return false;
      cpu.vmwrite(
        VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL,
        cpu.vmread(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL) & ~PIN_BASED.ACTIVATE_PREEMPTION_TIMER,
      );
      const proc = cpu.vmread(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
      cpu.vmwrite(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, proc | PROC_BASED.INTERRUPT_WINDOW_EXITING);
      return true;
    });
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(1_000_000_000);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.PREEMPTION_TIMER, EXIT_REASON.INTERRUPT_WINDOW]);
    // The rest of STI's 2 cycles (1), then the next operation begins; the window exit follows it.
    const reentered = exits[0]!.time + ENTRY_DONE;
    expect(began).toEqual([reentered + PS_PER_CYCLE]);
    expect(exits[1]!.time).toBe(reentered + PS_PER_CYCLE + EXIT_PS);
  });
});
