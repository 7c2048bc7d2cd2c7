/**
 * Counterexamples the fuzzer found (shrunk, then tidied by hand), kept as fixed programs so
 * that each stays fixed: the test runs every one on its modes and expects no violation of its
 * invariants. Each says what it broke and why.
 */
import type { InvariantName } from './invariants.js';
import { type HandlerSpec, type HostIrq, type Op, Program } from './program.js';

export interface Regression {
  readonly name: string;
  /** What it broke, and where the cause was. */
  readonly why: string;
  readonly modes: readonly string[];
  /** The invariants that must hold for it. */
  readonly checks: readonly InvariantName[];
  /** Whether the CI test runs it (false: an opt-in invariant, a difference kept on purpose). */
  readonly ci: boolean;
  /** Machine seeds to run it with (the timing-dependent ones run under several). Default [1]. */
  readonly seeds?: readonly number[];
  /** Simulated milliseconds per run (default: the fuzzer's). */
  readonly durationMs?: number;
  readonly program: Program;
}

const ALL = ['baseline', 'eli-delivery', 'eli'];
const ELI = ['eli-delivery', 'eli'];
const handler = (o: Partial<HandlerSpec> = {}): HandlerSpec => ({
  eoi: 'after',
  sti: false,
  cycles: 200,
  checkIsr: false,
  end: 'iret',
  ...o,
});
const fire: Op = { k: 'vfReg', reg: 0x104, value: 1 };

function prog(p: {
  handlers?: HandlerSpec[];
  gates?: { vector: number; gate: Program['gates'][number]['gate'] }[];
  ops: Op[];
  loop?: Op[];
  hostIrqs?: HostIrq[];
}): Program {
  return new Program({
    handlers: p.handlers ?? [handler()],
    gates: p.gates ?? [],
    ops: p.ops,
    loop: p.loop ?? [{ k: 'sti' }, { k: 'compute', cycles: 100_000 }],
    hostIrqs: p.hostIrqs ?? [],
  });
}

export const REGRESSIONS: readonly Regression[] = [
  {
    name: 'LAPIC timer count 1, divide by 2, periodic',
    why: "the host's hrtimer for the guest's timer was always expired: the host never re-entered the guest, and a host interrupt of a lower class than its timer waited forever (fixed by KVM's min_timer_period_us clamp)",
    modes: ALL,
    checks: ['guest-progress', 'host-irq', 'host-tick'],
    ci: true,
    program: prog({
      ops: [{ k: 'timer', mode: 1, vector: 0x20, masked: false, divide: 0, count: 1 }],
      loop: [{ k: 'pause' }],
      hostIrqs: [{ vector: 0x30, atUs: 200 }],
    }),
  },
  {
    name: "a store to ELI's shadow IDT page",
    why: 'guest-physical 0xfeb00000 was mapped writable: the guest rewrote the shadow IDT (fixed: read-only, the store exits and is refused)',
    modes: ELI,
    checks: ['store-containment'],
    ci: true,
    program: prog({
      ops: [{ k: 'write', at: { region: 'shadow', offset: 0 }, size: 4, value: 0 }],
      loop: [{ k: 'hlt' }],
    }),
  },
  {
    name: 'a VM stopped with its assigned vector in service',
    why: 'the NIC interrupt reached a gate with no code, the fault chain ended in a triple fault, and 0x51 stayed in service in the physical LAPIC: host vector 0x30 was never handled (fixed: the host EOIs what a stopped VM leaves in service)',
    modes: ALL,
    checks: ['host-irq'],
    ci: true,
    program: prog({
      gates: [
        { vector: 0x41, gate: { k: 'noCode' } },
        { vector: 13, gate: { k: 'notPresent' } },
        { vector: 11, gate: { k: 'notPresent' } },
        { vector: 8, gate: { k: 'notPresent' } },
      ],
      ops: [{ k: 'sti' }, fire],
      loop: [{ k: 'compute', cycles: 100_000 }],
      hostIrqs: [{ vector: 0x30, atUs: 1000 }],
    }),
  },
  {
    name: "the guest's TPR above its device's class",
    why: "a directly delivered interrupt bypassed the guest's (virtual) TPR (fixed: injection mode while the TPR masks an assigned vector)",
    modes: ALL,
    checks: ['tpr-masks-delivery'],
    ci: true,
    program: prog({
      ops: [
        { k: 'wrmsr', msr: 0x808, lo: 0xf0, hi: 0 },
        { k: 'sti' },
        fire,
        { k: 'compute', cycles: 10_000 },
      ],
    }),
  },
  {
    name: 'x2APIC reserved bits: TPR 0x1ff, TDCR 0xc',
    why: 'a WRMSR setting reserved bits of TPR or TDCR completed instead of raising #GP (fixed in the LAPIC)',
    modes: ALL,
    checks: ['x2apic-gp', 'tpr-readback'],
    ci: true,
    program: prog({
      ops: [
        { k: 'wrmsr', msr: 0x808, lo: 0x1ff, hi: 0 },
        { k: 'checkTpr' },
        { k: 'wrmsr', msr: 0x83e, lo: 0xc, hi: 0 },
      ],
    }),
  },
  {
    name: 'a handler reading its ISR under ELI',
    why: 'a directly delivered interrupt is in service in the physical LAPIC under its host vector; the guest read an ISR without it (fixed: merged reads of ISR, IRR and PPR)',
    modes: ALL,
    checks: ['isr-view', 'ppr'],
    ci: true,
    program: prog({ handlers: [handler({ checkIsr: true })], ops: [{ k: 'sti' }, fire] }),
  },
  {
    name: 'TPR 1, then read it back in a loop with interrupts on',
    why: "the CPU keeps one resultLo/resultHi (and RAX/RDX) for root and non-root operation: when an exit right after the entry that completed the guest's RDMSR (here a host tick arriving as #NP) has the host make an RDMSR of its own (ELI's check for a stuck assigned vector reads the physical ISR), the guest's result was overwritten with the host's value before the guest used it (fixed: the CPU saves the guest's registers and last result at exit and loads them at entry)",
    modes: ALL,
    checks: ['tpr-readback', 'ppr'],
    ci: true,
    seeds: [1, 2, 3],
    program: prog({
      ops: [{ k: 'wrmsr', msr: 0x808, lo: 1, hi: 0 }, { k: 'sti' }],
      loop: [{ k: 'checkTpr' }],
    }),
  },
  {
    name: 'TMICT written with EDX = 1',
    why: "the hypervisor emulates TMICT (and reads of TMICT/TMCCT) before the virtual LAPIC's checks: bits 63:32 set did not #GP, nor did access outside x2APIC mode (fixed in the hypervisor)",
    modes: ALL,
    checks: ['x2apic-gp'],
    ci: true,
    program: prog({ ops: [{ k: 'wrmsr', msr: 0x838, lo: 0, hi: 1 }] }),
  },
  {
    name: 'an IDTR base above 2^53',
    why: 'IDTR.base is held in a JavaScript number (the CPU, and ELI for the guest IDTR it emulates): LIDT of base 0x3b47b383655885 read back from SIDT as 0x3b47b383655884 (fixed: exact 32-bit halves)',
    modes: ALL,
    checks: ['sidt'],
    ci: true,
    program: prog({
      ops: [
        { k: 'lidt', at: { region: 'ram', offset: 0x22_0000 }, limit: 0, base: 0x3b47b383655885n },
        { k: 'sidt', at: { region: 'ram', offset: 0 } },
      ],
    }),
  },
  {
    name: "SIDT's 10 bytes across the end of the guest's RAM",
    why: "the CPU translated only an operand's first byte through the EPT and wrote the rest at the host-physical addresses that followed: SIDT at RAM_END − 8 stored 2 bytes of host memory past the guest's RAM window (fixed: every page an operand touches is translated, an EPT violation before any byte is written). A 4-byte store across the end, and an IDT gate across it, are the same hole",
    modes: ['baseline', 'eli-delivery', 'eli', 'pv-eoi', 'posted', 'did'],
    checks: ['store-containment'],
    ci: true,
    program: prog({
      ops: [{ k: 'sidt', at: { region: 'ramEnd', offset: -8 } }],
      loop: [{ k: 'wrmsr', msr: 0x808, lo: 0, hi: 0 }],
    }),
  },
  {
    name: "a 4-byte store across the end of the guest's RAM",
    why: 'the same hole as SIDT across the end: the store at RAM_END − 2 wrote its last 2 bytes to host memory past the window (fixed with it)',
    modes: ['baseline', 'eli-delivery', 'eli', 'pv-eoi', 'posted', 'did'],
    checks: ['store-containment'],
    ci: true,
    program: prog({
      ops: [{ k: 'write', at: { region: 'ramEnd', offset: -2 }, size: 4, value: 0x11223344 }],
    }),
  },
  {
    name: 'a PV-EOI flag the guest set itself before enabling PV EOI',
    why: "the guest's handler found the flag set, cleared it and skipped its EOI, as kvm_guest_apic_eoi_write does; but the host had never set it, so there was no EOI and 0x41 stayed in service, rightly. The fuzzer's model counted the cleared flag as an EOI and reported the host's correct ISR as wrong (fixed in the model: a flag already set when PV EOI is enabled takes the program out of the priority model)",
    modes: ['pv-eoi'],
    checks: ['isr-view', 'isr-priority'],
    ci: true,
    program: prog({
      ops: [
        { k: 'write', at: { region: 'ram', offset: 0x22_0800 }, size: 1, value: 1 },
        { k: 'ipi', vector: 0x20, mode: 0, logical: false, shorthand: 0, level: true, dest: 0 },
        fire,
        // As the fuzzer found it: the NIC's 0x41 is taken once PV EOI is on, the flag already set.
        { k: 'sti' },
        { k: 'wrmsr', msr: 0x4b564d04, lo: 0x22_0801, hi: 0 },
      ],
      loop: [{ k: 'checkPpr' }],
    }),
  },
  {
    name: 'a NIC interrupt that went through the host while the same vector is in service',
    why: "one VF interrupt reaches the host (during an exit: here the guest's trapped TPR write) and waits in the virtual IRR; another is delivered directly and its handler never EOIs; at a later entry ELI injects the first: vector 0x41 is in service twice, nested (bare metal holds the second in IRR until the EOI). Injection did not look at what is in service in the physical LAPIC (fixed: ELI reads the physical ISR before an injection and holds it until the guest's EOI)",
    modes: ALL,
    checks: ['isr-priority'],
    ci: true,
    seeds: [1, 2, 3],
    program: prog({
      handlers: [handler({ eoi: 'none', sti: true })],
      ops: [{ k: 'ipi', vector: 0x41, mode: 0, logical: false, shorthand: 0, level: false, dest: 1 }],
      loop: [fire, { k: 'wrmsr', msr: 0x808, lo: 0x100, hi: 0 }, { k: 'sti' }],
    }),
  },
  {
    name: 'TX head beyond the ring',
    why: "the VF's TX engine walked from TDH to TDT and wrapped only when the index equalled the ring's size: with TDH (written by the guest, or left by a longer ring) at or past the size it never met TDT and fetched descriptors forever at one instant — the simulation hung, in every mode (fixed in the NIC: a head or tail outside the ring is refused and counted)",
    modes: ALL,
    checks: ['no-hang', 'no-throw'],
    ci: true,
    program: prog({
      ops: [
        { k: 'vfReg', reg: 0x2010, value: 9 },
        {
          k: 'ring',
          dir: 'tx',
          ring: { region: 'ram', offset: 0x22_0000 },
          buffers: { region: 'ram', offset: 0x1000 },
          count: 2,
        },
      ],
      loop: [{ k: 'sti' }, { k: 'hlt' }],
    }),
  },
  {
    name: 'a well-behaved handler under a steady NIC interrupt load (eli)',
    why: "with exitless EOI the guest's EOIs never exit, so ELI's stuck-vector check (the physical ISR read at exits, at most once a millisecond) finds 0x51 in service at every sample of a busy guest — a different interrupt each time — and after a preemption-timer period EOIs the one the guest is still handling: the guest's ISR then lacks it, and its own EOI later ends nothing of its (found on the code after the fixes, seed 777)",
    modes: ['eli'],
    checks: ['isr-view'],
    ci: true,
    seeds: [1, 2, 3, 4, 5],
    durationMs: 30,
    program: prog({
      handlers: [handler({ cycles: 20_000, checkIsr: true })],
      ops: [],
      loop: [{ k: 'compute', cycles: 100 }, fire, { k: 'sti' }],
    }),
  },
  {
    name: 'a #DF right after a TPR write (a NIC gate not present, its #NP to no code)',
    why: "the NIC interrupt taken right after WRMSR(TPR) faults twice in delivery (#NP, then #GP for the #NP handler's missing code): a #DF, whose error code cannot say whether the WRMSR faulted. The harness undid the TPR write in its model and then reported the CPU's (correct) TPR as wrong; it now follows the SDM's verdict for the access (WRMSR(TPR, 1) completes). A harness bug, in every mode",
    modes: ALL,
    checks: ['tpr-readback', 'ppr', 'isr-view', 'x2apic-gp'],
    ci: true,
    seeds: [1, 2, 3],
    program: prog({
      handlers: [handler({ sti: true })],
      gates: [{ vector: 0x41, gate: { k: 'notPresent' } }],
      ops: [{ k: 'gate', vector: 0xb, gate: { k: 'noCode' } }, { k: 'sti' }],
      loop: [fire, { k: 'wrmsr', msr: 0x808, lo: 1, hi: 0 }, { k: 'checkTpr' }],
    }),
  },
  {
    name: 'an interrupt taken at the first instruction of a trap-gate handler',
    why: "the NIC's vector 0x41 is delivered through a trap gate (IF stays 1) and vector 0x50, its new MSI-X vector, is taken before the 0x41 handler's first step: the guest model learned of a delivery only at a handler's first step, so it missed 0x41 and reported the CPU's (correct) ISR, 0x41 and 0x50, as wrong. The model now takes the entries of handlers delivered but not started (Cpu.frameAt) first. A harness bug",
    modes: ALL,
    checks: ['isr-view', 'isr-priority', 'ppr'],
    ci: true,
    seeds: [1, 2, 3],
    program: prog({
      handlers: [handler({ cycles: 0, checkIsr: true, end: 'spin' }), handler({ cycles: 0 })],
      ops: [
        fire,
        { k: 'msix', entry: 0, address: 0xfee00000, data: 0x50, masked: false },
        { k: 'gate', vector: 0x41, gate: { k: 'trap', h: 0 } },
      ],
      loop: [fire, { k: 'sti' }],
    }),
  },
  {
    name: 'a guest that halts with its NIC vector in service under ELI',
    why: "the handler never EOIs and the guest halts: the vCPU blocks with the assigned vector in service in the physical LAPIC, which held off the host's interrupt 0x30 (a lower class) for as long as the guest slept, since only exits checked for a stuck vector and a sleeping guest makes none (fixed: ELI's whileBlocked goes on checking while the vCPU sleeps, and EOIs the vector once it has been in service for a whole preemption-timer period)",
    modes: ALL,
    checks: ['host-irq', 'host-tick', 'guest-progress'],
    ci: true,
    seeds: [1, 2, 3],
    program: prog({
      handlers: [handler({ eoi: 'none', sti: true })],
      ops: [{ k: 'sti' }],
      loop: [fire, { k: 'compute', cycles: 2488 }, { k: 'hlt' }, fire],
      hostIrqs: [{ vector: 0x30, atUs: 200 }],
    }),
  },
  {
    name: 'a guest EOI after ELI ended its stuck vector by force',
    why: "the guest rewrites its NIC gate without LIDT, so the shadow IDT still sends 0x41 to the old handler, which never EOIs; ELI EOIs it by force after a preemption period, and the next 0x41's handler EOIs. The guest model kept the forced-off entry and let the guest's EOI end the newer one, then reported the next 0x41 as delivered over one in service. The model now ends the highest vector in service at each forced EOI (eli.forced-eoi), as the LAPIC does. A harness bug",
    modes: ELI,
    checks: ['isr-priority', 'isr-view', 'tpr-masks-delivery'],
    ci: true,
    seeds: [1, 2, 3],
    program: prog({
      handlers: [handler({ eoi: 'none', cycles: 0 }), handler({ cycles: 0 })],
      ops: [{ k: 'gate', vector: 0x41, gate: { k: 'trap', h: 1 } }],
      loop: [{ k: 'sti' }, fire],
    }),
  },
  {
    name: "a NIC gate with no code under ELI, the guest using the NIC's host vector for its timer",
    why: "ELI's direct delivery of 0x41 faults under host vector 0x51 (a difference of its design, see the idt-gate entries below); the guest had programmed 0x51 as its own LVT timer vector, so the model took the fault's vector as the guest's 0x51, put it in service, and reported the ISR (0x41, ELI's merged view) as wrong. The model now stops its priority checks when a fault names a vector that is both the guest's own and an assigned host vector (it cannot tell which was delivered). A harness bug",
    modes: ALL,
    checks: ['isr-view', 'isr-priority', 'ppr', 'tpr-readback'],
    ci: true,
    program: prog({
      handlers: [handler({ sti: true, checkIsr: true }), handler({ sti: true })],
      gates: [{ vector: 0x41, gate: { k: 'noCode' } }],
      ops: [{ k: 'timer', mode: 0, vector: 0x51, masked: false, divide: 0, count: 0 }, { k: 'sti' }],
      loop: [fire],
    }),
  },
  {
    name: 'did: the guest makes its NIC vector 0 while an interrupt is on its way',
    why: "the VF's message, sent before the guest's MSI-X write, is remapped through the IRTE the host had programmed (vector 0x41, the guest's own), while the host, refusing vector 0, had already masked the entry and forgotten the vector: the harness read its allowed vectors from the host's bookkeeping and reported the message. It now also allows what each entry's IRTE still holds (a message in flight carries the old data on bare metal too). A harness bug",
    modes: ['did'],
    checks: ['msi-routing'],
    ci: true,
    seeds: [1, 2, 3],
    program: prog({
      handlers: [handler({ sti: true, cycles: 0 })],
      ops: [fire, { k: 'write', at: { region: 'msix', offset: 8 }, size: 4, value: 0 }],
      loop: [{ k: 'cli' }],
    }),
  },
  {
    name: 'the guest rewrites its NIC gate without a new LIDT',
    why: "ELI rebuilds the shadow IDT only at LIDT (and on a new assignment): the NIC interrupt still reaches the old handler, and a gate made not-present still delivers (bare metal reads the IDT at every delivery). A difference of ELI's design, checked only with --checks all",
    modes: ELI,
    checks: ['idt-gate'],
    ci: false,
    program: prog({
      handlers: [handler(), handler()],
      ops: [
        { k: 'gate', vector: 0x41, gate: { k: 'handler', h: 1 } },
        { k: 'sti' },
        fire,
        { k: 'compute', cycles: 10_000 },
      ],
    }),
  },
  {
    name: 'a NIC gate with no code under ELI',
    why: "the direct delivery through the shadow IDT faults under the host vector: the guest's #GP has error code 0x28b (vector 0x51, which it never raised), where bare metal's names 0x41. A difference of ELI's design, checked only with --checks all",
    modes: ELI,
    checks: ['idt-gate'],
    ci: false,
    program: prog({
      gates: [{ vector: 0x41, gate: { k: 'target', at: { region: 'ram', offset: 0x22_0000 } } }],
      ops: [fire],
      loop: [{ k: 'sti' }],
    }),
  },
];
