import {
  APIC_REG,
  EXCEPTION,
  EXIT_REASON,
  INTERRUPTIBILITY,
  PIN_BASED,
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
  EXIT_PS,
  GUEST_ENTRY,
  GUEST_IDT,
  HOST_ENTRY,
  HOST_IDT,
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

// Blocking of NMIs across VM exits and guest IRETs, blocking by MOV SS, and the TPR-threshold
// exit that follows a VM entry: each case is what the Intel SDM vol. 3 says, cited per test.

const T_NMI = 50_000_000;

function guest(m: Machine, ops: readonly Op[]): void {
  m.code.register(GUEST_ENTRY, script('guest', ops));
}

/** A handler that records (vector, time) at its first operation, then computes 1 cycle and IRETs. */
function recorder(log: [number, number][]): ReturnType<typeof script> {
  return script(
    'rec',
    [
      (c, f) => {
        log.push([f.vector, c.now]);
        c.compute(1);
      },
    ],
    'iret',
  );
}

describe('blocking by NMI after a VM exit (SDM vol. 3 §27.1, §27.5.5, §26.6.1)', () => {
  it('an exit caused by an NMI leaves NMIs blocked in root operation: a second NMI waits for the host’s IRET', () => {
    const m = machine();
    setupVmcs(m, { pin: PIN_BASED.NMI_EXITING });
    guest(m, [(c) => c.compute(1_000_000)]);
    const hostNmis: [number, number][] = [];
    const nmiHandler = handler(m, HOST_IDT, EXCEPTION.NMI, recorder(hostNmis));
    const reasons: number[] = [];
    // The host: VMLAUNCH; after the exit, 1000 cycles of work (the second NMI arrives then), its
    // NMI handler invoked as KVM does after an NMI exit, then HLT.
    m.code.register(
      HOST_ENTRY,
      script('host', [
        (c) => c.vmlaunch(),
        (c) => {
          reasons.push(m.cpu.vmread(VMCS_FIELD.VM_EXIT_REASON));
          c.compute(1000);
        },
        (c) => c.invokeInterruptHandler(nmiHandler, EXCEPTION.NMI),
      ]),
    );
    m.cpu.start(HOST_ENTRY);
    at(m.sim, T_NMI, () => m.lapic.raiseNmi());
    const tExit = T_NMI + EXIT_PS;
    at(m.sim, tExit + 500 * PS_PER_CYCLE, () => m.lapic.raiseNmi());
    m.sim.runUntil(200_000_000);
    expect(reasons).toEqual([EXIT_REASON.EXCEPTION_OR_NMI]);
    // The invoked handler runs after the host's 1000 cycles; the second NMI is taken at the
    // boundary right after that handler's IRET (its own 1 cycle done), not during the host's work.
    const tInvoke = tExit + 1000 * PS_PER_CYCLE;
    expect(hostNmis).toEqual([
      [2, tInvoke],
      [2, tInvoke + PS_PER_CYCLE + DELIVERY_PS],
    ]);
    expect(m.cpu.deliveredRoot[EXCEPTION.NMI]).toBe(2);
  });

  it('without a host IRET the second NMI stays pending in root operation (nothing delivered, NMIs blocked)', () => {
    const m = machine();
    setupVmcs(m, { pin: PIN_BASED.NMI_EXITING });
    guest(m, [(c) => c.compute(1_000_000)]);
    const hostNmis: [number, number][] = [];
    handler(m, HOST_IDT, EXCEPTION.NMI, recorder(hostNmis));
    const exits = hypervisor(m);
    m.cpu.start(HOST_ENTRY);
    at(m.sim, T_NMI, () => m.lapic.raiseNmi());
    at(m.sim, T_NMI + 2 * EXIT_PS, () => m.lapic.raiseNmi());
    m.sim.runUntil(200_000_000);
    expect(exits.map((e) => [e.reason, e.intrInfo])).toEqual([[EXIT_REASON.EXCEPTION_OR_NMI, 0x80000202]]);
    expect(hostNmis).toEqual([]);
    expect(m.lapic.nmiPending).toBe(true);
    expect(m.cpu.nmisBlocked).toBe(true);
  });

  it('an exit not caused by an NMI does not block NMIs: with NMI exiting the host takes a later NMI at once', () => {
    const m = machine();
    setupVmcs(m, { pin: PIN_BASED.NMI_EXITING });
    guest(m, [(c) => c.vmcall()]);
    const hostNmis: [number, number][] = [];
    handler(m, HOST_IDT, EXCEPTION.NMI, recorder(hostNmis));
    const exits = hypervisor(m);
    m.cpu.start(HOST_ENTRY);
    at(m.sim, T_NMI, () => m.lapic.raiseNmi());
    m.sim.runUntil(200_000_000);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
    expect(hostNmis).toEqual([[2, T_NMI + DELIVERY_PS]]);
  });

  it('with NMI exiting 0, blocking by NMI in the guest lasts until IRET, across a VM exit: the host does not take the next NMI', () => {
    const m = machine();
    setupVmcs(m, {});
    const guestNmis: [number, number][] = [];
    // The guest's NMI handler exits (VMCALL) before its IRET.
    handler(
      m,
      GUEST_IDT,
      EXCEPTION.NMI,
      script(
        'guest-nmi',
        [
          (c, f) => {
            guestNmis.push([f.vector, c.now]);
            c.vmcall();
          },
        ],
        'iret',
      ),
    );
    guest(m, [(c) => c.compute(1_000_000)]);
    const hostNmis: [number, number][] = [];
    handler(m, HOST_IDT, EXCEPTION.NMI, recorder(hostNmis));
    const exits = hypervisor(m);
    m.cpu.start(HOST_ENTRY);
    at(m.sim, T_NMI, () => m.lapic.raiseNmi());
    at(m.sim, T_NMI + DELIVERY_PS + 2 * EXIT_PS, () => m.lapic.raiseNmi());
    m.sim.runUntil(200_000_000);
    expect(guestNmis).toEqual([[2, T_NMI + DELIVERY_PS]]);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO)).toBe(INTERRUPTIBILITY.BLOCKING_BY_NMI);
    expect(hostNmis).toEqual([]);
    expect(m.lapic.nmiPending).toBe(true);
  });
});

describe('guest IRET and blocking by NMI (SDM vol. 3 §25.3, IRET; §26.6.1)', () => {
  /**
   * Entry with blocking by NMI and an injected external interrupt 0x40 whose handler IRETs; an
   * NMI arrives later, while the guest computes; the guest then exits with VMCALL.
   */
  function iretThenNmi(pin: number) {
    const m = machine();
    setupVmcs(m, {
      pin,
      fields: {
        [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: INTERRUPTIBILITY.BLOCKING_BY_NMI,
        [VMCS_FIELD.VM_ENTRY_INTR_INFO]: 0x80000040,
      },
    });
    const seen: [number, number][] = [];
    handler(m, GUEST_IDT, 0x40, recorder(seen));
    guest(m, [(c) => c.compute(1_000_000), (c) => c.vmcall()]);
    handler(m, HOST_IDT, EXCEPTION.NMI, recorder([]));
    const exits = hypervisor(m);
    m.cpu.start(HOST_ENTRY);
    at(m.sim, T_NMI, () => m.lapic.raiseNmi());
    m.sim.runUntil(2_000_000_000);
    return { m, exits, seen };
  }

  it('"NMI exiting" 1, "virtual NMIs" 0: the guest’s IRET leaves NMIs blocked, so the NMI causes no exit while the guest runs', () => {
    const { m, exits, seen } = iretThenNmi(PIN_BASED.NMI_EXITING);
    expect(seen.map(([v]) => v)).toEqual([0x40]);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
    // Still blocked at the VMCALL exit; the blocking ends with non-root operation, and the host
    // takes the NMI through its own IDT.
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO)).toBe(INTERRUPTIBILITY.BLOCKING_BY_NMI);
    expect(m.cpu.deliveredRoot[EXCEPTION.NMI]).toBe(1);
  });

  it('"virtual NMIs" 1: IRET ends virtual-NMI blocking, which never held back the physical NMI: it exits at once', () => {
    const { m, exits } = iretThenNmi(PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS);
    expect(exits.map((e) => [e.reason, e.intrInfo])).toEqual([[EXIT_REASON.EXCEPTION_OR_NMI, 0x80000202]]);
    expect(exits[0]!.time).toBe(T_NMI + EXIT_PS);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO)).toBe(0);
  });
});

describe('blocking by MOV SS from the interruptibility state (SDM vol. 3 §26.6.1, table 24-3)', () => {
  // In this model an operation's boundary is where it begins (as for blocking by STI): the
  // blocking ends once the guest's first operation has begun, and the NMI exits at that boundary.
  it('blocks an NMI (with NMI exiting) at the entry boundary: the guest’s first operation begins before the NMI exit', () => {
    const m = machine();
    setupVmcs(m, {
      pin: PIN_BASED.NMI_EXITING,
      fields: { [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: INTERRUPTIBILITY.BLOCKING_BY_MOV_SS },
    });
    const log: number[] = [];
    guest(m, [
      (c) => {
        log.push(c.now);
        c.compute(1000);
      },
      (c) => c.compute(1_000_000),
    ]);
    const exits = hypervisor(m);
    m.cpu.start(HOST_ENTRY);
    at(m.sim, 0, () => m.lapic.raiseNmi());
    m.sim.runUntil(100_000_000);
    expect(log).toEqual([ENTRY_DONE]);
    expect(exits.map((e) => [e.reason, e.intrInfo])).toEqual([[EXIT_REASON.EXCEPTION_OR_NMI, 0x80000202]]);
    expect(exits[0]!.time).toBe(ENTRY_DONE + EXIT_PS);
    // The exit came after the first operation had begun: no blocking is saved.
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO)).toBe(0);
  });
});

describe('the TPR-threshold exit after VM entry (SDM vol. 3 §26.6.7)', () => {
  const tprShadowXapic = (threshold: number, more: Record<number, number> = {}): VmcsSetup => ({
    proc: PROC_BASED.USE_TPR_SHADOW | PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
    proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES,
    fields: {
      [VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR]: VAPIC,
      [VMCS_FIELD.TPR_THRESHOLD]: threshold,
      ...more,
    },
  });

  it('threshold 5 > VTPR[7:4] = 2: exit 43 right after the entry, before any guest operation, not blocked by IF = 0 or MOV SS, which it saves as bit 1', () => {
    const m = machine();
    m.memory.write32(VAPIC + APIC_REG.TPR, 0x20);
    setupVmcs(m, {
      ...tprShadowXapic(5, { [VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO]: INTERRUPTIBILITY.BLOCKING_BY_MOV_SS }),
      rflags: RFLAGS.FIXED1,
    });
    const log: number[] = [];
    guest(m, [
      (c) => {
        log.push(c.now);
        c.vmcall();
      },
    ]);
    const interruptibility: number[] = [];
    const exits = hypervisor(m, (e, cpu) => {
      interruptibility.push(cpu.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO));
      if (e.reason !== EXIT_REASON.TPR_BELOW_THRESHOLD) return false;
      cpu.vmwrite(VMCS_FIELD.TPR_THRESHOLD, 2);
      return true;
    });
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(100_000_000);
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([
      [EXIT_REASON.TPR_BELOW_THRESHOLD, 0],
      [EXIT_REASON.VMCALL, 0],
    ]);
    expect(exits[0]!.reason).toBe(43);
    expect(exits[0]!.time).toBe(ENTRY_DONE + EXIT_PS);
    // The saved state re-enters (no VM-entry failure) and the guest's first operation runs then:
    // its VMCALL exits fault-like (it has not executed, §25.1), so the MOV-SS blocking the entry
    // loaded is still in effect and saved again as bit 1 (§27.3.4).
    expect(interruptibility).toEqual([
      INTERRUPTIBILITY.BLOCKING_BY_MOV_SS,
      INTERRUPTIBILITY.BLOCKING_BY_MOV_SS,
    ]);
    expect(log).toEqual([ENTRY_DONE + EXIT_PS + ENTRY_DONE]);
  });

  it('follows event injection: the injected 0x40 is delivered (no IDT-vectoring information), then exit 43 before its handler’s first operation', () => {
    const m = machine();
    m.memory.write32(VAPIC + APIC_REG.TPR, 0x20);
    setupVmcs(m, tprShadowXapic(3, { [VMCS_FIELD.VM_ENTRY_INTR_INFO]: 0x80000040 }));
    const seen: [number, number][] = [];
    handler(m, GUEST_IDT, 0x40, recorder(seen));
    guest(m, [(c) => c.compute(1000)]);
    const exits = hypervisor(m);
    m.cpu.start(HOST_ENTRY);
    m.sim.runUntil(100_000_000);
    expect(exits.map((e) => [e.reason, e.vectoringInfo])).toEqual([[EXIT_REASON.TPR_BELOW_THRESHOLD, 0]]);
    expect(seen).toEqual([]);
    expect(m.stats.counterValue('cpu0.interrupts.delivered')).toBe(1);
    expect(m.cpu.deliveredGuest[0x40]).toBe(1);
    expect(exits[0]!.time).toBe(ENTRY_DONE + EXIT_PS);
  });

  it('no such exit with the threshold at VTPR[7:4], or with virtual-interrupt delivery', () => {
    const reasons = (s: VmcsSetup): number[] => {
      const m = machine();
      m.memory.write32(VAPIC + APIC_REG.TPR, 0x20);
      setupVmcs(m, s);
      guest(m, [(c) => c.vmcall()]);
      const exits = hypervisor(m);
      m.cpu.start(HOST_ENTRY);
      m.sim.runUntil(100_000_000);
      return exits.map((e) => e.reason);
    };
    expect(reasons(tprShadowXapic(2))).toEqual([EXIT_REASON.VMCALL]);
    expect(reasons(tprShadowXapic(5))).toEqual([EXIT_REASON.TPR_BELOW_THRESHOLD]);
    const vid = tprShadowXapic(5);
    expect(
      reasons({
        ...vid,
        pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING,
        proc2: (vid.proc2 ?? 0) | PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY,
      }),
    ).toEqual([EXIT_REASON.VMCALL]);
  });
});
