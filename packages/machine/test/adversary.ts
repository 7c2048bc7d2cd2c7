/**
 * Small untrusted guests for the host-safety tests: an IDT of their own, x2APIC, their VF's
 * MSI-X entry programmed as they like, then a fixed list of operations and a loop.
 */
import { MSIX_TABLE_OFFSET } from '@exitless/nic';
import { ms, us } from '@exitless/sim';
import {
  APIC_BASE_MSR,
  APIC_DEFAULT_BASE,
  type CpuContext,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  encodeIdtGate,
  encodeIdtr,
  type Frame,
  interruptGate,
  LVT,
  MSR,
  type Routine,
  TIMER_MODE,
} from '@exitless/x86';
import type { GuestEnvironment, Machine } from '../src/index.js';

export const IDT = 0x20_0000;
export const IDT2 = 0x21_0000;
export const IDTR = 0x20_1000;
export const IDTR2 = 0x21_1000;
export const SIDT_OUT = 0x20_2000;
export const CODE = 0x10_0000;

export type Op = (cpu: CpuContext) => void;

/** A routine that issues a fixed list of operations, then loops over `loop` forever. */
export class Script implements Routine {
  readonly name: string;
  private readonly ops: Op[];
  private readonly loop: Op[];
  constructor(name: string, ops: Op[], loop: Op[]) {
    this.name = name;
    this.ops = ops;
    this.loop = loop;
  }
  step(cpu: CpuContext, f: Frame): void {
    if (f.pc < this.ops.length) {
      this.ops[f.pc++]!(cpu);
      return;
    }
    const i = (f.pc - this.ops.length) % this.loop.length;
    f.pc++;
    this.loop[i]!(cpu);
  }
}

/** An interrupt handler: count, optionally one more operation (re-arm a timer, say), optionally EOI, IRET. */
export class Handler implements Routine {
  readonly name: string;
  count = 0;
  private readonly eoi: boolean;
  private readonly extra: Op | undefined;
  constructor(name: string, eoi: boolean, extra?: Op) {
    this.name = name;
    this.eoi = eoi;
    this.extra = extra;
  }
  step(cpu: CpuContext, f: Frame): void {
    if (f.pc === 0) {
      this.count++;
      f.pc = 1;
      cpu.compute(200);
      return;
    }
    if (f.pc === 1) {
      f.pc = 2;
      if (this.extra !== undefined) {
        this.extra(cpu);
        return;
      }
    }
    if (f.pc === 2) {
      f.pc = 3;
      if (this.eoi) {
        cpu.wrmsr(MSR.X2APIC_EOI, 0, 0);
        return;
      }
    }
    cpu.iret();
  }
}

export interface Adversary {
  readonly nic: Handler;
  readonly timer: Handler;
  readonly other: Handler;
}

/**
 * A small untrusted guest: an IDT of its own in its memory, x2APIC, its VF's MSI-X entry 0
 * programmed as it likes, optionally a periodic LAPIC timer; then whatever `tail` does.
 */
export function adversary(
  env: GuestEnvironment,
  o: {
    readonly nicEoi?: boolean;
    readonly timerHz?: number;
    /** Whether the guest's timer handler EOIs (default true). */
    readonly timerEoi?: boolean;
    /** An operation the guest's timer handler issues before its EOI (re-arming the timer, say). */
    readonly timerHandlerOp?: Op;
    readonly msi?: { readonly vector: number; readonly destination: number };
    readonly extra?: Op[];
    readonly loop: Op[];
    /** The guest's handler for its NIC's vector 0x41, instead of a counting one. */
    readonly nicHandler?: Routine;
    /** Where the gate of the NIC's vector 0x41 points instead of the guest's handler ('msix-bar': the VF's MSI-X table). */
    readonly nicGateTarget?: number | 'msix-bar';
    /** Vectors whose gates point at `nicGateTarget` too (exceptions, say). */
    readonly alsoAtNicGateTarget?: readonly number[];
  },
  out: { a?: Adversary },
): { entryAddress: number } {
  const nic = new Handler('adv_nic', o.nicEoi ?? true);
  const timer = new Handler('adv_timer', o.timerEoi ?? true, o.timerHandlerOp);
  const other = new Handler('adv_other', true);
  const at = (i: number, r: Routine) => {
    env.registerCode(CODE + i * 0x100, r);
    return CODE + i * 0x100;
  };
  const hNic = at(1, o.nicHandler ?? nic);
  const hTimer = at(2, timer);
  const hOther = at(3, other);
  const gate = new Uint8Array(16);
  for (let v = 0; v < 256; v++) {
    const nicTarget =
      o.nicGateTarget === 'msix-bar' ? env.nicBar3 + MSIX_TABLE_OFFSET : (o.nicGateTarget ?? hNic);
    const target =
      v === 0x41 || (o.alsoAtNicGateTarget ?? []).includes(v) ? nicTarget : v === 0xef ? hTimer : hOther;
    encodeIdtGate(interruptGate(target), gate);
    env.memory.writeBytes(IDT + v * 16, gate);
  }
  const idtr = new Uint8Array(10);
  encodeIdtr(0xfff, BigInt(IDT), idtr);
  env.memory.writeBytes(IDTR, idtr);
  const msi = o.msi ?? { vector: 0x41, destination: 0 };
  const e = env.nicBar3 + MSIX_TABLE_OFFSET;
  const ops: Op[] = [
    (c) => c.lidt(IDTR),
    (c) =>
      c.wrmsr(
        MSR.IA32_APIC_BASE,
        APIC_DEFAULT_BASE | APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.EXTD | APIC_BASE_MSR.BSP,
        0,
      ),
    (c) => c.wrmsr(MSR.X2APIC_SVR, 0x1ff, 0),
    (c) =>
      c.mmioWrite(
        e,
        4,
        encodeCompatMsiAddress({ destination: msi.destination, redirectionHint: 0, destMode: 0 }),
      ),
    (c) => c.mmioWrite(e + 4, 4, 0),
    (c) =>
      c.mmioWrite(
        e + 8,
        4,
        encodeCompatMsiData({ vector: msi.vector, deliveryMode: 0, level: 0, triggerMode: 0 }),
      ),
    (c) => c.mmioWrite(e + 12, 4, 0),
  ];
  if (o.timerHz !== undefined) {
    ops.push(
      (c) => c.wrmsr(MSR.X2APIC_TIMER_DIVIDE_CONFIG, 0xb, 0),
      (c) => c.wrmsr(MSR.X2APIC_LVT_TIMER, 0xef | (TIMER_MODE.PERIODIC << LVT.TIMER_MODE_SHIFT), 0),
      (c) => c.wrmsr(MSR.X2APIC_TIMER_INITIAL_COUNT, Math.round(133_330_000 / o.timerHz!), 0),
    );
  }
  ops.push(...(o.extra ?? []));
  out.a = { nic, timer, other };
  return { entryAddress: at(0, new Script('adversary', ops, o.loop)) };
}

/** Fires the VF's MSI-X entry 0 exactly as the hardware would: the physical table's address and data, the VF's requester ID. */
export function fireVf(m: Machine): void {
  const address = m.vf.msixBar.mmioRead(0, 4);
  const data = m.vf.msixBar.mmioRead(8, 4);
  m.iommu.msiWrite(address, data, m.vf.requesterId);
}

/** The exits the CPU has taken so far, every basic exit reason together. */
export function totalExits(m: Machine): number {
  let n = 0;
  for (const c of m.cpu.counters.exits) n += c?.value ?? 0;
  return n;
}

/** Samples `value()` every 0.5 ms for `durationMs`; returns the longest stretch without an increase, ps. */
export function longestGap(m: Machine, durationMs: number, value: () => number): number {
  let last = value();
  let lastChange = m.sim.now;
  let gap = 0;
  const end = m.sim.now + ms(durationMs);
  while (m.sim.now < end) {
    m.sim.runUntil(m.sim.now + us(500));
    const v = value();
    if (v !== last) {
      gap = Math.max(gap, m.sim.now - lastChange);
      last = v;
      lastChange = m.sim.now;
    }
  }
  return Math.max(gap, m.sim.now - lastChange);
}
