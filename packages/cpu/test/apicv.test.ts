import {
  APIC_REG,
  EXIT_CONTROLS,
  EXIT_REASON,
  MSR,
  PIN_BASED,
  POSTED_INTERRUPT_DESCRIPTOR,
  PROC_BASED,
  PROC_BASED2,
  RFLAGS,
  VMCS_FIELD,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  at,
  DELIVERY_PS,
  ENTRY_DONE,
  GUEST_ENTRY,
  GUEST_IDT,
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

// Unit tests of APIC virtualization (SDM vol. 3 ch. 29) beyond the conformance suite: TPR and
// self-IPI virtualization, APIC-register virtualization of RDMSR, posted-interrupt processing
// in HLT and with IF = 0, and the exact 64-bit EOI-exit bitmap.

const T_IRQ = 50_000_000;
const PID = 0xa040;
const NV = 0xf2;
const VISR = APIC_REG.ISR0;
const VIRR = APIC_REG.IRR0;

function setBit(m: Machine, base: number, vector: number): void {
  const a = VAPIC + base + 16 * (vector >>> 5);
  m.memory.write32(a, (m.memory.read32(a) | (1 << (vector & 31))) >>> 0);
}

function bit(m: Machine, base: number, vector: number): number {
  return (m.memory.read32(VAPIC + base + 16 * (vector >>> 5)) >>> (vector & 31)) & 1;
}

/** Virtual-interrupt delivery with x2APIC virtualization, nothing intercepted; `more` adds to it. */
function apicv(status: number, more: VmcsSetup = {}): VmcsSetup {
  return {
    ...more,
    pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING | (more.pin ?? 0),
    proc: PROC_BASED.USE_TPR_SHADOW | PROC_BASED.ACTIVATE_SECONDARY_CONTROLS | PROC_BASED.USE_MSR_BITMAPS,
    proc2: PROC_BASED2.VIRTUALIZE_X2APIC_MODE | PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY | (more.proc2 ?? 0),
    exit: EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT,
    fields: {
      [VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR]: VAPIC,
      [VMCS_FIELD.GUEST_INTERRUPT_STATUS]: status,
      ...more.fields,
    },
  };
}

function posted(status: number, more: VmcsSetup = {}): VmcsSetup {
  return apicv(status, {
    ...more,
    pin: PIN_BASED.PROCESS_POSTED_INTERRUPTS,
    fields: {
      [VMCS_FIELD.POSTED_INTR_NOTIFICATION_VECTOR]: NV,
      [VMCS_FIELD.POSTED_INTR_DESC_ADDR]: PID,
      ...more.fields,
    },
  });
}

function descriptor(m: Machine, vectors: readonly number[]): void {
  for (const v of vectors) {
    const a = PID + 4 * (v >>> 5);
    m.memory.write32(a, (m.memory.read32(a) | (1 << (v & 31))) >>> 0);
  }
  m.memory.write32(
    PID + POSTED_INTERRUPT_DESCRIPTOR.CONTROL,
    (NV << POSTED_INTERRUPT_DESCRIPTOR.NV_SHIFT) | POSTED_INTERRUPT_DESCRIPTOR.ON,
  );
}

function on(m: Machine): number {
  return m.memory.read32(PID + POSTED_INTERRUPT_DESCRIPTOR.CONTROL) & POSTED_INTERRUPT_DESCRIPTOR.ON;
}

/** A guest handler that records (vector, time) and IRETs; with `vmcall`, it exits instead. */
function recorder(log: [number, number][], vmcall = false): ReturnType<typeof script> {
  return script(
    'rec',
    [
      (c, f) => {
        log.push([f.vector, c.now]);
        if (vmcall) c.vmcall();
        else c.compute(1);
      },
    ],
    'iret',
  );
}

function run(m: Machine, setup: VmcsSetup, ops: readonly Op[], resume = false) {
  setupVmcs(m, setup);
  m.code.register(GUEST_ENTRY, script('guest', ops));
  const exits = hypervisor(m, () => resume);
  m.cpu.start(0x100000);
  return exits;
}

describe('TPR virtualization (SDM §29.1.2) through WRMSR 808H', () => {
  it('with virtual-interrupt delivery: VTPR 0x60 holds back RVI 0x51; RDMSR 808H reads VTPR; writing 0 virtualizes PPR and delivers 0x51', () => {
    const m = machine();
    const log: [number, number][] = [];
    const reads: number[] = [];
    handler(m, GUEST_IDT, 0x51, recorder(log, true));
    m.memory.write32(VAPIC + APIC_REG.TPR, 0x60);
    setBit(m, VIRR, 0x51);
    const exits = run(m, apicv(0x0051), [
      (c) => c.rdmsr(MSR.X2APIC_TPR),
      (c) => {
        reads.push(c.resultLo, c.resultHi);
        c.wrmsr(MSR.X2APIC_TPR, 0, 0);
      },
    ]);
    m.sim.runUntil(1_000_000_000);
    expect(reads).toEqual([0x60, 0]);
    expect(log).toEqual([[0x51, ENTRY_DONE + 20 * PS_PER_CYCLE + DELIVERY_PS]]);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
    expect(m.memory.read32(VAPIC + APIC_REG.TPR)).toBe(0);
    expect(m.memory.read32(VAPIC + APIC_REG.PPR)).toBe(0x50);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPT_STATUS)).toBe(0x5100);
  });

  it('without virtual-interrupt delivery: VTPR[7:4] below the TPR threshold is a trap-like exit 43', () => {
    const m = machine();
    m.memory.write32(VAPIC + APIC_REG.TPR, 0x50);
    const exits = run(
      m,
      {
        proc: PROC_BASED.USE_TPR_SHADOW | PROC_BASED.ACTIVATE_SECONDARY_CONTROLS | PROC_BASED.USE_MSR_BITMAPS,
        proc2: PROC_BASED2.VIRTUALIZE_X2APIC_MODE,
        fields: { [VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR]: VAPIC, [VMCS_FIELD.TPR_THRESHOLD]: 4 },
      },
      [(c) => c.wrmsr(MSR.X2APIC_TPR, 0x40, 0), (c) => c.wrmsr(MSR.X2APIC_TPR, 0x30, 0)],
    );
    m.sim.runUntil(1_000_000_000);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.TPR_BELOW_THRESHOLD]);
    expect(exits[0]!.time).toBe(ENTRY_DONE + 30 * PS_PER_CYCLE + 1000 * PS_PER_CYCLE);
    expect(m.memory.read32(VAPIC + APIC_REG.TPR)).toBe(0x30);
    expect(m.lapic.mmioLog).toEqual([]);
  });

  it('a TPR value with bits 31:8 set raises #GP(0) and leaves VTPR alone', () => {
    const m = machine();
    const gp: [number, number][] = [];
    handler(m, GUEST_IDT, 13, recorder(gp, true));
    m.memory.write32(VAPIC + APIC_REG.TPR, 0x20);
    run(m, apicv(0), [(c) => c.wrmsr(MSR.X2APIC_TPR, 0x100, 0)]);
    m.sim.runUntil(1_000_000_000);
    expect(gp.map(([v]) => v)).toEqual([13]);
    expect(m.memory.read32(VAPIC + APIC_REG.TPR)).toBe(0x20);
  });
});

describe('self-IPI virtualization (SDM §29.1.5) and APIC-register virtualization of RDMSR (§29.5)', () => {
  // SDM vol. 3 §29.5: WRMSR 83FH stores EDX:EAX at offset X = (ECX & FFH) << 4 = 3F0H of the
  // virtual-APIC page (not at VICR_LO, 300H, which only a write through the APIC-access page uses).
  it('WRMSR 83FH of 0x70 stores 0x70 at offset 3F0H (VICR_LO untouched), sets VIRR[0x70] and delivers 0x70 with no exit', () => {
    const m = machine();
    const log: [number, number][] = [];
    handler(m, GUEST_IDT, 0x70, recorder(log, true));
    m.memory.write32(VAPIC + 0x3f4, 0xdead);
    const exits = run(m, apicv(0), [(c) => c.wrmsr(MSR.X2APIC_SELF_IPI, 0x70, 0)]);
    m.sim.runUntil(1_000_000_000);
    expect(log).toEqual([[0x70, ENTRY_DONE + DELIVERY_PS]]);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
    expect(m.memory.read32(VAPIC + 0x3f0)).toBe(0x70);
    // EDX (0) goes to bytes 7:4 at 3F4H.
    expect(m.memory.read32(VAPIC + 0x3f4)).toBe(0);
    expect(m.memory.read32(VAPIC + APIC_REG.ICR_LOW)).toBe(0);
    expect([bit(m, VISR, 0x70), bit(m, VIRR, 0x70)]).toEqual([1, 0]);
    expect(m.lapic.acknowledgeCount).toBe(0);
  });

  // SDM vol. 3 §29.5: with EAX[7:4] = 0 the processor does no self-IPI virtualization but causes
  // an APIC-write VM exit (reason 56) as for a write to offset 3F0H, the exit qualification
  // (§27.2.1); trap-like, so the WRMSR has completed (§29.4.3.3).
  it('WRMSR 83FH of vector 0x0F is a trap-like APIC-write exit 56 with qualification 0x3F0; VIRR and RVI are unchanged', () => {
    const m = machine();
    const log: [number, number][] = [];
    handler(m, GUEST_IDT, 0x0f, recorder(log, true));
    const exits = run(m, apicv(0), [(c) => c.wrmsr(MSR.X2APIC_SELF_IPI, 0x0f, 0)]);
    m.sim.runUntil(1_000_000_000);
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.APIC_WRITE, 0x3f0]]);
    expect(exits[0]!.reason).toBe(56);
    expect(exits[0]!.time).toBe(ENTRY_DONE + 1000 * PS_PER_CYCLE);
    expect(m.memory.read32(VAPIC + 0x3f0)).toBe(0x0f);
    expect(bit(m, VIRR, 0x0f)).toBe(0);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPT_STATUS)).toBe(0);
    expect(log).toEqual([]);
  });

  it('with APIC-register virtualization RDMSR 80AH reads VPPR from the page; without it the read reaches the LAPIC', () => {
    const read = (proc2: number): number[] => {
      const m = machine();
      m.lapic.enterX2apicMode();
      const out: number[] = [];
      m.memory.write32(VAPIC + APIC_REG.TPR, 0x40);
      run(m, apicv(0, { proc2 }), [
        (c) => c.rdmsr(MSR.X2APIC_PPR),
        (c) => {
          out.push(c.resultLo);
          c.vmcall();
        },
      ]);
      m.sim.runUntil(1_000_000_000);
      return out;
    };
    // VM entry virtualized PPR: VPPR = VTPR = 0x40. The double's PPR reads 0.
    expect(read(PROC_BASED2.APIC_REGISTER_VIRTUALIZATION)).toEqual([0x40]);
    expect(read(0)).toEqual([0]);
  });
});

describe('EOI virtualization and the EOI-exit bitmap (SDM §29.1.4, §24.6.8)', () => {
  it('the EOI-exit bitmap is exact in all 64 bits of a field: bits 0 and 63 of EOI_EXIT_BITMAP0 written as two halves', () => {
    const m = machine();
    setBit(m, VISR, 0x3f);
    setupVmcs(m, apicv(0x3f00));
    m.cpu.vmwrite(VMCS_FIELD.EOI_EXIT_BITMAP0, 1);
    m.cpu.vmwrite(VMCS_FIELD.EOI_EXIT_BITMAP0 + 1, 0x80000000);
    expect(m.cpu.vmread(VMCS_FIELD.EOI_EXIT_BITMAP0 + 1)).toBe(0x80000000);
    m.code.register(GUEST_ENTRY, script('guest', [(c) => c.wrmsr(MSR.X2APIC_EOI, 0, 0)]));
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(1_000_000_000);
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.VIRTUALIZED_EOI, 0x3f]]);
    expect(m.cpu.vmread(VMCS_FIELD.EOI_EXIT_BITMAP0)).toBe(2 ** 63 + 1);
  });

  it('without virtual-interrupt delivery the guest interrupt status is neither used nor saved', () => {
    const m = machine();
    const exits = run(m, { fields: { [VMCS_FIELD.GUEST_INTERRUPT_STATUS]: 0x1234 } }, [(c) => c.vmcall()]);
    m.sim.runUntil(1_000_000_000);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPT_STATUS)).toBe(0x1234);
  });
});

describe('posted-interrupt processing (SDM §29.6)', () => {
  it('in HLT (HLT exiting off) the notification is processed and the virtual interrupt wakes the guest; an x2APIC LAPIC is EOI’d through MSR 80BH', () => {
    const m = machine();
    m.lapic.enterX2apicMode();
    const log: [number, number][] = [];
    handler(m, GUEST_IDT, 0x63, recorder(log, true));
    descriptor(m, [0x63]);
    const exits = run(m, posted(0), [(c) => c.hlt()]);
    at(m.sim, T_IRQ, () => m.lapic.raise(NV));
    m.sim.runUntil(1_000_000_000);
    expect(log).toEqual([[0x63, T_IRQ + 2 * DELIVERY_PS]]);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
    expect(m.lapic.eoiCount).toBe(1);
    expect(m.lapic.mmioLog).toEqual([]);
    expect(m.stats.counterValue('cpu0.apicv.posted-interrupt-processing')).toBe(1);
  });

  it('with guest IF = 0 PIR is moved into VIRR at once, and the interrupt is delivered only after STI', () => {
    const m = machine();
    const log: [number, number][] = [];
    const seen: number[] = [];
    handler(m, GUEST_IDT, 0x63, recorder(log, true));
    descriptor(m, [0x63]);
    run(m, { ...posted(0), rflags: RFLAGS.FIXED1 }, [
      (c) => c.compute(1_000_000),
      (c) => {
        seen.push(bit(m, VIRR, 0x63), on(m));
        c.sti();
      },
      (c) => c.compute(10),
    ]);
    at(m.sim, T_IRQ, () => m.lapic.raise(NV));
    m.sim.runUntil(2_000_000_000);
    expect(seen).toEqual([1, 0]);
    const sti = ENTRY_DONE + 1_000_000 * PS_PER_CYCLE + DELIVERY_PS;
    expect(log).toEqual([[0x63, sti + 2 * PS_PER_CYCLE + DELIVERY_PS]]);
  });

  // SDM vol. 3 §29.6 steps 3–5: ON is cleared, then 0 is written to the LAPIC's EOI, and only
  // then is PIR ORed into VIRR and cleared.
  it('the LAPIC EOI (step 4) comes after ON is cleared (step 3) and before PIR moves into VIRR (step 5)', () => {
    const m = machine();
    const atEoi: number[] = [];
    const eoi = m.lapic.eoi.bind(m.lapic);
    m.lapic.eoi = () => {
      const pir = (m.memory.read32(PID + 4 * (0x63 >>> 5)) >>> (0x63 & 31)) & 1;
      atEoi.push(on(m), pir, bit(m, VIRR, 0x63));
      eoi();
    };
    handler(m, GUEST_IDT, 0x63, recorder([], true));
    descriptor(m, [0x63]);
    run(m, posted(0), [(c) => c.compute(1_000_000)]);
    at(m.sim, T_IRQ, () => m.lapic.raise(NV));
    m.sim.runUntil(1_000_000_000);
    // ON = 0, PIR[0x63] still 1, VIRR[0x63] still 0 when the EOI reaches the LAPIC.
    expect(atEoi).toEqual([0, 1, 0]);
    expect(m.memory.read32(PID + 4 * (0x63 >>> 5))).toBe(0);
  });

  it('an empty PIR leaves RVI as it was and delivers nothing; ON is still cleared and the notification EOI’d', () => {
    const m = machine();
    descriptor(m, []);
    const exits = run(m, posted(0x0020), [(c) => c.compute(1_000_000), (c) => c.vmcall()]);
    m.memory.write32(VAPIC + APIC_REG.TPR, 0x20);
    at(m.sim, T_IRQ, () => m.lapic.raise(NV));
    m.sim.runUntil(2_000_000_000);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
    expect(exits[0]!.time).toBe(ENTRY_DONE + (1_000_000 + 1000) * PS_PER_CYCLE + DELIVERY_PS);
    expect(on(m)).toBe(0);
    expect(m.lapic.eoiCount).toBe(1);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPT_STATUS)).toBe(0x0020);
  });
});
