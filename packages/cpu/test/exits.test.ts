import type { GuestPhysicalMap } from '@exitless/x86';
import {
  ACTIVITY_STATE,
  APIC_REG,
  DESCRIPTOR_TABLE_INSTRUCTION,
  EPT_VIOLATION_QUAL,
  EXCEPTION,
  EXIT_CONTROLS,
  EXIT_REASON,
  GATE_TYPE,
  GPA_ACCESS,
  INSTRUCTION_INFO,
  INTERRUPTIBILITY,
  MSR,
  MSR_BITMAP,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  setMsrIntercept,
  VMCS_FIELD,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  APIC_ACCESS_PAGE,
  at,
  ENTRY_DONE,
  GUEST_ENTRY,
  GUEST_IDT,
  handler,
  hypervisor,
  MSR_BITMAP_ADDRESS,
  machine,
  type Op,
  PS_PER_CYCLE,
  script,
  setupVmcs,
} from './harness.js';

const EXIT_CYCLES_PS = 1000 * PS_PER_CYCLE;
const T_IRQ = 50_000_000; // 50 µs

function guest(m: ReturnType<typeof machine>, ops: readonly Op[]): void {
  m.code.register(GUEST_ENTRY, script('guest', ops));
}

describe('external-interrupt exiting (exit reason 1)', () => {
  it('external-interrupt exiting and acknowledge-on-exit set: a pending vector 0x41 exits with reason 1, exit interruption information 0x80000041, and the LAPIC has 0x41 in service', () => {
    const m = machine();
    setupVmcs(m, {
      pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING,
      exit: EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT,
    });
    guest(m, [(c) => c.compute(1_000_000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    at(m.sim, T_IRQ, () => m.lapic.raise(0x41));
    m.sim.runUntil(2_000_000_000);
    expect(exits).toHaveLength(1);
    expect(exits[0]!.reason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(exits[0]!.intrInfo).toBe(0x80000041);
    expect(exits[0]!.time).toBe(T_IRQ + EXIT_CYCLES_PS);
    expect(m.lapic.isr[0x41]).toBe(1);
    expect(m.lapic.irr[0x41]).toBe(0);
    expect(m.stats.counterValue('cpu0.exits.external-interrupt')).toBe(1);
  });

  it('without acknowledge-on-exit the exit interruption information is invalid and 0x41 stays requested in IRR', () => {
    const m = machine();
    setupVmcs(m, { pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING });
    guest(m, [(c) => c.compute(1_000_000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    at(m.sim, T_IRQ, () => m.lapic.raise(0x41));
    m.sim.runUntil(2_000_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(exits[0]!.intrInfo & 0x80000000).toBe(0);
    expect(m.lapic.irr[0x41]).toBe(1);
    expect(m.lapic.isr[0x41]).toBe(0);
  });

  it('exits regardless of RFLAGS.IF = 0 in the guest', () => {
    const m = machine();
    setupVmcs(m, {
      pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING,
      exit: EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT,
      rflags: 0x2,
    });
    guest(m, [(c) => c.compute(1_000_000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    at(m.sim, T_IRQ, () => m.lapic.raise(0x41));
    m.sim.runUntil(2_000_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_RFLAGS) & 0x200).toBe(0);
  });
});

describe('exception bitmap (exit reason 0)', () => {
  it('external-interrupt exiting clear, #NP set in the exception bitmap, vector 0x41 gate not present: the guest exits with reason 0, exit interruption information for #NP with error code 0x20B valid, and IDT-vectoring information valid, type external interrupt, vector 0x41', () => {
    const m = machine();
    setupVmcs(m, { exceptionBitmap: 1 << EXCEPTION.NP });
    handler(m, GUEST_IDT, 0x41, script('never', [], 'iret'), { present: false });
    guest(m, [(c) => c.compute(1_000_000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    at(m.sim, T_IRQ, () => m.lapic.raise(0x41));
    m.sim.runUntil(2_000_000_000);
    const e = exits[0]!;
    expect(e.reason).toBe(EXIT_REASON.EXCEPTION_OR_NMI);
    // valid | error code valid | type 3 (hardware exception) | vector 11
    expect(e.intrInfo).toBe(0x80000b0b);
    expect(e.intrError).toBe(0x20b);
    // valid | type 0 (external interrupt) | vector 0x41
    expect(e.vectoringInfo).toBe(0x80000041);
    // The CPU acknowledged the LAPIC before it read the gate.
    expect(m.lapic.isr[0x41]).toBe(1);
    expect(m.cpu.deliveredGuest[0x41]).toBe(0);
  });

  it('with the gate present the same interrupt reaches the guest handler with no exit (exitless delivery)', () => {
    const m = machine();
    setupVmcs(m, { exceptionBitmap: 1 << EXCEPTION.NP });
    const seen: number[] = [];
    handler(
      m,
      GUEST_IDT,
      0x41,
      script(
        'h41',
        [
          (c, f) => {
            seen.push(f.vector);
            c.compute(10);
          },
        ],
        'iret',
      ),
    );
    guest(m, [(c) => c.compute(1_000_000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    at(m.sim, T_IRQ, () => m.lapic.raise(0x41));
    m.sim.runUntil(500_000_000);
    expect(exits).toHaveLength(0);
    expect(seen).toEqual([0x41]);
    expect(m.cpu.deliveredGuest[0x41]).toBe(1);
  });

  it('a #GP raised by a guest RDMSR of an unimplemented MSR exits with reason 0, information 0x80000B0D, error code 0 and no IDT-vectoring information', () => {
    const m = machine();
    setupVmcs(m, { proc: PROC_BASED.USE_MSR_BITMAPS, exceptionBitmap: 1 << EXCEPTION.GP });
    guest(m, [(c) => c.rdmsr(0x1234)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.EXCEPTION_OR_NMI);
    expect(exits[0]!.intrInfo).toBe(0x80000b0d);
    expect(exits[0]!.intrError).toBe(0);
    expect(exits[0]!.vectoringInfo).toBe(0);
  });
});

describe('NMI exiting', () => {
  it('pin-based NMI exiting: an NMI exits with reason 0, interruption information valid, type NMI, vector 2 (0x80000202)', () => {
    const m = machine();
    setupVmcs(m, { pin: PIN_BASED.NMI_EXITING });
    guest(m, [(c) => c.compute(1_000_000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    at(m.sim, T_IRQ, () => m.lapic.raiseNmi());
    m.sim.runUntil(2_000_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.EXCEPTION_OR_NMI);
    expect(exits[0]!.intrInfo).toBe(0x80000202);
    expect(m.lapic.nmiPending).toBe(false);
  });

  it('without NMI exiting the NMI is delivered through the guest IDT (vector 2) and no exit happens', () => {
    const m = machine();
    setupVmcs(m, {});
    const seen: number[] = [];
    handler(
      m,
      GUEST_IDT,
      EXCEPTION.NMI,
      script(
        'nmi',
        [
          (c, f) => {
            seen.push(f.vector);
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    guest(m, [(c) => c.compute(1_000_000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    at(m.sim, T_IRQ, () => m.lapic.raiseNmi());
    m.sim.runUntil(500_000_000);
    expect(exits).toHaveLength(0);
    expect(seen).toEqual([2]);
  });
});

describe('interrupt-window exiting (exit reason 7)', () => {
  it('guest IF = 0 with interrupt-window exiting set: exits with reason 7 at the first operation boundary after STI’s shadow', () => {
    const m = machine();
    setupVmcs(m, { proc: PROC_BASED.INTERRUPT_WINDOW_EXITING, rflags: 0x2 });
    const log: number[] = [];
    guest(m, [
      (c) => c.compute(1000),
      (c) => c.sti(),
      (c) => {
        log.push(c.now);
        c.compute(5000);
      },
    ]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits).toHaveLength(1);
    // compute(1000) ends at entry + 1000 cycles; STI takes 2 cycles; the next operation begins
    // there, ending the shadow, and the exit is taken at that boundary.
    const boundary = ENTRY_DONE + 1002 * PS_PER_CYCLE;
    expect(log).toEqual([boundary]);
    expect(exits[0]!.reason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    expect(exits[0]!.time).toBe(boundary + EXIT_CYCLES_PS);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_RFLAGS) & 0x200).toBe(0x200);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO) & INTERRUPTIBILITY.BLOCKING_BY_STI).toBe(0);
  });

  it('with IF = 1 it exits immediately after VM entry', () => {
    const m = machine();
    setupVmcs(m, { proc: PROC_BASED.INTERRUPT_WINDOW_EXITING });
    guest(m, [(c) => c.compute(1000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    expect(exits[0]!.time).toBe(ENTRY_DONE + EXIT_CYCLES_PS);
  });

  it('entered with blocking by STI, the exit waits until the guest’s first operation has begun', () => {
    const m = machine();
    setupVmcs(m, {
      proc: PROC_BASED.INTERRUPT_WINDOW_EXITING,
      fields: { [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: INTERRUPTIBILITY.BLOCKING_BY_STI },
    });
    const ran: number[] = [];
    guest(m, [
      (c) => {
        ran.push(c.now);
        c.compute(1000);
      },
    ]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(ran).toEqual([ENTRY_DONE]);
    expect(exits[0]!.time).toBe(ENTRY_DONE + EXIT_CYCLES_PS);
  });
});

describe('instruction exits', () => {
  it('HLT exiting: HLT exits with reason 12 and instruction length 1', () => {
    const m = machine();
    setupVmcs(m, { proc: PROC_BASED.HLT_EXITING });
    guest(m, [(c) => c.compute(10)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.HLT);
    expect(exits[0]!.instructionLength).toBe(1);
    expect(exits[0]!.time).toBe(ENTRY_DONE + 10 * PS_PER_CYCLE + EXIT_CYCLES_PS);
  });

  it('without HLT exiting the guest halts in non-root operation (no exit)', () => {
    const m = machine();
    setupVmcs(m, {});
    guest(m, [(c) => c.compute(10)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits).toHaveLength(0);
    expect(m.cpu.isHalted).toBe(true);
    expect(m.cpu.vmxNonRoot).toBe(true);
  });

  it('VMCALL in VMX non-root operation always exits with reason 18; the hypercall number is in RAX', () => {
    const m = machine();
    setupVmcs(m, {});
    guest(m, [
      (c) => {
        c.rax = 42;
        c.vmcall();
      },
    ]);
    let rax = -1;
    const exits = hypervisor(m, (_e, cpu) => {
      rax = cpu.rax;
      return false;
    });
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.VMCALL);
    expect(exits[0]!.instructionLength).toBe(3);
    expect(rax).toBe(42);
  });

  it('RDMSR and WRMSR exit (31, 32) when "use MSR bitmaps" is 0; the emulated RDMSR result comes from RDX:RAX', () => {
    const m = machine();
    setupVmcs(m, {});
    const results: number[] = [];
    guest(m, [
      (c) => c.rdmsr(MSR.IA32_TSC),
      (c) => {
        results.push(c.resultLo, c.resultHi);
        c.wrmsr(0x80b, 0, 0);
      },
    ]);
    const ecx: number[] = [];
    const exits = hypervisor(m, (e, cpu) => {
      ecx.push(cpu.rcx);
      if (e.reason === EXIT_REASON.RDMSR) {
        cpu.rax = 0x1234;
        cpu.rdx = 5;
        return true;
      }
      return false;
    });
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.RDMSR, EXIT_REASON.WRMSR]);
    expect(ecx).toEqual([MSR.IA32_TSC, 0x80b]);
    expect(results).toEqual([0x1234, 5]);
  });

  it('with MSR bitmaps, a write of x2APIC EOI (0x80B) whose bit is clear goes to the physical LAPIC with no exit (exitless EOI)', () => {
    const m = machine();
    m.lapic.enterX2apicMode();
    m.lapic.isr[0x41] = 1;
    setupVmcs(m, { proc: PROC_BASED.USE_MSR_BITMAPS });
    guest(m, [(c) => c.wrmsr(MSR.X2APIC_EOI, 0, 0)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits).toHaveLength(0);
    expect(m.lapic.eoiCount).toBe(1);
    expect(m.lapic.isr[0x41]).toBe(0);
  });

  it('with MSR bitmaps, the write bit of 0x80B set in the bitmap (byte 2048 + 0x101, bit 3) makes the WRMSR exit', () => {
    const m = machine();
    m.lapic.enterX2apicMode();
    const bitmap = new Uint8Array(MSR_BITMAP.SIZE);
    setMsrIntercept(bitmap, MSR.X2APIC_EOI, true, true);
    expect(bitmap[MSR_BITMAP.WRITE_LOW + (0x80b >>> 3)]).toBe(1 << 3);
    m.memory.writeBytes(MSR_BITMAP_ADDRESS, bitmap);
    setupVmcs(m, { proc: PROC_BASED.USE_MSR_BITMAPS });
    guest(m, [(c) => c.rdmsr(MSR.X2APIC_TPR), (c) => c.wrmsr(MSR.X2APIC_EOI, 0, 0)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    // The read of TPR (read bit clear) did not exit; the EOI write did.
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.WRMSR]);
    expect(m.lapic.eoiCount).toBe(0);
  });

  it('with MSR bitmaps, an MSR outside both bitmap ranges always exits', () => {
    const m = machine();
    setupVmcs(m, { proc: PROC_BASED.USE_MSR_BITMAPS });
    guest(m, [(c) => c.rdmsr(0x40000000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.RDMSR);
  });
});

describe('APIC-access exits (exit reason 44)', () => {
  const secondary = {
    proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
    proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES,
  };

  it('a guest write to offset 0xB0 of the APIC-access page exits with qualification 0x10B0 (linear write, EOI)', () => {
    const m = machine();
    setupVmcs(m, secondary);
    guest(m, [(c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.EOI, 4, 0)]);
    let rax = -1;
    const exits = hypervisor(m, (_e, cpu) => {
      rax = cpu.rax;
      return false;
    });
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.APIC_ACCESS);
    expect(exits[0]!.qualification).toBe(0x10b0);
    expect(rax).toBe(0);
    expect(m.lapic.mmioLog).toHaveLength(0);
  });

  it('a read of offset 0x30 exits with qualification 0x030 and completes with the value the host emulated in RAX', () => {
    const m = machine();
    setupVmcs(m, secondary);
    const got: number[] = [];
    guest(m, [
      (c) => c.mmioRead(APIC_ACCESS_PAGE + APIC_REG.VERSION, 4),
      (c) => {
        got.push(c.resultLo);
        c.hlt();
      },
    ]);
    const exits = hypervisor(m, (e, cpu) => {
      if (e.reason !== EXIT_REASON.APIC_ACCESS) return false;
      cpu.rax = 0x50014;
      return true;
    });
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.qualification).toBe(0x030);
    expect(got).toEqual([0x50014]);
  });

  it('without "virtualize APIC accesses" the same access goes to the bus and does not exit', () => {
    const m = machine();
    setupVmcs(m, {});
    guest(m, [(c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.EOI, 4, 7)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits).toHaveLength(0);
    expect(m.memory.read32(APIC_ACCESS_PAGE + APIC_REG.EOI)).toBe(7);
  });
});

describe('EPT violations (exit reason 48)', () => {
  const map: GuestPhysicalMap = { translate: (gpa) => (gpa >= 0x9000 && gpa < 0xa000 ? -1 : gpa) };
  const ept = { proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, proc2: PROC_BASED2.ENABLE_EPT };

  it('a read of an unmapped guest-physical address exits with qualification bit 0 (read) and GUEST_PHYSICAL_ADDRESS', () => {
    const m = machine();
    setupVmcs(m, ept);
    m.cpu.setGuestPhysicalMap(map);
    guest(m, [(c) => c.mmioRead(0x9004, 4)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(exits[0]!.qualification).toBe(EPT_VIOLATION_QUAL.READ);
    expect(exits[0]!.guestPhysicalAddress).toBe(0x9004);
  });

  it('a write exits with qualification bit 1 (write)', () => {
    const m = machine();
    setupVmcs(m, ept);
    m.cpu.setGuestPhysicalMap(map);
    guest(m, [(c) => c.mmioWrite(0x9ffc, 4, 1)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.qualification).toBe(EPT_VIOLATION_QUAL.WRITE);
    expect(exits[0]!.guestPhysicalAddress).toBe(0x9ffc);
  });

  it('a write to a read-only page exits with bit 1 (write) and bit 3 (readable) set, bits 4 and 5 clear, and the page is unchanged', () => {
    // A page the EPT maps readable only (a hypervisor's read-only page, like ELI's shadow IDT).
    const readOnly: GuestPhysicalMap = {
      translate: (gpa, access) => (gpa >= 0x9000 && gpa < 0xa000 && access !== GPA_ACCESS.READ ? -1 : gpa),
      permissions: (gpa) => (gpa >= 0x9000 && gpa < 0xa000 ? GPA_ACCESS.READ : 7),
    };
    const m = machine();
    setupVmcs(m, ept);
    m.cpu.setGuestPhysicalMap(readOnly);
    m.memory.write32(0x9010, 0x1234);
    guest(m, [(c) => c.mmioRead(0x9010, 4), (c) => c.mmioWrite(0x9010, 4, 0xdead)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits).toHaveLength(1);
    expect(exits[0]!.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(exits[0]!.qualification).toBe(EPT_VIOLATION_QUAL.WRITE | EPT_VIOLATION_QUAL.READABLE);
    expect(exits[0]!.guestPhysicalAddress).toBe(0x9010);
    expect(m.memory.read32(0x9010)).toBe(0x1234);
  });
});

describe('guest accesses that cross a page boundary (each page through the EPT)', () => {
  const ept = { proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, proc2: PROC_BASED2.ENABLE_EPT };
  // Guest-physical page 0x9000 is host-physical 0x9000; page 0xa000 is not mapped.
  const lastPage: GuestPhysicalMap = { translate: (gpa) => (gpa >= 0xa000 && gpa < 0xb000 ? -1 : gpa) };
  // Guest-physical page 0xa000 is host-physical 0x20000: neighbours in the guest, not in the host.
  const scattered: GuestPhysicalMap = {
    translate: (gpa) => (gpa >= 0xa000 && gpa < 0xb000 ? 0x20000 + (gpa - 0xa000) : gpa),
  };
  /** Runs `ops` as the guest with EPT, `map`, VMCS `fields` and memory set by `prepare`, for 100 µs; returns the machine and its exits. */
  const run = (
    map: GuestPhysicalMap,
    ops: readonly Op[],
    fields: Readonly<Record<number, number>> = {},
    prepare: (m: ReturnType<typeof machine>) => void = () => {},
  ) => {
    const m = machine();
    setupVmcs(m, { ...ept, fields });
    m.cpu.setGuestPhysicalMap(map);
    prepare(m);
    guest(m, ops);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    return { m, exits };
  };

  it('SIDT whose 10 bytes run into an unmapped page exits with an EPT violation (write) at that page, and writes none of them', () => {
    const { m, exits } = run(lastPage, [(c) => c.sidt(0x9ff8)]);
    expect(exits[0]!.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(exits[0]!.qualification & 7).toBe(EPT_VIOLATION_QUAL.WRITE);
    expect(exits[0]!.guestPhysicalAddress).toBe(0xa000);
    // Nothing reached the guest's last page, nor the host memory after it.
    for (let a = 0x9ff8; a < 0xa002; a++) expect(m.memory.read8(a)).toBe(0);
  });

  it('SIDT across two mapped pages stores each byte through its own page: limit and low base bytes at 0x9ffc, the rest at host 0x20000', () => {
    const { m, exits } = run(scattered, [(c) => c.sidt(0x9ffc), (c) => c.vmcall()], {
      [VMCS_FIELD.GUEST_IDTR_BASE]: 0x12345678,
    });
    expect(exits[0]!.reason).toBe(EXIT_REASON.VMCALL);
    // Bytes ff 0f 78 56 | 34 12 00 00 00 00: four in the first page, six at host 0x20000.
    expect([0x9ffc, 0x9ffd, 0x9ffe, 0x9fff].map((a) => m.memory.read8(a))).toEqual([0xff, 0x0f, 0x78, 0x56]);
    expect([0x20000, 0x20001, 0x20002, 0x20003].map((a) => m.memory.read8(a))).toEqual([0x34, 0x12, 0, 0]);
    // Host 0xa000, right after host 0x9fff, is not the guest's page 0xa000.
    expect(m.memory.read16(0xa000)).toBe(0);
  });

  it('LIDT across two mapped pages reads each byte from its own page', () => {
    // Limit 0x7ff at 0x9ffd–0x9ffe; base 0x00044000: byte 0x00 at 0x9fff, then 40 04 00 at host 0x20000.
    const { m, exits } = run(scattered, [(c) => c.lidt(0x9ffd), (c) => c.vmcall()], {}, (m) => {
      m.memory.write16(0x9ffd, 0x7ff);
      m.memory.write8(0x9fff, 0x00);
      m.memory.write8(0x20000, 0x40);
      m.memory.write8(0x20001, 0x04);
      // What a contiguous read would have taken (host 0xa000 on): a different base.
      m.memory.write8(0xa000, 0x77);
    });
    expect(exits[0]!.reason).toBe(EXIT_REASON.VMCALL);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_IDTR_LIMIT)).toBe(0x7ff);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_IDTR_BASE)).toBe(0x44000);
  });

  it('a 4-byte store across into an unmapped page exits with an EPT violation at that page and changes nothing', () => {
    const { m, exits } = run(lastPage, [(c) => c.mmioWrite(0x9ffe, 4, 0x11223344)]);
    expect(exits[0]!.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(exits[0]!.qualification & 7).toBe(EPT_VIOLATION_QUAL.WRITE);
    expect(exits[0]!.guestPhysicalAddress).toBe(0xa000);
    expect(m.memory.read16(0x9ffe)).toBe(0);
    expect(m.memory.read16(0xa000)).toBe(0);
  });

  it('a 4-byte load and store across two mapped pages use each page’s own host address', () => {
    let loaded = -1;
    const ops: Op[] = [
      (c) => c.mmioRead(0x9ffe, 4),
      (c) => {
        loaded = c.resultLo;
        c.mmioWrite(0x9fff, 4, 0xddccbbaa);
      },
      (c) => c.vmcall(),
    ];
    const { m, exits } = run(scattered, ops, {}, (m) => {
      m.memory.write16(0x9ffe, 0x2211);
      m.memory.write16(0x20000, 0x4433);
    });
    expect(exits[0]!.reason).toBe(EXIT_REASON.VMCALL);
    expect(loaded).toBe(0x44332211);
    expect(m.memory.read8(0x9fff)).toBe(0xaa);
    expect([0x20000, 0x20001, 0x20002].map((a) => m.memory.read8(a))).toEqual([0xbb, 0xcc, 0xdd]);
    expect(m.memory.read32(0xa000)).toBe(0);
  });

  it('an IDT gate split by a page boundary with its second half unmapped: delivering 0x41 exits with an EPT violation (read) at that page, vectoring 0x41', () => {
    const m = machine();
    // The guest IDT placed so that gate 0x41 starts 8 bytes before page 0xa000.
    const idt = 0xa000 - 8 - 0x41 * 16;
    setupVmcs(m, { ...ept, fields: { [VMCS_FIELD.GUEST_IDTR_BASE]: idt } });
    m.cpu.setGuestPhysicalMap(lastPage);
    guest(m, [(c) => c.compute(1_000_000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    at(m.sim, T_IRQ, () => m.lapic.raise(0x41));
    m.sim.runUntil(2_000_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(exits[0]!.qualification & 7).toBe(EPT_VIOLATION_QUAL.READ);
    expect(exits[0]!.guestPhysicalAddress).toBe(0xa000);
    expect(exits[0]!.vectoringInfo).toBe(0x80000041);
  });
});

describe('descriptor-table exiting (exit reason 46)', () => {
  const dt = { proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, proc2: PROC_BASED2.DESCRIPTOR_TABLE_EXITING };
  const info = (identity: number): number =>
    (INSTRUCTION_INFO.ADDRESS_SIZE_64 |
      INSTRUCTION_INFO.INDEX_INVALID |
      INSTRUCTION_INFO.BASE_INVALID |
      (3 << 15) |
      (identity << INSTRUCTION_INFO.IDENTITY_SHIFT)) >>>
    0;

  it('LIDT exits with the operand address in the qualification and identity 3 (LIDT) in bits 29:28, base and index invalid', () => {
    const m = machine();
    setupVmcs(m, dt);
    guest(m, [(c) => c.lidt(0x8000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.GDTR_IDTR_ACCESS);
    expect(exits[0]!.qualification).toBe(0x8000);
    expect(exits[0]!.instructionInfo).toBe(info(DESCRIPTOR_TABLE_INSTRUCTION.LIDT));
    // The guest's IDTR is unchanged: the shadow IDT stays hidden.
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_IDTR_BASE)).toBe(GUEST_IDT);
  });

  it('SIDT exits with identity 1 and writes nothing to guest memory', () => {
    const m = machine();
    setupVmcs(m, dt);
    guest(m, [(c) => c.sidt(0x8000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.instructionInfo).toBe(info(DESCRIPTOR_TABLE_INSTRUCTION.SIDT));
    expect(m.memory.read16(0x8000)).toBe(0);
  });

  it('without descriptor-table exiting, LIDT loads the guest IDTR (saved to GUEST_IDTR_* at the next exit)', () => {
    const m = machine();
    setupVmcs(m, {});
    m.memory.write16(0x8000, 0x7ff);
    m.memory.write32(0x8002, 0x44000);
    guest(m, [(c) => c.lidt(0x8000), (c) => c.vmcall()]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.VMCALL);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_IDTR_BASE)).toBe(0x44000);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_IDTR_LIMIT)).toBe(0x7ff);
  });
});

describe('VMX-preemption timer (exit reason 52)', () => {
  it('exits when the timer reaches 0: value << IA32_VMX_MISC[4:0] cycles after entry', () => {
    const m = machine({ preemptionRate: 5 });
    setupVmcs(m, {
      pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER,
      exit: EXIT_CONTROLS.SAVE_PREEMPTION_TIMER,
      fields: { [VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE]: 100 },
    });
    guest(m, [(c) => c.compute(10_000_000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(exits[0]!.time).toBe(ENTRY_DONE + (100 << 5) * PS_PER_CYCLE + EXIT_CYCLES_PS);
    expect(m.cpu.vmread(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE)).toBe(0);
  });

  it('counts down while the guest is halted, and the exit saves activity state HLT', () => {
    const m = machine({ preemptionRate: 3 });
    setupVmcs(m, {
      pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER,
      fields: { [VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE]: 1000 },
    });
    guest(m, []);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(exits[0]!.time).toBe(ENTRY_DONE + (1000 << 3) * PS_PER_CYCLE + EXIT_CYCLES_PS);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_ACTIVITY_STATE)).toBe(ACTIVITY_STATE.HLT);
  });

  it('an earlier exit saves the remaining value when "save VMX-preemption timer value" is 1', () => {
    const m = machine({ preemptionRate: 5 });
    setupVmcs(m, {
      pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER,
      exit: EXIT_CONTROLS.SAVE_PREEMPTION_TIMER,
      fields: { [VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE]: 100 },
    });
    guest(m, [(c) => c.compute(1000), (c) => c.vmcall()]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.VMCALL);
    // 1000 cycles = 31 ticks of 32 cycles.
    expect(m.cpu.vmread(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE)).toBe(100 - 31);
  });

  it('a value of 0 exits right after VM entry, after the injected event is delivered', () => {
    const m = machine();
    setupVmcs(m, {
      pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER,
      fields: { [VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE]: 0, [VMCS_FIELD.VM_ENTRY_INTR_INFO]: 0x80000041 },
    });
    const seen: number[] = [];
    handler(
      m,
      GUEST_IDT,
      0x41,
      script(
        'h41',
        [
          (c, f) => {
            seen.push(f.vector);
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    guest(m, [(c) => c.compute(100)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(exits[0]!.time).toBe(ENTRY_DONE + EXIT_CYCLES_PS);
    expect(m.cpu.deliveredGuest[0x41]).toBe(1);
    expect(seen).toEqual([]); // delivered (frame pushed) but the handler had not run an operation yet
  });
});

describe('event injection at VM entry', () => {
  it('VM_ENTRY_INTR_INFO 0x80000041 delivers vector 0x41 through the guest IDT, and the valid bit is clear after the next exit', () => {
    const m = machine();
    setupVmcs(m, { fields: { [VMCS_FIELD.VM_ENTRY_INTR_INFO]: 0x80000041 } });
    const seen: { vector: number; ifInHandler: boolean }[] = [];
    handler(
      m,
      GUEST_IDT,
      0x41,
      script(
        'h41',
        [
          (c, f) => {
            seen.push({ vector: f.vector, ifInHandler: c.interruptsEnabled });
            c.compute(5);
          },
        ],
        'iret',
      ),
    );
    guest(m, [(c) => c.compute(100), (c) => c.vmcall()]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(seen).toEqual([{ vector: 0x41, ifInHandler: false }]);
    expect(exits[0]!.reason).toBe(EXIT_REASON.VMCALL);
    expect(m.cpu.vmread(VMCS_FIELD.VM_ENTRY_INTR_INFO)).toBe(0x41);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_RFLAGS) & 0x200).toBe(0x200);
  });

  it('an injected #GP with error code is delivered with that error code in the frame', () => {
    const m = machine();
    setupVmcs(m, {
      fields: {
        [VMCS_FIELD.VM_ENTRY_INTR_INFO]: 0x80000b0d,
        [VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE]: 0x18,
      },
    });
    const seen: number[] = [];
    handler(
      m,
      GUEST_IDT,
      EXCEPTION.GP,
      script(
        'gp',
        [
          (c, f) => {
            seen.push(f.errorCode);
            c.compute(1);
          },
        ],
        'iret',
      ),
    );
    guest(m, [(c) => c.compute(100)]);
    hypervisor(m);
    m.cpu.start(0x100000);
    m.sim.runUntil(100_000_000);
    expect(seen).toEqual([0x18]);
  });
});

describe('triple fault in VMX non-root operation (exit reason 2)', () => {
  it('an interrupt with #NP, #DF and their gates all not present ends in exit reason 2', () => {
    const m = machine();
    setupVmcs(m, {});
    for (const v of [0x41, EXCEPTION.NP, EXCEPTION.DF]) {
      handler(m, GUEST_IDT, v, script('absent', [], 'iret'), { present: false, type: GATE_TYPE.INTERRUPT });
    }
    guest(m, [(c) => c.compute(1_000_000)]);
    const exits = hypervisor(m);
    m.cpu.start(0x100000);
    at(m.sim, T_IRQ, () => m.lapic.raise(0x41));
    m.sim.runUntil(2_000_000_000);
    expect(exits[0]!.reason).toBe(EXIT_REASON.TRIPLE_FAULT);
    expect(m.stats.counterValue('cpu0.faults.double')).toBe(1);
    expect(m.stats.counterValue('cpu0.faults.triple')).toBe(1);
  });
});
