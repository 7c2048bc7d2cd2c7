/**
 * The interpreter of a generated Program: it installs the guest's software through
 * `guestOverride` (an IDT in its RAM, a routine per gate, the main script) and, as the guest
 * runs, checks what the guest itself can observe against what bare metal and the SDM would
 * show it: SIDT after LIDT, TPR read-back, PPR from TPR and ISR, the #GP rules of x2APIC
 * MSRs, and the priority rules of interrupt delivery (a small model of the guest's TPR and
 * ISR, kept by the guest's own operations).
 */
import { MSIX_TABLE_OFFSET, RXDCTL, TX_DESC, TXD_CMD, TXDCTL, VF_REG } from '@exitless/nic';
import {
  APIC_BASE_MSR,
  APIC_DEFAULT_BASE,
  type CpuContext,
  decodeIdtr,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  encodeIdtGate,
  encodeIdtr,
  type Frame,
  GATE_TYPE,
  gateOffsetNumber,
  IDT_GATE_SIZE,
  interruptGate,
  KVM_MSR,
  KVM_PV_EOI,
  MSR,
  type Routine,
} from '@exitless/x86';
import type { GuestEnvironment } from '../../src/index.js';
import type { InvariantName, Violation } from './invariants.js';
import { type Addr, type GateSpec, type HandlerSpec, LAYOUT, type Op, type Program } from './program.js';

/** One guest operation: issues exactly one CpuContext operation (after any bookkeeping). */
type Step = (cpu: CpuContext) => void;

/** Register access of each x2APIC MSR (SDM vol. 3 table 10-6); absent MSRs are reserved (#GP). */
const X2APIC_ACCESS: ReadonlyMap<number, 'rw' | 'ro' | 'wo'> = new Map<number, 'rw' | 'ro' | 'wo'>([
  [0x802, 'ro'],
  [0x803, 'ro'],
  [0x808, 'rw'],
  [0x80a, 'ro'],
  [0x80b, 'wo'],
  [0x80d, 'ro'],
  [0x80f, 'rw'],
  ...Array.from({ length: 24 }, (_, i) => [0x810 + i, 'ro'] as const),
  [0x828, 'rw'],
  [0x82f, 'rw'],
  [0x830, 'rw'],
  ...Array.from({ length: 6 }, (_, i) => [0x832 + i, 'rw'] as const),
  [0x838, 'rw'],
  [0x839, 'ro'],
  [0x83e, 'rw'],
  [0x83f, 'wo'],
]);

/**
 * Whether an x2APIC MSR access must #GP (SDM vol. 3 §10.12.1.2, table 10-6): a reserved MSR;
 * RDMSR of a write-only register; WRMSR of a read-only register, of bits 63:32 (all but the
 * ICR), of a non-zero value to EOI or ESR, of reserved bits 31:8 of TPR and SELF IPI and
 * 31:4 and 2 of the divide configuration. Null where this table does not decide (other
 * reserved bits of the LVTs, SVR, ICR) or outside the x2APIC range.
 */
export function x2apicFaults(write: boolean, msr: number, lo: number, hi: number): boolean | null {
  if (msr < 0x800 || msr > 0x8ff) return null;
  const access = X2APIC_ACCESS.get(msr);
  if (access === undefined) return true;
  if (!write) return access === 'wo';
  if (access === 'ro') return true;
  if (msr !== MSR.X2APIC_ICR && hi >>> 0 !== 0) return true;
  const v = lo >>> 0;
  switch (msr) {
    case MSR.X2APIC_TPR:
    case MSR.X2APIC_SELF_IPI:
      return v > 0xff;
    case MSR.X2APIC_EOI:
    case MSR.X2APIC_ESR:
      return v !== 0;
    case MSR.X2APIC_TIMER_DIVIDE_CONFIG:
      return (v & ~0xb) !== 0;
    default:
      return null;
  }
}

const LVT_MSRS = new Set([0x82f, 0x832, 0x833, 0x834, 0x835, 0x836, 0x837]);

/** The registers of one read of TPR, ISR and PPR in progress. */
interface PriorityRead {
  ifWas: boolean;
  faulted: boolean;
  tpr: number;
  readonly isr: Uint32Array;
}

interface Pending {
  readonly what: string;
  readonly expectGp: boolean | null;
  readonly frame: Frame;
  readonly revert: (() => void) | null;
}

export interface GuestRunOptions {
  readonly mode: string;
  /** ELI's preemption-timer period, ps (0 elsewhere): an assigned vector the guest leaves in service longer may be EOI'd by the host. */
  readonly preemptionPs: number;
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;
/** A handler frame's r3 once the model has taken its entry before its first step (enterUnstarted). */
const ENTERED_EARLY = 1;

/** The guest's software and everything it observes during one run. */
export class GuestRun {
  readonly program: Program;
  readonly options: GuestRunOptions;
  readonly violations: Violation[] = [];
  /** Operations the guest's routines have issued. */
  steps = 0;
  /** Handler entries by the vector of the gate they were entered through. */
  readonly entries: Float64Array = new Float64Array(256);
  /** Vectors the program raises for itself (timer, IPIs, MSI-X): a host vector among them proves nothing when it reaches the guest. */
  readonly guestVectors: Set<number> = new Set([0x41]);

  // The guest's model of its LAPIC and IDTR, kept as bare metal would change them.
  private tpr = 0;
  private readonly isr: { vector: number; since: number }[] = [];
  /** False once the program did something the model does not follow (left x2APIC mode, raised a vector below 32…). */
  private priorityModel = true;
  private apicModel = true;
  /**
   * `pv-eoi`: the PV-EOI flag the guest enabled (guest-physical), or −1. A store of the guest's
   * or a DMA of its device that clears the flag while the host has it set is an EOI by KVM's
   * protocol, which the ISR model cannot see: such a program leaves the priority model.
   */
  private pvEoiFlag = -1;
  private ringsProgrammed = false;
  private idtr: { limit: number; base: bigint } | null = { limit: 0xffff, base: 0n };
  private pending: Pending | null = null;
  private lastFaulted = false;
  private env: GuestEnvironment | null = null;
  /**
   * The guest CPU's running stack, frame by frame (Cpu.frameAt), once the runner has the CPU:
   * to find handlers delivered but not yet started when another delivery preempts them.
   */
  frameAt: ((i: number) => Frame | undefined) | null = null;
  /** How many assigned vectors ELI's host has EOI'd by force so far (`eli.forced-eoi`), once the runner has the machine. */
  forcedEois: (() => number) | null = null;
  /** Whether `vector` is a host vector of an assigned function now (ELI delivers those straight through the shadow IDT). */
  isAssignedHostVector: ((vector: number) => boolean) | null = null;
  private forcedSeen = 0;
  private readonly scratch = new Uint8Array(16);
  private readonly priorityReads = new WeakMap<Frame, PriorityRead>();

  constructor(program: Program, options: GuestRunOptions) {
    this.program = program;
    this.options = options;
  }

  private violation(invariant: InvariantName, cpu: CpuContext, detail: string): void {
    if (this.violations.length < 50) this.violations.push({ invariant, atPs: cpu.now, detail });
  }

  // ---- installation --------------------------------------------------------------------

  /** The `guestOverride` of the machine: writes the IDTs, registers the routines, returns the entry. */
  install(env: GuestEnvironment): { entryAddress: number } {
    this.env = env;
    const p = this.program;
    p.handlers.forEach((spec, h) => {
      for (let v = 0; v < 256; v++) {
        env.registerCode(handlerAddress(h, v), new HandlerRoutine(this, spec, v, handlerAddress(h, v)));
      }
    });
    env.registerCode(LAYOUT.FN, new FnRoutine(this));
    const gate = new Uint8Array(IDT_GATE_SIZE);
    for (let v = 0; v < 256; v++) {
      this.encodeGate({ k: 'handler', h: 0 }, v, gate);
      env.memory.writeBytes(LAYOUT.IDT + v * IDT_GATE_SIZE, gate);
      env.memory.writeBytes(LAYOUT.IDT2 + v * IDT_GATE_SIZE, gate);
    }
    for (const g of p.gates) {
      this.encodeGate(g.gate, g.vector, gate);
      env.memory.writeBytes(LAYOUT.IDT + g.vector * IDT_GATE_SIZE, gate);
    }
    const idtr = new Uint8Array(10);
    encodeIdtr(256 * IDT_GATE_SIZE - 1, BigInt(LAYOUT.IDT), idtr);
    env.memory.writeBytes(LAYOUT.IDTR, idtr);
    const main = [...this.boot(env), ...p.ops.flatMap((op) => this.expand(op))];
    const loop = p.loop.flatMap((op) => this.expand(op));
    env.registerCode(LAYOUT.CODE, new ScriptRoutine(this, main, loop.length > 0 ? loop : [(c) => c.hlt()]));
    return { entryAddress: LAYOUT.CODE };
  }

  /** What every generated guest does first: its IDT, x2APIC, its VF's MSI-X entry 0 and interrupt causes. */
  private boot(env: GuestEnvironment): Step[] {
    const msix = env.nicBar3 + MSIX_TABLE_OFFSET;
    const bar0 = env.nicBar0;
    return [
      (c) => {
        this.idtr = { limit: 256 * IDT_GATE_SIZE - 1, base: BigInt(LAYOUT.IDT) };
        c.lidt(LAYOUT.IDTR);
      },
      (c) =>
        c.wrmsr(
          MSR.IA32_APIC_BASE,
          APIC_DEFAULT_BASE | APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.EXTD | APIC_BASE_MSR.BSP,
          0,
        ),
      (c) => c.wrmsr(MSR.X2APIC_SVR, 0x1ff, 0),
      (c) =>
        c.mmioWrite(msix, 4, encodeCompatMsiAddress({ destination: 0, redirectionHint: 0, destMode: 0 })),
      (c) => c.mmioWrite(msix + 4, 4, 0),
      (c) =>
        c.mmioWrite(
          msix + 8,
          4,
          encodeCompatMsiData({ vector: 0x41, deliveryMode: 0, level: 0, triggerMode: 0 }),
        ),
      (c) => c.mmioWrite(msix + 12, 4, 0),
      (c) => c.mmioWrite(bar0 + VF_REG.VFIVAR0, 4, 0x8180),
      (c) => c.mmioWrite(bar0 + VF_REG.VFIVAR_MISC, 4, 0x82),
      (c) => c.mmioWrite(bar0 + VF_REG.VFEIMS, 4, 0x7),
    ];
  }

  /** Guest-physical address of `a` in this guest. */
  resolve(a: Addr): number {
    const env = this.env!;
    switch (a.region) {
      case 'ram':
        return a.offset;
      case 'ramEnd':
        return LAYOUT.RAM_SIZE + a.offset;
      case 'lapic':
        return LAYOUT.LAPIC + a.offset;
      case 'bar0':
        return env.nicBar0 + a.offset;
      case 'msix':
        return env.nicBar3 + MSIX_TABLE_OFFSET + a.offset;
      case 'shadow':
        return LAYOUT.SHADOW_IDT + a.offset;
      case 'abs':
        return a.offset;
    }
  }

  private inRam(gpa: number, length: number): boolean {
    return gpa >= 0 && gpa + length <= LAYOUT.RAM_SIZE;
  }

  private encodeGate(g: GateSpec, vector: number, out: Uint8Array): void {
    switch (g.k) {
      case 'handler':
      case 'trap':
        encodeIdtGate(
          interruptGate(handlerAddress(Math.min(g.h, this.program.handlers.length - 1), vector), {
            type: g.k === 'trap' ? GATE_TYPE.TRAP : GATE_TYPE.INTERRUPT,
          }),
          out,
        );
        return;
      case 'notPresent':
        encodeIdtGate(interruptGate(handlerAddress(0, vector), { present: false }), out);
        return;
      case 'noCode':
        encodeIdtGate(interruptGate(LAYOUT.NO_CODE), out);
        return;
      case 'target':
        encodeIdtGate(interruptGate(Math.max(0, this.resolve(g.at))), out);
        return;
      case 'raw': {
        out.fill(0);
        const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
        dv.setUint32(0, g.w0 >>> 0, true);
        dv.setUint32(4, g.w1 >>> 0, true);
        dv.setUint32(8, g.w2 >>> 0, true);
        return;
      }
    }
  }

  // ---- expansion of an Op into guest operations ------------------------------------------

  private expand(op: Op): Step[] {
    const env = this.env!;
    switch (op.k) {
      case 'rdmsr':
        return [(c) => this.msr(c, false, op.msr, 0, 0)];
      case 'wrmsr':
        return [(c) => this.msr(c, true, op.msr, op.lo, op.hi)];
      case 'checkTpr':
        return [
          (c) => this.msr(c, false, MSR.X2APIC_TPR, 0, 0),
          (c) => {
            this.checkTprRead(c, c.resultLo >>> 0);
            c.compute(1);
          },
        ];
      case 'checkPpr':
        return this.readPriorities(false);
      case 'read': {
        return [(c) => c.mmioRead(this.resolve(op.at), op.size)];
      }
      case 'write':
        return [
          (c) => {
            const gpa = this.resolve(op.at);
            this.noteMsixWrite(gpa, op.value);
            this.notePvEoiStore(gpa, op.size);
            c.mmioWrite(gpa, op.size, op.value >>> 0);
          },
        ];
      case 'lidt':
        return [
          (c) => {
            const gpa = this.resolve(op.at);
            if (this.inRam(gpa, 10)) {
              const bytes = new Uint8Array(10);
              encodeIdtr(op.limit, op.base, bytes);
              env.memory.writeBytes(gpa, bytes);
              this.idtr = { limit: op.limit & 0xffff, base: BigInt.asUintN(64, op.base) };
            } else {
              this.idtr = null;
            }
            c.lidt(gpa);
          },
        ];
      case 'sidt':
        return [
          (c) => {
            const gpa = this.resolve(op.at);
            if (this.inRam(gpa, 10)) env.memory.fill(gpa, 10, 0xaa);
            c.sidt(gpa);
          },
          (c) => {
            this.checkSidt(c, this.resolve(op.at));
            c.compute(1);
          },
        ];
      case 'gate':
        return [
          (c) => {
            const gate = new Uint8Array(IDT_GATE_SIZE);
            this.encodeGate(op.gate, op.vector, gate);
            env.memory.writeBytes(LAYOUT.IDT + op.vector * IDT_GATE_SIZE, gate);
            c.compute(50);
          },
        ];
      case 'cli':
        return [(c) => c.cli()];
      case 'sti':
        return [(c) => c.sti()];
      case 'hlt':
        return [(c) => c.hlt()];
      case 'pause':
        return [(c) => c.pause()];
      case 'compute':
        return [(c) => c.compute(op.cycles)];
      case 'ipi': {
        const lo =
          (op.vector & 0xff) |
          ((op.mode & 7) << 8) |
          (op.logical ? 0x800 : 0) |
          (op.level ? 0xc000 : 0x4000) |
          ((op.shorthand & 3) << 18);
        return [(c) => this.msr(c, true, MSR.X2APIC_ICR, lo, op.dest >>> 0)];
      }
      case 'timer': {
        const lvt = (op.vector & 0xff) | (op.masked ? 0x10000 : 0) | ((op.mode & 3) << 17);
        return [
          (c) => this.msr(c, true, MSR.X2APIC_TIMER_DIVIDE_CONFIG, op.divide, 0),
          (c) => this.msr(c, true, MSR.X2APIC_LVT_TIMER, lvt, 0),
          op.mode === 2
            ? (c) => this.writeDeadline(c, op.count)
            : (c) => this.msr(c, true, MSR.X2APIC_TIMER_INITIAL_COUNT, op.count >>> 0, 0),
        ];
      }
      case 'deadline':
        return [(c) => this.writeDeadline(c, op.delta)];
      case 'vfReg':
        return [(c) => c.mmioWrite(env.nicBar0 + op.reg, 4, op.value >>> 0)];
      case 'msix': {
        const at = env.nicBar3 + MSIX_TABLE_OFFSET + op.entry * 16;
        return [
          (c) => c.mmioWrite(at, 4, op.address >>> 0),
          (c) => c.mmioWrite(at + 4, 4, 0),
          (c) => {
            this.noteMsixWrite(at + 8, op.data);
            c.mmioWrite(at + 8, 4, op.data >>> 0);
          },
          (c) => c.mmioWrite(at + 12, 4, op.masked ? 1 : 0),
        ];
      }
      case 'ring':
        return this.ring(op);
      case 'call':
        return [
          (c) =>
            c.call(
              op.target === 'fn'
                ? LAYOUT.FN
                : op.target === 'noCode'
                  ? LAYOUT.NO_CODE
                  : this.resolve(op.target),
            ),
        ];
    }
  }

  private ring(op: Extract<Op, { k: 'ring' }>): Step[] {
    const env = this.env!;
    const base = op.dir === 'rx' ? VF_REG.VFRDBAL : VF_REG.VFTDBAL;
    const bar0 = env.nicBar0;
    // A ring of a multiple of 8 descriptors (RDLEN/TDLEN are multiples of 128 bytes) with room
    // for `count` and one more: the tail at `count` hands the NIC exactly `count` descriptors.
    const len = Math.ceil((op.count + 1) / 8) * 8 * 16;
    return [
      (c) => {
        // The descriptors are the guest's own stores into its RAM (when the ring is in RAM).
        const ring = this.resolve(op.ring);
        const buffers = this.resolve(op.buffers);
        // The device writes back descriptors and packets wherever they point (the flag too).
        this.ringsProgrammed = true;
        if (this.pvEoiFlag >= 0) this.priorityModel = false;
        const d = new Uint8Array(16);
        const dv = new DataView(d.buffer);
        for (let i = 0; i < op.count; i++) {
          const b = Math.max(0, buffers + i * 2048);
          d.fill(0);
          dv.setUint32(0, b % 4294967296, true);
          dv.setUint32(4, Math.floor(b / 4294967296), true);
          if (op.dir === 'tx') {
            dv.setUint16(TX_DESC.LENGTH, 60, true);
            d[TX_DESC.CMD] = TXD_CMD.EOP | TXD_CMD.IFCS | TXD_CMD.RS;
          }
          if (this.inRam(ring + i * 16, 16)) env.memory.writeBytes(ring + i * 16, d);
        }
        c.mmioWrite(bar0 + base, 4, Math.max(0, ring) % 4294967296);
      },
      (c) => c.mmioWrite(bar0 + base + 4, 4, Math.floor(Math.max(0, this.resolve(op.ring)) / 4294967296)),
      (c) => c.mmioWrite(bar0 + base + 8, 4, len),
      (c) =>
        c.mmioWrite(
          bar0 + (op.dir === 'rx' ? VF_REG.VFRXDCTL : VF_REG.VFTXDCTL),
          4,
          op.dir === 'rx' ? RXDCTL.ENABLE : TXDCTL.ENABLE,
        ),
      (c) => c.mmioWrite(bar0 + (op.dir === 'rx' ? VF_REG.VFRDT : VF_REG.VFTDT), 4, op.count % (len / 16)),
    ];
  }

  private writeDeadline(c: CpuContext, delta: number): void {
    const t = Math.max(0, Math.round(c.tsc + delta));
    this.msr(c, true, MSR.IA32_TSC_DEADLINE, t % 4294967296, Math.floor(t / 4294967296));
  }

  /** A guest store into its MSI-X table's data word: the vector becomes the guest's own. */
  private noteMsixWrite(gpa: number, value: number): void {
    const table = this.env!.nicBar3 + MSIX_TABLE_OFFSET;
    if (gpa < table || gpa >= table + 0x1000 || (gpa - table) % 16 !== 8) return;
    this.guestVectors.add(value & 0xff);
    if ((value & 0xff) < 32) this.priorityModel = false;
  }

  /**
   * RDMSR or WRMSR, with the model's bookkeeping: the #GP the SDM expects (checked when the
   * operation completes), and the effects on TPR and ISR applied now (so that an interrupt the
   * EOI lets in is checked against the new state) and undone if it faults.
   */
  msr(c: CpuContext, write: boolean, index: number, lo: number, hi: number): void {
    const expectGp = x2apicFaults(write, index, lo, hi);
    if (write && index === KVM_MSR.PV_EOI_EN && this.options.mode === 'pv-eoi') this.notePvEoiMsr(lo, hi);
    let revert: (() => void) | null = null;
    if (write && expectGp !== true) revert = this.applyWrite(index, lo >>> 0, hi >>> 0);
    this.pending = {
      what: write
        ? `wrmsr(${hex(index)}, ${hex(lo >>> 0)}${hi !== 0 ? `, hi ${hex(hi >>> 0)}` : ''})`
        : `rdmsr(${hex(index)})`,
      expectGp: this.apicModel ? expectGp : null,
      frame: this.currentFrame!,
      revert,
    };
    if (write) c.wrmsr(index, lo >>> 0, hi >>> 0);
    else c.rdmsr(index);
  }

  /** The guest wrote MSR_KVM_PV_EOI_EN: where its flag now is, if the host accepts it (msr.txt). */
  private notePvEoiMsr(lo: number, hi: number): void {
    if ((lo & KVM_PV_EOI.MSR_RESERVED) !== 0) return; // #GP, nothing changes
    if ((lo & KVM_PV_EOI.MSR_ENABLED) === 0) {
      this.pvEoiFlag = -1;
      return;
    }
    const address = (hi >>> 0) * 2 ** 32 + ((lo & ~3) >>> 0);
    if (address + 4 > LAYOUT.RAM_SIZE) return; // #GP
    this.pvEoiFlag = address;
    if (this.ringsProgrammed) this.priorityModel = false;
    // A flag the guest set itself before enabling looks to its handlers like one the host set:
    // they clear it and skip the EOI, which the host never granted, so the vector stays in
    // service (as on bare metal for a handler that never EOIs). The model cannot tell the two.
    if ((this.env!.memory.read8(address) & KVM_PV_EOI.FLAG_ENABLED) !== 0) this.priorityModel = false;
  }

  /** A store of the guest over [gpa, gpa + size): one on the PV-EOI flag may be an EOI the model does not see. */
  private notePvEoiStore(gpa: number, size: number): void {
    if (this.pvEoiFlag >= 0 && gpa <= this.pvEoiFlag && gpa + size > this.pvEoiFlag)
      this.priorityModel = false;
  }

  /** What a WRMSR does to the model; returns how to undo it. */
  private applyWrite(index: number, lo: number, hi: number): (() => void) | null {
    if (index === MSR.IA32_APIC_BASE) {
      this.apicModel = false;
      this.priorityModel = false;
      return null;
    }
    if (index === MSR.X2APIC_SVR && ((lo & 0x100) === 0 || hi !== 0)) this.priorityModel = false;
    if (index === MSR.X2APIC_TPR) {
      const old = this.tpr;
      this.tpr = lo & 0xff;
      return () => {
        this.tpr = old;
      };
    }
    if (index === MSR.X2APIC_EOI) {
      this.syncForcedEois();
      const top = this.topInService();
      if (top < 0) return null;
      const [removed] = this.isr.splice(top, 1);
      return () => {
        this.isr.push(removed!);
      };
    }
    const vector = lo & 0xff;
    if (index === MSR.X2APIC_ICR) {
      const mode = (lo >>> 8) & 7;
      if (mode === 0 || mode === 1) {
        this.guestVectors.add(vector);
        if (vector < 32) this.priorityModel = false;
      }
    } else if (index === MSR.X2APIC_SELF_IPI) {
      this.guestVectors.add(vector);
      if (vector < 32) this.priorityModel = false;
    } else if (LVT_MSRS.has(index)) {
      this.guestVectors.add(vector);
      if ((lo & 0x10000) === 0 && vector < 32) this.priorityModel = false;
    }
    return null;
  }

  /** cli; rdmsr TPR, ISR0–7, PPR; the checks; restore IF. Its registers live per frame (a handler may be re-entered). */
  private readPriorities(inHandler: boolean): Step[] {
    const regs = (): PriorityRead => {
      const f = this.currentFrame!;
      let r = this.priorityReads.get(f);
      if (r === undefined) {
        r = { ifWas: false, faulted: false, tpr: 0, isr: new Uint32Array(8) };
        this.priorityReads.set(f, r);
      }
      return r;
    };
    const steps: Step[] = [
      (c) => {
        const r = regs();
        r.ifWas = c.interruptsEnabled;
        r.faulted = false;
        c.cli();
      },
      (c) => this.msr(c, false, MSR.X2APIC_TPR, 0, 0),
    ];
    for (let i = 0; i < 8; i++) {
      steps.push((c) => {
        const r = regs();
        r.faulted ||= this.lastFaulted;
        if (i === 0) r.tpr = c.resultLo >>> 0;
        else r.isr[i - 1] = c.resultLo >>> 0;
        this.msr(c, false, MSR.X2APIC_ISR0 + i, 0, 0);
      });
    }
    steps.push((c) => {
      const r = regs();
      r.faulted ||= this.lastFaulted;
      r.isr[7] = c.resultLo >>> 0;
      this.msr(c, false, MSR.X2APIC_PPR, 0, 0);
    });
    steps.push((c) => {
      const r = regs();
      r.faulted ||= this.lastFaulted;
      const ppr = c.resultLo >>> 0;
      if (!r.faulted && this.apicModel) this.checkPriorities(c, r.tpr, r.isr, ppr, inHandler);
      if (r.ifWas) c.sti();
      else c.compute(1);
    });
    return steps;
  }

  // ---- checks ----------------------------------------------------------------------------

  private checkTprRead(c: CpuContext, read: number): void {
    if (this.lastFaulted || !this.apicModel) return;
    if (read !== this.tpr) {
      this.violation(
        'tpr-readback',
        c,
        `rdmsr(TPR) read ${hex(read)}; the guest's own writes leave ${hex(this.tpr)} there`,
      );
    }
  }

  private checkPriorities(
    c: CpuContext,
    tpr: number,
    isr: Uint32Array,
    ppr: number,
    inHandler: boolean,
  ): void {
    this.checkTprRead(c, tpr);
    let isrv = -1;
    for (let w = 7; w >= 0 && isrv < 0; w--) if (isr[w] !== 0) isrv = w * 32 + 31 - Math.clz32(isr[w]!);
    const isrClass = isrv < 0 ? 0 : isrv >>> 4;
    const expected = tpr >>> 4 >= isrClass ? tpr & 0xff : isrClass << 4;
    if (ppr !== expected) {
      this.violation(
        'ppr',
        c,
        `PPR read ${hex(ppr)} with TPR ${hex(tpr)} and highest in-service vector ${isrv < 0 ? 'none' : hex(isrv)}: §10.8.3.1 gives ${hex(expected)}`,
      );
    }
    if (!this.priorityModel) return;
    this.syncForcedEois();
    const model = new Uint32Array(8);
    for (const e of this.isr) model[e.vector >>> 5] = (model[e.vector >>> 5]! | (1 << (e.vector & 31))) >>> 0;
    for (let w = 0; w < 8; w++) {
      if (model[w] !== isr[w]) {
        const list = (a: Uint32Array) => {
          const out: string[] = [];
          for (let v = 0; v < 256; v++) if ((a[v >>> 5]! >>> (v & 31)) & 1) out.push(hex(v));
          return out.length === 0 ? 'none' : out.join(' ');
        };
        this.violation(
          'isr-view',
          c,
          `${inHandler ? 'in a handler, ' : ''}the ISR reads ${list(isr)} but the guest has ${list(model)} in service`,
        );
        return;
      }
    }
  }

  private checkSidt(c: CpuContext, gpa: number): void {
    if (!this.inRam(gpa, 10) || this.idtr === null || this.lastFaulted) return;
    const bytes = new Uint8Array(10);
    this.env!.memory.readBytes(gpa, bytes);
    const seen = decodeIdtr(bytes);
    const want = this.idtr;
    if (seen.limit !== want.limit || seen.base !== want.base) {
      this.violation(
        'sidt',
        c,
        `SIDT stored {limit ${hex(seen.limit)}, base ${hex(seen.base)}}; the guest's last LIDT loaded {limit ${hex(
          want.limit,
        )}, base ${hex(want.base)}}`,
      );
    }
  }

  /** Settles the pending MSR access: it completed (no fault) or an exception was delivered for it. */
  private settle(how: 'ok' | 'fault' | 'unknown', c: CpuContext): void {
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    const faulted = how !== 'ok';
    this.lastFaulted = faulted;
    // A #DF hides whether the access faulted: it may be a #GP whose delivery faulted, or an
    // interrupt's delivery failing right after the access completed. The model then follows
    // the SDM's verdict where it has one (an access it says completes keeps its effect), and
    // undoes the effect where it has none.
    const undo = how === 'unknown' ? p.expectGp !== false : faulted;
    if (undo && p.revert !== null) p.revert();
    if (how !== 'unknown' && p.expectGp !== null && p.expectGp !== faulted) {
      this.violation(
        'x2apic-gp',
        c,
        `${p.what} ${faulted ? 'faulted' : 'completed without a fault'}; the SDM says it ${p.expectGp ? 'raises #GP(0)' : 'does not fault'}`,
      );
    }
  }

  // ---- hooks of the routines ---------------------------------------------------------------

  /** The frame being stepped (for the pending access's owner). */
  currentFrame: Frame | null = null;

  /** Before a routine's operation (not a handler's first). */
  beforeStep(c: CpuContext, f: Frame): void {
    this.steps++;
    this.currentFrame = f;
    if (this.pending !== null && this.pending.frame === f) this.settle('ok', c);
  }

  /** A handler's first step: the delivery just happened. */
  onEntry(c: CpuContext, f: Frame, vector: number, address: number): void {
    this.enterUnstarted(c, f);
    this.steps++;
    this.currentFrame = f;
    this.entries[vector]!++;
    if (vector < 32 && vector !== 2 && this.pending !== null) {
      // Which exception is the pending RDMSR/WRMSR's: #GP(0) itself, or a fault raised while
      // delivering that #GP (error code: IDT bit, index 13). A #DF may be either; an exception
      // raised while delivering an interrupt (EXT set, another index) is not the access's.
      const ec = f.errorCode;
      if (vector === 13 && ec === 0) this.settle('fault', c);
      else if (ec > 0 && (ec & 2) !== 0 && ec >>> 3 === 13) this.settle('fault', c);
      else if (vector === 8) this.settle('unknown', c);
    }
    this.checkGate(c, vector, address);
    if (vector === 8) this.priorityModel = false; // a #DF hides which interrupt (if any) was being delivered
    const ec = f.errorCode;
    // An exception raised while delivering an interrupt (EXT and IDT set in its error code):
    // the interrupt was acknowledged, so it is in service all the same (SDM §6.13, §10.8.4).
    if (vector < 32 && ec > 0 && (ec & 3) === 3 && ec >>> 3 >= 32) {
      const delivering = ec >>> 3;
      const eli = this.options.mode === 'eli' || this.options.mode === 'eli-delivery';
      if (eli && this.guestVectors.has(delivering) && this.isAssignedHostVector?.(delivering) === true) {
        // ELI's direct delivery faults under the host vector (a difference of its design, see
        // idt-gate): the guest's own vector of that number and the NIC's interrupt under it
        // cannot be told apart, so the model no longer knows what is in service.
        this.priorityModel = false;
      } else if (this.guestVectors.has(delivering)) this.acknowledged(c, delivering);
      else {
        // The fault names a vector the guest never raised: it was delivering through a gate
        // that is not the guest's (ELI's shadow IDT, under a host vector).
        this.violation(
          'idt-gate',
          c,
          `exception ${hex(vector)} has error code ${hex(ec)}: a fault while delivering vector ${hex(delivering)}, which the guest never raised (bare metal would name the guest's own vector)`,
        );
        this.priorityModel = false;
      }
    }
    if (vector >= 32) this.acknowledged(c, vector);
  }

  /**
   * Handlers below `f` on the stack that were delivered but have not run their first step: a
   * delivery through a trap gate leaves IF set, so an interrupt of a higher class can be taken
   * at the handler's first instruction boundary, before it runs (SDM §6.12.1.3). Their
   * deliveries came first, so the model takes them first, and each frame is marked so that its
   * own first step does not take it again.
   */
  private enterUnstarted(c: CpuContext, f: Frame): void {
    const at = this.frameAt;
    if (at === null) return;
    for (let i = 0; ; i++) {
      const g = at(i);
      if (g === undefined || g === f) return;
      if (g.pc === 0 && g.r3 !== ENTERED_EARLY && g.routine instanceof HandlerRoutine) {
        g.r3 = ENTERED_EARLY;
        this.onEntry(c, g, g.routine.vector, g.routine.address);
      }
    }
  }

  /**
   * ELI's host EOIs a vector the guest left in service for a whole preemption-timer period
   * (its protection): each such EOI ends the highest vector in service, as any EOI does
   * (SDM §10.8.5), so the model ends it too before it looks at what is in service.
   */
  private syncForcedEois(): void {
    const n = this.forcedEois?.() ?? 0;
    for (; this.forcedSeen < n; this.forcedSeen++) {
      const top = this.topInService();
      if (top >= 0) this.isr.splice(top, 1);
    }
  }

  /** Where the model's highest vector in service is in `isr` (the one an EOI ends), or −1. */
  private topInService(): number {
    let top = -1;
    for (let i = 0; i < this.isr.length; i++)
      if (top < 0 || this.isr[i]!.vector > this.isr[top]!.vector) top = i;
    return top;
  }

  /** An interrupt of `vector` was acknowledged by the guest's CPU: the priority rules, then into service. */
  private acknowledged(c: CpuContext, vector: number): void {
    if (!this.priorityModel) return;
    this.syncForcedEois();
    if (vector >>> 4 <= this.tpr >>> 4) {
      this.violation(
        'tpr-masks-delivery',
        c,
        `vector ${hex(vector)} was delivered to the guest while its TPR is ${hex(this.tpr)} (class ${this.tpr >>> 4})`,
      );
    }
    let top: { vector: number; since: number } | null = null;
    for (const e of this.isr) if (top === null || e.vector > top.vector) top = e;
    // ELI may EOI an assigned vector the guest leaves in service for a whole preemption-timer
    // period (its protection); after that the guest's view no longer holds it back.
    const forgiven =
      top !== null && this.options.preemptionPs > 0 && c.now - top.since >= this.options.preemptionPs;
    if (top !== null && vector >>> 4 <= top.vector >>> 4 && !forgiven) {
      this.violation(
        'isr-priority',
        c,
        `vector ${hex(vector)} was delivered to the guest while ${hex(top.vector)} (class ${top.vector >>> 4}) is in service`,
      );
    }
    this.isr.push({ vector, since: c.now });
  }

  /** `idt-gate`: the gate the guest's IDT holds now for `vector` leads to the routine that was entered. */
  private checkGate(c: CpuContext, vector: number, address: number): void {
    const idtr = this.idtr;
    if (idtr === null || idtr.base > BigInt(LAYOUT.RAM_SIZE)) return;
    const base = Number(idtr.base);
    if (vector * IDT_GATE_SIZE + IDT_GATE_SIZE - 1 > idtr.limit) {
      this.violation(
        'idt-gate',
        c,
        `vector ${hex(vector)} was delivered through a gate beyond the guest's IDT limit ${hex(idtr.limit)}`,
      );
      return;
    }
    const at = base + vector * IDT_GATE_SIZE;
    if (!this.inRam(at, IDT_GATE_SIZE)) return;
    const g = this.scratch;
    this.env!.memory.readBytes(at, g, 0, IDT_GATE_SIZE);
    const dv = new DataView(g.buffer);
    const w0 = dv.getUint32(0, true);
    const w1 = dv.getUint32(4, true);
    const w2 = dv.getUint32(8, true);
    const type = (w1 >>> 8) & 0xf;
    const ok =
      (w1 & 0x8000) !== 0 &&
      (w1 & 0x1000) === 0 &&
      (type === GATE_TYPE.INTERRUPT || type === GATE_TYPE.TRAP) &&
      gateOffsetNumber(w0, w1, w2) === address;
    if (!ok) {
      this.violation(
        'idt-gate',
        c,
        `vector ${hex(vector)} reached the handler at ${hex(address)}, but the guest's IDT[${hex(vector)}] now holds ${
          (w1 & 0x8000) === 0 ? 'a not-present gate' : `a gate to ${hex(gateOffsetNumber(w0, w1, w2))}`
        } (bare metal would use that)`,
      );
    }
  }

  /** The steps of a handler from its spec. */
  handlerSteps(spec: HandlerSpec): { steps: Step[]; loopFrom: number } {
    const eoi: Step = (c) => {
      // With PV EOI on (pv-eoi), the EOI is kvm_guest_apic_eoi_write's: bit 0 of the flag set
      // means the host lets it skip the write — it clears the bit, and it has EOI'd.
      if (this.pvEoiFlag >= 0) {
        const memory = this.env!.memory;
        const flag = memory.read8(this.pvEoiFlag);
        if ((flag & KVM_PV_EOI.FLAG_ENABLED) !== 0) {
          memory.write8(this.pvEoiFlag, flag & ~KVM_PV_EOI.FLAG_ENABLED);
          this.applyWrite(MSR.X2APIC_EOI, 0, 0);
          c.compute(1);
          return;
        }
      }
      this.msr(c, true, MSR.X2APIC_EOI, 0, 0);
    };
    const steps: Step[] = [(c) => c.compute(Math.max(1, spec.cycles))];
    if (spec.eoi === 'before') steps.push(eoi);
    if (spec.sti) steps.push((c) => c.sti());
    if (spec.checkIsr) steps.push(...this.readPriorities(true));
    if (spec.eoi === 'after') steps.push(eoi);
    const loopFrom = steps.length;
    if (spec.end === 'iret') steps.push((c) => c.iret());
    else if (spec.end === 'spin') steps.push((c) => c.compute(20_000));
    else steps.push((c) => c.hlt());
    return { steps, loopFrom };
  }
}

/** Guest-physical address of handler `h`'s routine for `vector`. */
export function handlerAddress(h: number, vector: number): number {
  return LAYOUT.HANDLERS + h * 0x1000 + vector * 0x10;
}

/** The guest's entry: the boot steps and the program's ops, then its loop forever. */
class ScriptRoutine implements Routine {
  readonly name = 'fuzz_guest_main';
  private readonly run: GuestRun;
  private readonly main: Step[];
  private readonly loop: Step[];

  constructor(run: GuestRun, main: Step[], loop: Step[]) {
    this.run = run;
    this.main = main;
    this.loop = loop;
  }

  step(cpu: CpuContext, f: Frame): void {
    this.run.beforeStep(cpu, f);
    const i = f.pc++;
    const s = i < this.main.length ? this.main[i]! : this.loop[(i - this.main.length) % this.loop.length]!;
    s(cpu);
  }
}

/** A handler for one vector (one routine per vector, so it knows which gate it was entered through). */
class HandlerRoutine implements Routine {
  readonly name: string;
  private readonly run: GuestRun;
  readonly vector: number;
  readonly address: number;
  private readonly steps: Step[];
  private readonly loopFrom: number;

  constructor(run: GuestRun, spec: HandlerSpec, vector: number, address: number) {
    this.name = `fuzz_handler_${vector.toString(16)}`;
    this.run = run;
    this.vector = vector;
    this.address = address;
    const { steps, loopFrom } = run.handlerSteps(spec);
    this.steps = steps;
    this.loopFrom = loopFrom;
  }

  step(cpu: CpuContext, f: Frame): void {
    // A frame whose entry the model took when a later delivery preempted it (r3, the
    // routine's own scratch register, marks it) starts like any other step.
    if (f.pc === 0 && f.r3 !== ENTERED_EARLY) this.run.onEntry(cpu, f, this.vector, this.address);
    else this.run.beforeStep(cpu, f);
    const i = f.pc++;
    const n = this.steps.length;
    const s = i < n ? this.steps[i]! : this.steps[this.loopFrom + ((i - n) % (n - this.loopFrom))]!;
    s(cpu);
  }
}

/** A function the guest CALLs: a little work, then RET. */
class FnRoutine implements Routine {
  readonly name = 'fuzz_function';
  private readonly run: GuestRun;

  constructor(run: GuestRun) {
    this.run = run;
  }

  step(cpu: CpuContext, f: Frame): void {
    this.run.beforeStep(cpu, f);
    if (f.pc++ === 0) cpu.compute(100);
    else cpu.ret();
  }
}
