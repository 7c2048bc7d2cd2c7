/**
 * The conformance suite for a CPU core that runs software written against x86's
 * `CpuContext` contract, in the spirit of kvm-unit-tests' x86/eventinj.c and x86/vmx_tests.c.
 * The software under test talks to the CPU only through `CpuContext` (routines in a
 * `CodeSpace`, IDT gates in memory, VMCS fields through VMREAD/VMWRITE), and the suite checks
 * what the Intel SDM vol. 3 ch. 6 (IDT delivery) and ch. 24–27 (VMX) prescribe, plus the
 * exact time of simple cases under the costs it passes.
 *
 *   import { describeCpuConformance } from '@exitless/cpu/conformance';
 *   describeCpuConformance('my CPU', (o) => new MyCpu(o));
 *
 * @module @exitless/cpu/conformance
 */
import { SimEvent, Simulator, Stats } from '@exitless/sim';
import type {
  CpuContext,
  Frame,
  InterruptLineListener,
  InterruptMessage,
  LocalApic,
  MmioSize,
  MsrAccessResult,
  MsrValue,
  Routine,
} from '@exitless/x86';
import {
  APIC_BASE_MSR,
  APIC_DEFAULT_BASE,
  APIC_REG,
  CodeSpace,
  DESCRIPTOR_TABLE_INSTRUCTION,
  ENTRY_CONTROLS,
  EXCEPTION,
  EXIT_CONTROLS,
  EXIT_REASON,
  encodeIdtGate,
  GATE_TYPE,
  INSTRUCTION_INFO,
  INTERRUPTIBILITY,
  INTR_INFO,
  INTR_TYPE,
  idtErrorCode,
  interruptGate,
  interruptionInfo,
  isX2apicMsr,
  MSR,
  MSR_BITMAP,
  MSR_GP,
  MSR_OK,
  PhysicalBus,
  PIN_BASED,
  POSTED_INTERRUPT_DESCRIPTOR,
  PROC_BASED,
  PROC_BASED2,
  RFLAGS,
  SparseMemory,
  setMsrIntercept,
  VM_INSTRUCTION_ERROR,
  VMCS_FIELD,
  VMX_STATUS,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { VMX_DEFAULT1 } from './capabilities.js';
import type { CpuCosts } from './costs.js';
import type { CpuUnderTest } from './part.js';

/** What the suite hands the factory to build one CPU (the environment the package's `Cpu` needs). */
export interface CpuFactoryOptions {
  /** The simulator the CPU runs on. */
  readonly sim: Simulator;
  /** Core clock, Hz: CONFORMANCE_HZ. */
  readonly hz: number;
  /** Host-physical address space; IDTs, the MSR bitmap and IDTR operands live in its RAM. */
  readonly bus: PhysicalBus;
  /** Routines by address: IDT gate offsets, GUEST_RIP and the host entry point. */
  readonly code: CodeSpace;
  /** The core's local APIC (a double owned by the suite); the CPU must `connect` to it. */
  readonly lapic: LocalApic;
  /** Costs the CPU must honour exactly: CONFORMANCE_COSTS. */
  readonly costs: CpuCosts;
  /** IA32_VMX_MISC[4:0]: the preemption timer ticks every 2^rate TSC cycles (CONFORMANCE_PREEMPTION_RATE). */
  readonly vmxMiscPreemptionRate: number;
  /** A statistics registry the CPU may count into (the suite asserts no counter names). */
  readonly stats: Stats;
}

export type { CpuUnderTest } from './part.js';

/** Builds the CPU under test from the suite's environment. */
export type CpuFactory = (options: CpuFactoryOptions) => CpuUnderTest;

/** 1 GHz: one cycle is exactly 1,000 ps, so every expected time is a whole number of picoseconds. */
export const CONFORMANCE_HZ = 1_000_000_000;

/**
 * The costs (core cycles) the suite passes and whose exact timing it checks: an operation's
 * cost elapses after it begins, an event delivery costs `eventDeliveryCycles` before the
 * handler's first operation, IRET costs `iretCycles` before the interrupted code continues,
 * VM entry costs `vmEntryCycles` before the guest's first operation, a VM exit costs
 * `vmExitCycles` before the host continues. The indirect exit cost is 0 so that it cannot
 * blur the timing of the host.
 */
export const CONFORMANCE_COSTS: CpuCosts = {
  vmExitCycles: 1000,
  vmEntryCycles: 800,
  exitIndirectCycles: 0,
  exitPollutionPerHostCycle: 0,
  exitPollutionMaxCycles: 0,
  eventDeliveryCycles: 100,
  iretCycles: 50,
  rdmsrCycles: 20,
  wrmsrCycles: 30,
  mmioReadCycles: 200,
  mmioWriteCycles: 150,
  cliStiCycles: 2,
  descriptorTableCycles: 10,
  pauseCycles: 5,
};

/** IA32_VMX_MISC[4:0] the suite passes: the preemption timer counts every 2^5 = 32 cycles. */
export const CONFORMANCE_PREEMPTION_RATE = 5;

const PS = 1_000_000_000_000 / CONFORMANCE_HZ; // ps per cycle
const C = CONFORMANCE_COSTS;
const HOST_ENTRY = 0x100000;
const GUEST_ENTRY = 0x200000;
const HANDLER_BASE = 0x300000;
const HOST_IDT = 0x1000;
const GUEST_IDT = 0x3000;
const VMCS_ADDRESS = 0x5000;
const MSR_BITMAP_ADDRESS = 0x6000;
const IDTR_AT = 0x800;
const LIDT_OPERAND = 0x8000;
/** Segment-register number of DS in VM-exit instruction information (SDM vol. 3 table 27-10). */
const SEGMENT_DS = 3;
const T_IRQ = 50_000_000; // 50 µs: an interrupt well inside a long compute
const RUN_UNTIL = 2_000_000_000;
/** When the host's LIDT (and then STI) of the IDT tests complete. */
const LIDT_DONE = C.descriptorTableCycles * PS;
const STI_DONE = LIDT_DONE + C.cliStiCycles * PS;
/** When a guest's first operation begins: VMLAUNCH issued at time 0 plus the entry transition. */
const ENTRY_DONE = C.vmEntryCycles * PS;
const EXIT_PS = C.vmExitCycles * PS;

/** The spurious vector the double returns from an INTA with nothing pending (SVR reset value). */
export const SPURIOUS_VECTOR = 0xff;

/**
 * The LAPIC the suite gives the CPU under test (also usable in a CPU's own tests): IRR and ISR as 256-entry sets, the SDM's priority-class rule
 * for INTR (highest IRR class above highest ISR class; TPR is 0), EOI through the xAPIC
 * page (offset 0xB0) or the x2APIC MSR 0x80B, an NMI latch, and IA32_APIC_BASE.
 */
export class LapicDouble implements LocalApic {
  /** True once a CPU has connected to the interrupt line. */
  get connected(): boolean {
    return this.listener !== null;
  }

  /** IRR, one entry per vector (1 = requested). */
  readonly irr: Uint8Array = new Uint8Array(256);
  /** ISR, one entry per vector (1 = in service). */
  readonly isr: Uint8Array = new Uint8Array(256);
  /** An NMI is latched and not yet taken. */
  nmiPending = false;
  /** IA32_APIC_BASE bits 31:0 (enabled, BSP, default base; EXTD once x2APIC mode is entered). */
  apicBaseLo: number = (APIC_DEFAULT_BASE | APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.BSP) >>> 0;
  /** EOIs received (through the page, the MSR or {@link LapicDouble.eoi}). */
  eoiCount = 0;
  /** Calls of `acknowledge` (INTA cycles), including spurious ones. */
  acknowledgeCount = 0;
  /** Every access to the xAPIC page, in order: a write or a read, its offset, the value written (0 for a read). */
  readonly mmioLog: {
    /** True for a write. */
    write: boolean;
    /** Byte offset in the APIC page. */
    offset: number;
    /** The value written; 0 for a read. */
    value: number;
  }[] = [];
  private listener: InterruptLineListener | null = null;

  get apicId(): number {
    return 0;
  }
  get x2apicMode(): boolean {
    return (this.apicBaseLo & APIC_BASE_MSR.EXTD) !== 0;
  }
  get enabled(): boolean {
    return (this.apicBaseLo & APIC_BASE_MSR.ENABLE) !== 0;
  }
  get arbitrationPriority(): number {
    return 0;
  }

  /** Sets `vector` in IRR and tells the CPU (as a real LAPIC does when a message arrives). */
  raise(vector: number): void {
    this.irr[vector] = 1;
    this.listener?.interruptLineChanged();
  }

  /** Latches an NMI and tells the CPU. */
  raiseNmi(): void {
    this.nmiPending = true;
    this.listener?.interruptLineChanged();
  }

  /** Sets IA32_APIC_BASE.EXTD: x2APIC mode, so the EOI MSR works. */
  enterX2apicMode(): void {
    this.apicBaseLo = (this.apicBaseLo | APIC_BASE_MSR.EXTD) >>> 0;
  }

  private static highest(set: Uint8Array): number {
    for (let v = 255; v >= 0; v--) if (set[v] === 1) return v;
    return -1;
  }

  hasInterrupt(): boolean {
    const r = LapicDouble.highest(this.irr);
    if (r < 0) return false;
    const s = LapicDouble.highest(this.isr);
    return s < 0 || r >>> 4 > s >>> 4;
  }

  acknowledge(): number {
    this.acknowledgeCount++;
    if (!this.hasInterrupt()) return SPURIOUS_VECTOR;
    const r = LapicDouble.highest(this.irr);
    this.irr[r] = 0;
    this.isr[r] = 1;
    return r;
  }

  hasNmi(): boolean {
    return this.nmiPending;
  }

  acknowledgeNmi(): void {
    this.nmiPending = false;
  }

  connect(listener: InterruptLineListener): void {
    this.listener = listener;
  }

  /** Ends the highest in-service vector (if any), counts the EOI and tells the CPU. */
  eoi(): void {
    const s = LapicDouble.highest(this.isr);
    if (s >= 0) this.isr[s] = 0;
    this.eoiCount++;
    this.listener?.interruptLineChanged();
  }

  ownsMsr(index: number): boolean {
    return index === MSR.IA32_APIC_BASE || isX2apicMsr(index);
  }

  readMsr(index: number, out: MsrValue): MsrAccessResult {
    if (index === MSR.IA32_APIC_BASE) {
      out.lo = this.apicBaseLo;
      out.hi = 0;
      return MSR_OK;
    }
    if (!this.x2apicMode || index === MSR.X2APIC_EOI) return MSR_GP;
    out.lo = 0;
    out.hi = 0;
    return MSR_OK;
  }

  writeMsr(index: number, lo: number, _hi: number): MsrAccessResult {
    if (index === MSR.IA32_APIC_BASE) {
      this.apicBaseLo = lo >>> 0;
      return MSR_OK;
    }
    if (!this.x2apicMode) return MSR_GP;
    if (index === MSR.X2APIC_EOI) this.eoi();
    return MSR_OK;
  }

  /** Logs the read; returns the version register's value at offset 0x30 and 0 elsewhere. */
  mmioRead(offset: number, _size: MmioSize): number {
    this.mmioLog.push({ write: false, offset, value: 0 });
    return offset === APIC_REG.VERSION ? 0x50014 : 0;
  }

  /** Logs the write; a write to the EOI register (0xB0) is an EOI. */
  mmioWrite(offset: number, _size: MmioSize, value: number): void {
    this.mmioLog.push({ write: true, offset, value });
    if (offset === APIC_REG.EOI) this.eoi();
  }

  matchesDestination(destination: number): boolean {
    return destination === 0;
  }

  acceptInterrupt(message: InterruptMessage): void {
    this.raise(message.vector);
  }
}

type Op = (cpu: CpuContext, frame: Frame) => void;

/** A routine that issues `ops` in order, then ends with `end` (HLT forever, or IRET). */
function script(name: string, ops: readonly Op[], end: 'hlt' | 'iret' = 'hlt'): Routine {
  return {
    name,
    step(cpu, frame) {
      const op = ops[frame.pc];
      if (op !== undefined) {
        frame.pc++;
        op(cpu, frame);
        return;
      }
      if (end === 'iret') cpu.iret();
      else cpu.hlt();
    },
  };
}

/** What a handler saw when its first operation began. */
interface Seen {
  readonly vector: number;
  readonly errorCode: number;
  readonly ifOn: boolean;
  readonly time: number;
}

/** A handler that records what it was invoked with, computes 1 cycle, runs `extra`, and IRETs. */
function recorder(seen: Seen[], extra: readonly Op[] = []): Routine {
  return script(
    'recorder',
    [
      (c, f) => {
        seen.push({ vector: f.vector, errorCode: f.errorCode, ifOn: c.interruptsEnabled, time: c.now });
        c.compute(1);
      },
      ...extra,
    ],
    'iret',
  );
}

interface Rig {
  readonly sim: Simulator;
  readonly memory: SparseMemory;
  readonly code: CodeSpace;
  readonly lapic: LapicDouble;
  readonly cpu: CpuUnderTest;
  /** Runs `fn` at absolute time `time` (ps) from a simulator event. */
  at(time: number, fn: () => void): void;
  /** Writes the 16-byte gate of `vector` and registers `routine` at the gate's offset. */
  gate(
    idtBase: number,
    vector: number,
    routine: Routine,
    options?: { present?: boolean; type?: number },
  ): void;
}

function makeRig(factory: CpuFactory): Rig {
  const sim = new Simulator();
  const memory = new SparseMemory(16 * 1024 * 1024);
  const bus = new PhysicalBus(memory);
  const code = new CodeSpace();
  const lapic = new LapicDouble();
  const cpu = factory({
    sim,
    hz: CONFORMANCE_HZ,
    bus,
    code,
    lapic,
    costs: CONFORMANCE_COSTS,
    vmxMiscPreemptionRate: CONFORMANCE_PREEMPTION_RATE,
    stats: new Stats(sim),
  });
  const bytes = new Uint8Array(16);
  return {
    sim,
    memory,
    code,
    lapic,
    cpu,
    at(time, fn) {
      sim.schedule(new SimEvent(`conformance@${time}`, fn), time);
    },
    gate(idtBase, vector, routine, options = {}) {
      const target = HANDLER_BASE + vector * 0x100 + (idtBase === GUEST_IDT ? 0x80000 : 0);
      code.register(target, routine);
      encodeIdtGate(
        interruptGate(target, {
          present: options.present ?? true,
          type: options.type ?? GATE_TYPE.INTERRUPT,
        }),
        bytes,
      );
      memory.writeBytes(idtBase + vector * 16, bytes);
    },
  };
}

/** Starts a host that loads IDTR (HOST_IDT, `limit`) with LIDT, optionally STIs, then runs `ops`. */
function startHost(r: Rig, ops: readonly Op[], options: { limit?: number; sti?: boolean } = {}): void {
  r.memory.write16(IDTR_AT, options.limit ?? 0xfff);
  r.memory.write32(IDTR_AT + 2, HOST_IDT);
  r.memory.write32(IDTR_AT + 6, 0);
  const prologue: Op[] = [(c) => c.lidt(IDTR_AT)];
  if (options.sti ?? true) prologue.push((c) => c.sti());
  r.code.register(HOST_ENTRY, script('host', [...prologue, ...ops]));
  r.cpu.start(HOST_ENTRY);
}

/** The VMCS controls and fields a VMX case sets beyond the default1 bits. */
interface VmcsSetup {
  readonly pin?: number;
  readonly proc?: number;
  readonly proc2?: number;
  readonly exit?: number;
  readonly rflags?: number;
  readonly exceptionBitmap?: number;
  readonly fields?: readonly (readonly [number, number])[];
}

/** One VM exit (or VM-entry failure) as the host saw it, read with VMREAD right after. */
interface ExitRecord {
  readonly time: number;
  readonly vmxStatus: number;
  readonly instructionError: number;
  readonly reason: number;
  readonly qualification: number;
  readonly intrInfo: number;
  readonly intrError: number;
  readonly vectoringInfo: number;
  readonly instructionLength: number;
  readonly instructionInfo: number;
  readonly guestRflags: number;
  readonly guestInterruptibility: number;
  readonly guestIdtrBase: number;
  readonly entryIntrInfo: number;
  readonly rax: number;
  readonly rcx: number;
  readonly nonRoot: boolean;
  /** GUEST_INTERRUPT_STATUS: SVI in bits 15:8, RVI in bits 7:0. */
  readonly guestInterruptStatus: number;
}

/**
 * Starts a hypervisor at HOST_ENTRY: at time 0 it VMCLEARs and VMPTRLDs a VMCS, fills it
 * (the SDM default1 control bits, a 64-bit host and guest, guest IDT at GUEST_IDT with limit
 * FFFh, GUEST_RIP = GUEST_ENTRY, plus `s`) and VMLAUNCHes it; it records every exit or VMfail,
 * VMRESUMEs after the first `host.resumes` exits (default 0), then runs `host.afterExit` in
 * root operation with IF = 0 and halts.
 */
function startHypervisor(
  r: Rig,
  s: VmcsSetup,
  guestOps: readonly Op[],
  host: { readonly resumes?: number; readonly afterExit?: readonly Op[] } = {},
): ExitRecord[] {
  const exits: ExitRecord[] = [];
  r.code.register(GUEST_ENTRY, script('guest', guestOps));
  r.code.register(HOST_ENTRY, {
    name: 'hypervisor',
    step(c, frame) {
      if (frame.pc === 0) {
        frame.pc = 1;
        c.vmclear(VMCS_ADDRESS);
        c.vmptrld(VMCS_ADDRESS);
        const w = (field: number, value: number): void => c.vmwrite(field, value >>> 0);
        w(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, VMX_DEFAULT1.PIN_BASED | (s.pin ?? 0));
        w(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, VMX_DEFAULT1.PROC_BASED | (s.proc ?? 0));
        w(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, s.proc2 ?? 0);
        w(
          VMCS_FIELD.VM_EXIT_CONTROLS,
          VMX_DEFAULT1.EXIT | EXIT_CONTROLS.HOST_ADDRESS_SPACE_SIZE | (s.exit ?? 0),
        );
        w(VMCS_FIELD.VM_ENTRY_CONTROLS, VMX_DEFAULT1.ENTRY | ENTRY_CONTROLS.IA32E_MODE_GUEST);
        w(VMCS_FIELD.EXCEPTION_BITMAP, s.exceptionBitmap ?? 0);
        w(VMCS_FIELD.GUEST_RFLAGS, s.rflags ?? RFLAGS.FIXED1 | RFLAGS.IF);
        w(VMCS_FIELD.GUEST_RIP, GUEST_ENTRY);
        w(VMCS_FIELD.GUEST_IDTR_BASE, GUEST_IDT);
        w(VMCS_FIELD.GUEST_IDTR_LIMIT, 0xfff);
        w(VMCS_FIELD.HOST_IDTR_BASE, HOST_IDT);
        w(VMCS_FIELD.MSR_BITMAP, MSR_BITMAP_ADDRESS);
        for (const [field, value] of s.fields ?? []) w(field, value);
        c.vmlaunch();
        return;
      }
      if (frame.pc === 1) {
        const status = c.vmxStatus;
        exits.push({
          time: c.now,
          vmxStatus: status,
          instructionError: c.vmread(VMCS_FIELD.VM_INSTRUCTION_ERROR),
          reason: c.vmread(VMCS_FIELD.VM_EXIT_REASON),
          qualification: c.vmread(VMCS_FIELD.EXIT_QUALIFICATION),
          intrInfo: c.vmread(VMCS_FIELD.VM_EXIT_INTR_INFO),
          intrError: c.vmread(VMCS_FIELD.VM_EXIT_INTR_ERROR_CODE),
          vectoringInfo: c.vmread(VMCS_FIELD.IDT_VECTORING_INFO),
          instructionLength: c.vmread(VMCS_FIELD.VM_EXIT_INSTRUCTION_LEN),
          instructionInfo: c.vmread(VMCS_FIELD.VMX_INSTRUCTION_INFO),
          guestRflags: c.vmread(VMCS_FIELD.GUEST_RFLAGS),
          guestInterruptibility: c.vmread(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO),
          guestIdtrBase: c.vmread(VMCS_FIELD.GUEST_IDTR_BASE),
          entryIntrInfo: c.vmread(VMCS_FIELD.VM_ENTRY_INTR_INFO),
          rax: c.rax,
          rcx: c.rcx,
          nonRoot: c.vmxNonRoot,
          guestInterruptStatus: c.vmread(VMCS_FIELD.GUEST_INTERRUPT_STATUS),
        });
        if (status === VMX_STATUS.SUCCEED && exits.length <= (host.resumes ?? 0)) {
          c.vmresume();
          return;
        }
        frame.pc = 2;
      }
      const op = host.afterExit?.[frame.pc - 2];
      if (op !== undefined) {
        frame.pc++;
        op(c, frame);
        return;
      }
      c.hlt();
    },
  });
  r.cpu.start(HOST_ENTRY);
  return exits;
}

/** The one exit a VMX case expects, after checking that it was a real exit (VMsucceed, root operation). */
function onlyExit(exits: readonly ExitRecord[]): ExitRecord {
  expect(exits).toHaveLength(1);
  const e = exits[0];
  if (e === undefined) throw new Error('no VM exit was recorded');
  expect(e.vmxStatus).toBe(VMX_STATUS.SUCCEED);
  expect(e.nonRoot).toBe(false);
  return e;
}

// ---------------------------------------------------------------- APIC virtualization (SDM ch. 29)

const VIRTUAL_APIC_PAGE = 0x9000;
/** A 64-byte-aligned posted-interrupt descriptor. */
const PI_DESCRIPTOR = 0xa040;
/** The posted-interrupt notification vector (KVM's POSTED_INTR_VECTOR). */
const NOTIFICATION_VECTOR = 0xf2;
const VISR = APIC_REG.ISR0;
const VIRR = APIC_REG.IRR0;

/** Sets `vector` in the 256-bit virtual register at `base` (VISR 100H or VIRR 200H) of the virtual-APIC page. */
function setVirtualBit(r: Rig, base: number, vector: number): void {
  const at = VIRTUAL_APIC_PAGE + base + 16 * (vector >>> 5);
  r.memory.write32(at, (r.memory.read32(at) | (1 << (vector & 31))) >>> 0);
}

function virtualBit(r: Rig, base: number, vector: number): number {
  return (r.memory.read32(VIRTUAL_APIC_PAGE + base + 16 * (vector >>> 5)) >>> (vector & 31)) & 1;
}

/**
 * Controls for virtual-interrupt delivery with x2APIC virtualization, as KVM's APICv sets
 * them: external-interrupt exiting (required), use TPR shadow, MSR bitmaps (all clear: no
 * x2APIC MSR is intercepted), virtualize x2APIC mode, virtual-interrupt delivery; the
 * virtual-APIC page at VIRTUAL_APIC_PAGE; `status` in GUEST_INTERRUPT_STATUS.
 */
function apicvSetup(status: number, more: VmcsSetup = {}): VmcsSetup {
  return {
    ...more,
    pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING | (more.pin ?? 0),
    proc:
      PROC_BASED.USE_TPR_SHADOW |
      PROC_BASED.ACTIVATE_SECONDARY_CONTROLS |
      PROC_BASED.USE_MSR_BITMAPS |
      (more.proc ?? 0),
    proc2: PROC_BASED2.VIRTUALIZE_X2APIC_MODE | PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY | (more.proc2 ?? 0),
    exit: EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT | (more.exit ?? 0),
    fields: [
      [VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR, VIRTUAL_APIC_PAGE],
      [VMCS_FIELD.GUEST_INTERRUPT_STATUS, status],
      ...(more.fields ?? []),
    ],
  };
}

/** apicvSetup plus "process posted interrupts" with NOTIFICATION_VECTOR and PI_DESCRIPTOR. */
function postedSetup(status: number): VmcsSetup {
  return apicvSetup(status, {
    pin: PIN_BASED.PROCESS_POSTED_INTERRUPTS,
    fields: [
      [VMCS_FIELD.POSTED_INTR_NOTIFICATION_VECTOR, NOTIFICATION_VECTOR],
      [VMCS_FIELD.POSTED_INTR_DESC_ADDR, PI_DESCRIPTOR],
    ],
  });
}

/** Writes a descriptor with `vectors` posted in PIR and ON as given (NV and NDST are the IOMMU's business). */
function writeDescriptor(r: Rig, vectors: readonly number[], on: boolean): void {
  for (let i = 0; i < 8; i++) r.memory.write32(PI_DESCRIPTOR + 4 * i, 0);
  for (const v of vectors) {
    const at = PI_DESCRIPTOR + 4 * (v >>> 5);
    r.memory.write32(at, (r.memory.read32(at) | (1 << (v & 31))) >>> 0);
  }
  r.memory.write32(
    PI_DESCRIPTOR + POSTED_INTERRUPT_DESCRIPTOR.CONTROL,
    (NOTIFICATION_VECTOR << POSTED_INTERRUPT_DESCRIPTOR.NV_SHIFT) | (on ? POSTED_INTERRUPT_DESCRIPTOR.ON : 0),
  );
}

function pir(r: Rig): number[] {
  const out: number[] = [];
  for (let i = 0; i < 8; i++) out.push(r.memory.read32(PI_DESCRIPTOR + 4 * i));
  return out;
}

function descriptorOn(r: Rig): boolean {
  return (
    (r.memory.read32(PI_DESCRIPTOR + POSTED_INTERRUPT_DESCRIPTOR.CONTROL) &
      POSTED_INTERRUPT_DESCRIPTOR.ON) !==
    0
  );
}

/**
 * Registers the CPU conformance suite for the implementation built by `factory`. Each case
 * builds a fresh simulator, memory, code space and LAPIC double and calls the factory once.
 */
export function describeCpuConformance(name: string, factory: CpuFactory): void {
  describe(`CPU conformance: ${name}`, () => {
    it('connects to its LAPIC (it must hear the interrupt line)', () => {
      const r = makeRig(factory);
      expect(r.lapic.connected).toBe(true);
    });

    describe('event delivery through the IDT (SDM vol. 3 §6.12, §6.13, §6.14)', () => {
      it('a vector whose gate lies beyond IDTR.limit raises #GP with error code (vector << 3) | 2 | EXT = 0x20B for external vector 0x41', () => {
        const r = makeRig(factory);
        const seen: Seen[] = [];
        r.gate(HOST_IDT, EXCEPTION.GP, recorder(seen));
        startHost(r, [(c) => c.compute(1_000_000)], { limit: 0x41 * 16 - 1 });
        r.at(T_IRQ, () => r.lapic.raise(0x41));
        r.sim.runUntil(RUN_UNTIL);
        expect(seen.map((s) => [s.vector, s.errorCode])).toEqual([[EXCEPTION.GP, idtErrorCode(0x41, true)]]);
        expect(seen[0]?.errorCode).toBe(0x20b);
        expect(seen[0]?.time).toBe(T_IRQ + C.eventDeliveryCycles * PS);
      });

      it('a not-present gate raises #NP with error code 0x20B and the vector’s handler never runs', () => {
        const r = makeRig(factory);
        const seen: Seen[] = [];
        const never: Seen[] = [];
        r.gate(HOST_IDT, 0x41, recorder(never), { present: false });
        r.gate(HOST_IDT, EXCEPTION.NP, recorder(seen));
        startHost(r, [(c) => c.compute(1_000_000)]);
        r.at(T_IRQ, () => r.lapic.raise(0x41));
        r.sim.runUntil(RUN_UNTIL);
        expect(seen.map((s) => [s.vector, s.errorCode])).toEqual([[EXCEPTION.NP, 0x20b]]);
        expect(never).toEqual([]);
        // The CPU acknowledged the interrupt (INTA) before it read the gate.
        expect(r.lapic.isr[0x41]).toBe(1);
      });

      it('an interrupt gate clears IF; a trap gate leaves it set; the handler sees its vector and no error code', () => {
        const r = makeRig(factory);
        const seen: Seen[] = [];
        r.gate(HOST_IDT, 0x41, recorder(seen), { type: GATE_TYPE.INTERRUPT });
        r.gate(HOST_IDT, 0x61, recorder(seen), { type: GATE_TYPE.TRAP });
        startHost(r, [(c) => c.compute(1_000_000)]);
        r.at(T_IRQ, () => r.lapic.raise(0x41));
        r.at(2 * T_IRQ, () => {
          r.lapic.eoi();
          r.lapic.raise(0x61);
        });
        r.sim.runUntil(RUN_UNTIL);
        expect(seen.map((s) => [s.vector, s.errorCode, s.ifOn])).toEqual([
          [0x41, -1, false],
          [0x61, -1, true],
        ]);
      });

      it('IRET restores the RFLAGS.IF of the interrupted code, whatever the handler did to IF', () => {
        const r = makeRig(factory);
        const log: string[] = [];
        const note =
          (what: string, op: Op): Op =>
          (c, f) => {
            log.push(`${what} IF=${c.interruptsEnabled}`);
            op(c, f);
          };
        // The interrupt-gate handler sets IF; the trap-gate handler clears it; both IRET.
        r.gate(HOST_IDT, 0x41, script('h41', [note('h41', (c) => c.sti())], 'iret'), {
          type: GATE_TYPE.INTERRUPT,
        });
        r.gate(HOST_IDT, 0x61, script('h61', [note('h61', (c) => c.cli())], 'iret'), {
          type: GATE_TYPE.TRAP,
        });
        startHost(r, [
          (c) => c.compute(100_000),
          note('host', (c) => c.compute(100_000)),
          note('host', (c) => c.hlt()),
        ]);
        r.at(STI_DONE + 1000 * PS, () => r.lapic.raise(0x41));
        r.at(STI_DONE + 150_000 * PS, () => {
          r.lapic.eoi();
          r.lapic.raise(0x61);
        });
        r.sim.runUntil(RUN_UNTIL);
        expect(log).toEqual(['h41 IF=false', 'host IF=true', 'h61 IF=true', 'host IF=true']);
      });

      it('blocking by STI: sti(); hlt() is atomic — an interrupt already pending is taken once HLT has begun, and wakes it', () => {
        const r = makeRig(factory);
        const log: string[] = [];
        r.lapic.raise(0x41);
        r.gate(
          HOST_IDT,
          0x41,
          script(
            'h41',
            [
              (c) => {
                log.push(`h41 at ${c.now}`);
                c.compute(10);
              },
            ],
            'iret',
          ),
        );
        startHost(
          r,
          [
            (c) => c.sti(),
            (c) => c.hlt(),
            (c) => {
              log.push(`after hlt at ${c.now}`);
              c.compute(1);
            },
          ],
          { sti: false },
        );
        r.sim.runUntil(RUN_UNTIL);
        const deliver = STI_DONE + C.eventDeliveryCycles * PS;
        expect(log).toEqual([`h41 at ${deliver}`, `after hlt at ${deliver + (10 + C.iretCycles) * PS}`]);
      });

      it('HLT with IF = 1 is woken by an interrupt at the picosecond it arrives; execution continues after the handler’s IRET', () => {
        const r = makeRig(factory);
        const log: number[] = [];
        r.gate(HOST_IDT, 0x41, script('h41', [(c) => c.compute(10)], 'iret'));
        startHost(r, [
          (c) => c.hlt(),
          (c) => {
            log.push(c.now);
            c.compute(1);
          },
        ]);
        r.at(T_IRQ, () => r.lapic.raise(0x41));
        r.sim.runUntil(RUN_UNTIL);
        expect(log).toEqual([T_IRQ + (C.eventDeliveryCycles + 10 + C.iretCycles) * PS]);
      });

      it('compute is interrupted at the exact picosecond the interrupt arrives and resumes with its remaining cycles after IRET', () => {
        const r = makeRig(factory);
        const log: number[] = [];
        r.gate(
          HOST_IDT,
          0x41,
          script(
            'h41',
            [
              (c) => {
                log.push(c.now);
                c.compute(100);
              },
            ],
            'iret',
          ),
        );
        startHost(r, [
          (c) => c.compute(10_000),
          (c) => {
            log.push(c.now);
            c.hlt();
          },
        ]);
        const irq = STI_DONE + 3_000_500; // in the middle of a cycle
        r.at(irq, () => r.lapic.raise(0x41));
        r.sim.runUntil(RUN_UNTIL);
        expect(log).toEqual([
          irq + C.eventDeliveryCycles * PS,
          STI_DONE + (10_000 + C.eventDeliveryCycles + 100 + C.iretCycles) * PS,
        ]);
      });

      it('spin (a spin-wait such as KVM’s halt polling) is ended by the interrupt it takes: the routine steps again right after the handler’s IRET, its remaining cycles dropped', () => {
        const r = makeRig(factory);
        const log: number[] = [];
        r.gate(HOST_IDT, 0x41, script('h41', [(c) => c.compute(100)], 'iret'));
        startHost(r, [
          (c) => c.spin(10_000),
          (c) => {
            log.push(c.now);
            c.hlt();
          },
        ]);
        const irq = STI_DONE + 3_000_500; // in the middle of a cycle
        r.at(irq, () => r.lapic.raise(0x41));
        r.sim.runUntil(RUN_UNTIL);
        expect(log).toEqual([irq + (C.eventDeliveryCycles + 100 + C.iretCycles) * PS]);
      });
    });

    describe('VMX (SDM vol. 3 ch. 24–27)', () => {
      it('VMLAUNCH enters the guest at GUEST_RIP in non-root operation after the entry transition', () => {
        const r = makeRig(factory);
        const ran: { time: number; nonRoot: boolean; ifOn: boolean }[] = [];
        const exits = startHypervisor(r, {}, [
          (c) => {
            ran.push({ time: c.now, nonRoot: c.vmxNonRoot, ifOn: c.interruptsEnabled });
            c.compute(100);
          },
          (c) => c.vmcall(),
        ]);
        r.sim.runUntil(RUN_UNTIL);
        expect(ran).toEqual([{ time: ENTRY_DONE, nonRoot: true, ifOn: true }]);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.VMCALL);
        expect(e.time).toBe(ENTRY_DONE + 100 * PS + EXIT_PS);
      });

      it('VMCALL in non-root operation exits with reason 18 and instruction length 3; RAX carries the hypercall number', () => {
        const r = makeRig(factory);
        const exits = startHypervisor(r, {}, [
          (c) => {
            c.rax = 42;
            c.vmcall();
          },
        ]);
        r.sim.runUntil(RUN_UNTIL);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.VMCALL);
        expect(e.reason).toBe(18);
        expect(e.instructionLength).toBe(3);
        expect(e.rax).toBe(42);
        expect(e.time).toBe(ENTRY_DONE + EXIT_PS);
      });

      it('event injection: VM_ENTRY_INTR_INFO 0x80000041 is delivered through the guest IDT, and its valid bit is clear after the next exit', () => {
        const r = makeRig(factory);
        const seen: Seen[] = [];
        r.gate(GUEST_IDT, 0x41, recorder(seen));
        const info = interruptionInfo(0x41, INTR_TYPE.EXTERNAL_INTERRUPT, false);
        expect(info).toBe(0x80000041);
        const exits = startHypervisor(r, { fields: [[VMCS_FIELD.VM_ENTRY_INTR_INFO, info]] }, [
          (c) => c.compute(100),
          (c) => c.vmcall(),
        ]);
        r.sim.runUntil(RUN_UNTIL);
        expect(seen.map((s) => [s.vector, s.errorCode, s.ifOn])).toEqual([[0x41, -1, false]]);
        expect(seen[0]?.time).toBe(ENTRY_DONE + C.eventDeliveryCycles * PS);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.VMCALL);
        expect(e.entryIntrInfo & INTR_INFO.VALID).toBe(0);
        // The handler's IRET restored the guest's IF = 1.
        expect(e.guestRflags & RFLAGS.IF).toBe(RFLAGS.IF);
      });

      it('external-interrupt exiting with acknowledge-on-exit: exit reason 1 at the interrupt’s picosecond, information 0x80000000 | vector, the vector in service', () => {
        const r = makeRig(factory);
        const exits = startHypervisor(
          r,
          { pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING, exit: EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT },
          [(c) => c.compute(1_000_000)],
        );
        r.at(T_IRQ, () => r.lapic.raise(0x41));
        r.sim.runUntil(RUN_UNTIL);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
        expect(e.reason).toBe(1);
        expect(e.intrInfo).toBe(0x80000041);
        expect(e.time).toBe(T_IRQ + EXIT_PS);
        expect(r.lapic.isr[0x41]).toBe(1);
        expect(r.lapic.irr[0x41]).toBe(0);
      });

      it('external-interrupt exiting off, #NP in the exception bitmap, gate 0x41 not present: exit reason 0 with #NP error code 0x20B and IDT-vectoring information valid, type 0, vector 0x41', () => {
        const r = makeRig(factory);
        const never: Seen[] = [];
        r.gate(GUEST_IDT, 0x41, recorder(never), { present: false });
        const exits = startHypervisor(r, { exceptionBitmap: 1 << EXCEPTION.NP }, [
          (c) => c.compute(1_000_000),
        ]);
        r.at(T_IRQ, () => r.lapic.raise(0x41));
        r.sim.runUntil(RUN_UNTIL);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.EXCEPTION_OR_NMI);
        expect(e.reason).toBe(0);
        // valid | error code valid | type 3 (hardware exception) | vector 11
        expect(e.intrInfo).toBe(interruptionInfo(EXCEPTION.NP, INTR_TYPE.HARDWARE_EXCEPTION, true));
        expect(e.intrInfo).toBe(0x80000b0b);
        expect(e.intrError).toBe(0x20b);
        // valid | type 0 (external interrupt) | vector 0x41
        expect(e.vectoringInfo).toBe(0x80000041);
        expect(never).toEqual([]);
        expect(r.lapic.isr[0x41]).toBe(1);
      });

      it('interrupt-window exiting with guest IF = 0: exit reason 7 at the first operation boundary after STI’s shadow', () => {
        const r = makeRig(factory);
        const log: number[] = [];
        const exits = startHypervisor(
          r,
          { proc: PROC_BASED.INTERRUPT_WINDOW_EXITING, rflags: RFLAGS.FIXED1 },
          [
            (c) => c.compute(1000),
            (c) => c.sti(),
            (c) => {
              log.push(c.now);
              c.compute(5000);
            },
          ],
        );
        r.sim.runUntil(RUN_UNTIL);
        // The operation after STI begins (ending the shadow); the exit is taken at that boundary.
        const boundary = ENTRY_DONE + (1000 + C.cliStiCycles) * PS;
        expect(log).toEqual([boundary]);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
        expect(e.time).toBe(boundary + EXIT_PS);
        expect(e.guestRflags & RFLAGS.IF).toBe(RFLAGS.IF);
        expect(e.guestInterruptibility & INTERRUPTIBILITY.BLOCKING_BY_STI).toBe(0);
      });

      it('WRMSR whose write bit is set in the MSR bitmap exits with reason 32 and RCX = the MSR; the LAPIC sees nothing', () => {
        const r = makeRig(factory);
        r.lapic.enterX2apicMode();
        r.lapic.isr[0x41] = 1;
        const bitmap = new Uint8Array(MSR_BITMAP.SIZE);
        setMsrIntercept(bitmap, MSR.X2APIC_EOI, true, true);
        r.memory.writeBytes(MSR_BITMAP_ADDRESS, bitmap);
        const exits = startHypervisor(r, { proc: PROC_BASED.USE_MSR_BITMAPS }, [
          (c) => c.wrmsr(MSR.X2APIC_EOI, 0, 0),
        ]);
        r.sim.runUntil(RUN_UNTIL);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.WRMSR);
        expect(e.rcx).toBe(MSR.X2APIC_EOI);
        expect(e.time).toBe(ENTRY_DONE + EXIT_PS);
        expect(r.lapic.eoiCount).toBe(0);
        expect(r.lapic.isr[0x41]).toBe(1);
      });

      it('WRMSR whose bitmap bit is clear does not exit and reaches the LAPIC (exitless x2APIC EOI)', () => {
        const r = makeRig(factory);
        r.lapic.enterX2apicMode();
        r.lapic.isr[0x41] = 1;
        const exits = startHypervisor(r, { proc: PROC_BASED.USE_MSR_BITMAPS }, [
          (c) => c.wrmsr(MSR.X2APIC_EOI, 0, 0),
          (c) => c.vmcall(),
        ]);
        r.sim.runUntil(RUN_UNTIL);
        expect(r.lapic.eoiCount).toBe(1);
        expect(r.lapic.isr[0x41]).toBe(0);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.VMCALL);
        expect(e.time).toBe(ENTRY_DONE + C.wrmsrCycles * PS + EXIT_PS);
      });

      it('HLT exiting: HLT exits with reason 12 and instruction length 1', () => {
        const r = makeRig(factory);
        const exits = startHypervisor(r, { proc: PROC_BASED.HLT_EXITING }, [(c) => c.compute(10)]);
        r.sim.runUntil(RUN_UNTIL);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.HLT);
        expect(e.instructionLength).toBe(1);
        expect(e.time).toBe(ENTRY_DONE + 10 * PS + EXIT_PS);
      });

      it('descriptor-table exiting: LIDT exits with reason 46, the operand address as qualification, identity 3 in the instruction information, and leaves the guest IDTR alone', () => {
        const r = makeRig(factory);
        const exits = startHypervisor(
          r,
          { proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, proc2: PROC_BASED2.DESCRIPTOR_TABLE_EXITING },
          [(c) => c.lidt(LIDT_OPERAND)],
        );
        r.memory.write16(LIDT_OPERAND, 0x7ff);
        r.memory.write32(LIDT_OPERAND + 2, 0x44000);
        r.sim.runUntil(RUN_UNTIL);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.GDTR_IDTR_ACCESS);
        expect(e.qualification).toBe(LIDT_OPERAND);
        // Table 27-10: 64-bit address size, segment DS (3) in bits 17:15, index and base
        // invalid (an absolute operand), identity in bits 29:28.
        expect(e.instructionInfo).toBe(
          (INSTRUCTION_INFO.ADDRESS_SIZE_64 |
            (SEGMENT_DS << 15) |
            INSTRUCTION_INFO.INDEX_INVALID |
            INSTRUCTION_INFO.BASE_INVALID |
            (DESCRIPTOR_TABLE_INSTRUCTION.LIDT << INSTRUCTION_INFO.IDENTITY_SHIFT)) >>>
            0,
        );
        expect(e.guestIdtrBase).toBe(GUEST_IDT);
        expect(e.time).toBe(ENTRY_DONE + EXIT_PS);
      });

      it('the VMX-preemption timer exits with reason 52 after value << IA32_VMX_MISC[4:0] cycles of the guest', () => {
        const r = makeRig(factory);
        const exits = startHypervisor(
          r,
          {
            pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER,
            fields: [[VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE, 100]],
          },
          [(c) => c.compute(10_000_000)],
        );
        r.sim.runUntil(RUN_UNTIL);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
        expect(e.time).toBe(ENTRY_DONE + (100 << CONFORMANCE_PREEMPTION_RATE) * PS + EXIT_PS);
      });

      it.each([
        [
          '"save VMX-preemption timer value" without "activate VMX-preemption timer"',
          { exit: EXIT_CONTROLS.SAVE_PREEMPTION_TIMER },
        ],
        ['"virtual NMIs" without "NMI exiting"', { pin: PIN_BASED.VIRTUAL_NMIS }],
        ['"virtual-interrupt delivery" without "external-interrupt exiting"', { ...apicvSetup(0), pin: 0 }],
        [
          '"virtual-interrupt delivery" without "use TPR shadow"',
          { ...apicvSetup(0), proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS | PROC_BASED.USE_MSR_BITMAPS },
        ],
        [
          '"virtualize x2APIC mode" with "virtualize APIC accesses"',
          apicvSetup(0, { proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES }),
        ],
        [
          'a virtual-APIC address that is not 4 KiB aligned',
          apicvSetup(0, { fields: [[VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR, VIRTUAL_APIC_PAGE + 0x80]] }),
        ],
        [
          '"use TPR shadow" without virtual-interrupt delivery and TPR-threshold bits 31:4 set',
          {
            proc: PROC_BASED.USE_TPR_SHADOW,
            fields: [
              [VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR, VIRTUAL_APIC_PAGE],
              [VMCS_FIELD.TPR_THRESHOLD, 0x10],
            ],
          },
        ],
        [
          '"process posted interrupts" without "virtual-interrupt delivery"',
          {
            pin: PIN_BASED.EXTERNAL_INTERRUPT_EXITING | PIN_BASED.PROCESS_POSTED_INTERRUPTS,
            exit: EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT,
            fields: [[VMCS_FIELD.POSTED_INTR_DESC_ADDR, PI_DESCRIPTOR]],
          },
        ],
        [
          '"process posted interrupts" without "acknowledge interrupt on exit"',
          { ...postedSetup(0), exit: 0 },
        ],
        [
          'a posted-interrupt notification vector above 255 (bits 15:8 set)',
          {
            ...postedSetup(0),
            fields: [...(postedSetup(0).fields ?? []), [VMCS_FIELD.POSTED_INTR_NOTIFICATION_VECTOR, 0x1f2]],
          },
        ],
        [
          'a posted-interrupt descriptor address that is not 64-byte aligned',
          {
            ...postedSetup(0),
            fields: [
              ...(postedSetup(0).fields ?? []),
              [VMCS_FIELD.POSTED_INTR_DESC_ADDR, PI_DESCRIPTOR + 0x20],
            ],
          },
        ],
      ] as const)(
        'VM entry with invalid controls (%s) fails with VMfailValid, VM-instruction error 7, and the guest never runs',
        (_name, setup) => {
          const r = makeRig(factory);
          const ran: number[] = [];
          const exits = startHypervisor(r, setup, [
            (c) => {
              ran.push(c.now);
              c.vmcall();
            },
          ]);
          r.sim.runUntil(RUN_UNTIL);
          expect(exits).toHaveLength(1);
          const e = exits[0];
          expect(e?.vmxStatus).toBe(VMX_STATUS.FAIL_VALID);
          expect(e?.instructionError).toBe(VM_INSTRUCTION_ERROR.ENTRY_INVALID_CONTROL_FIELDS);
          expect(e?.instructionError).toBe(7);
          expect(e?.nonRoot).toBe(false);
          expect(ran).toEqual([]);
        },
      );
    });

    describe('APIC virtualization and posted interrupts (SDM vol. 3 ch. 29)', () => {
      it('virtual-interrupt delivery at VM entry: RVI 0x51 > VPPR is delivered through the guest IDT with no exit; VIRR, VISR, SVI, RVI and VPPR are updated', () => {
        const r = makeRig(factory);
        const seen: Seen[] = [];
        r.gate(GUEST_IDT, 0x51, recorder(seen));
        setVirtualBit(r, VIRR, 0x51);
        setVirtualBit(r, VIRR, 0x32);
        const exits = startHypervisor(r, apicvSetup(0x0051), [(c) => c.compute(100), (c) => c.vmcall()]);
        r.sim.runUntil(RUN_UNTIL);
        expect(seen.map((s) => [s.vector, s.errorCode, s.ifOn])).toEqual([[0x51, -1, false]]);
        expect(seen[0]?.time).toBe(ENTRY_DONE + C.eventDeliveryCycles * PS);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.VMCALL);
        expect(e.time).toBe(ENTRY_DONE + (C.eventDeliveryCycles + 1 + C.iretCycles + 100) * PS + EXIT_PS);
        // SVI = 0x51 (bits 15:8), RVI = the next VIRR bit, 0x32 (class 3, not above VPPR's 5).
        expect(e.guestInterruptStatus).toBe(0x5132);
        expect([virtualBit(r, VISR, 0x51), virtualBit(r, VIRR, 0x51), virtualBit(r, VIRR, 0x32)]).toEqual([
          1, 0, 1,
        ]);
        expect(r.memory.read32(VIRTUAL_APIC_PAGE + APIC_REG.PPR)).toBe(0x50);
        expect(r.lapic.acknowledgeCount).toBe(0);
      });

      it('a recognized virtual interrupt is held while IF = 0 and delivered at the first operation boundary after STI’s shadow', () => {
        const r = makeRig(factory);
        const seen: Seen[] = [];
        const log: number[] = [];
        r.gate(GUEST_IDT, 0x51, recorder(seen));
        setVirtualBit(r, VIRR, 0x51);
        const exits = startHypervisor(r, { ...apicvSetup(0x0051), rflags: RFLAGS.FIXED1 }, [
          (c) => c.compute(1000),
          (c) => c.sti(),
          (c) => {
            log.push(c.now);
            c.compute(10);
          },
          (c) => c.vmcall(),
        ]);
        r.sim.runUntil(RUN_UNTIL);
        const boundary = ENTRY_DONE + (1000 + C.cliStiCycles) * PS;
        expect(log).toEqual([boundary]);
        expect(seen.map((s) => [s.vector, s.time])).toEqual([[0x51, boundary + C.eventDeliveryCycles * PS]]);
        expect(onlyExit(exits).reason).toBe(EXIT_REASON.VMCALL);
      });

      it('EOI virtualization: WRMSR 80BH clears VISR[SVI], and with its EOI-exit bit clear the next virtual interrupt (0x32) is delivered with no exit and nothing reaches the LAPIC', () => {
        const r = makeRig(factory);
        const seen: Seen[] = [];
        r.gate(GUEST_IDT, 0x32, recorder(seen));
        setVirtualBit(r, VISR, 0x51);
        setVirtualBit(r, VIRR, 0x32);
        const exits = startHypervisor(r, apicvSetup(0x5132), [
          (c) => c.wrmsr(MSR.X2APIC_EOI, 0, 0),
          (c) => c.vmcall(),
        ]);
        r.sim.runUntil(RUN_UNTIL);
        expect(seen.map((s) => [s.vector, s.time])).toEqual([
          [0x32, ENTRY_DONE + C.eventDeliveryCycles * PS],
        ]);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.VMCALL);
        expect(e.guestInterruptStatus).toBe(0x3200);
        expect([virtualBit(r, VISR, 0x51), virtualBit(r, VISR, 0x32), virtualBit(r, VIRR, 0x32)]).toEqual([
          0, 1, 0,
        ]);
        expect(r.lapic.eoiCount).toBe(0);
      });

      it('EOI virtualization with EOI_EXIT_BITMAP[0x51] set: a trap-like exit 45 with the vector as qualification; VMRESUME continues after the WRMSR', () => {
        const r = makeRig(factory);
        const after: number[] = [];
        setVirtualBit(r, VISR, 0x51);
        setVirtualBit(r, VISR, 0x20);
        // Vector 0x51 is bit 17 of EOI_EXIT_BITMAP1 (vectors 64–127), in its low 32 bits.
        const exits = startHypervisor(
          r,
          apicvSetup(0x5100, { fields: [[VMCS_FIELD.EOI_EXIT_BITMAP1, 1 << (0x51 - 64)]] }),
          [
            (c) => c.wrmsr(MSR.X2APIC_EOI, 0, 0),
            (c) => {
              after.push(c.now);
              c.vmcall();
            },
          ],
          { resumes: 1 },
        );
        r.sim.runUntil(RUN_UNTIL);
        expect(exits.map((e) => [e.reason, e.qualification])).toEqual([
          [EXIT_REASON.VIRTUALIZED_EOI, 0x51],
          [EXIT_REASON.VMCALL, 0],
        ]);
        expect(EXIT_REASON.VIRTUALIZED_EOI).toBe(45);
        expect(exits[0]?.time).toBe(ENTRY_DONE + EXIT_PS);
        // The EOI was virtualized before the exit: SVI = the next VISR bit, 0x20; VPPR = 0x20.
        expect(exits[0]?.guestInterruptStatus).toBe(0x2000);
        expect([virtualBit(r, VISR, 0x51), virtualBit(r, VISR, 0x20)]).toEqual([0, 1]);
        expect(r.memory.read32(VIRTUAL_APIC_PAGE + APIC_REG.PPR)).toBe(0x20);
        expect(after).toEqual([ENTRY_DONE + EXIT_PS + ENTRY_DONE]);
        expect(r.lapic.eoiCount).toBe(0);
      });

      it('a WRMSR of a non-zero value to the virtualized EOI raises #GP(0) in the guest and changes nothing', () => {
        const r = makeRig(factory);
        const gp: Seen[] = [];
        r.gate(GUEST_IDT, EXCEPTION.GP, recorder(gp));
        setVirtualBit(r, VISR, 0x51);
        const exits = startHypervisor(r, apicvSetup(0x5100), [
          (c) => c.wrmsr(MSR.X2APIC_EOI, 1, 0),
          (c) => c.vmcall(),
        ]);
        r.sim.runUntil(RUN_UNTIL);
        expect(gp.map((s) => [s.vector, s.errorCode])).toEqual([[EXCEPTION.GP, 0]]);
        expect(virtualBit(r, VISR, 0x51)).toBe(1);
        expect(onlyExit(exits).guestInterruptStatus).toBe(0x5100);
      });

      it('posted-interrupt processing: the notification vector in non-root operation is acknowledged and EOI’d at the LAPIC, ON cleared, PIR moved into VIRR, and 0x63 delivered with no exit', () => {
        const r = makeRig(factory);
        const seen: Seen[] = [];
        r.gate(GUEST_IDT, 0x63, recorder(seen, [(c) => c.vmcall()]));
        writeDescriptor(r, [0x63, 0x45], true);
        const exits = startHypervisor(r, postedSetup(0), [(c) => c.compute(1_000_000)]);
        r.at(T_IRQ, () => r.lapic.raise(NOTIFICATION_VECTOR));
        r.sim.runUntil(RUN_UNTIL);
        // Processing (one event delivery's time), then the virtual interrupt's delivery.
        expect(seen.map((s) => [s.vector, s.time])).toEqual([[0x63, T_IRQ + 2 * C.eventDeliveryCycles * PS]]);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.VMCALL);
        expect(descriptorOn(r)).toBe(false);
        expect(pir(r)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
        expect([virtualBit(r, VISR, 0x63), virtualBit(r, VIRR, 0x63), virtualBit(r, VIRR, 0x45)]).toEqual([
          1, 0, 1,
        ]);
        expect(e.guestInterruptStatus).toBe(0x6345);
        expect(r.lapic.acknowledgeCount).toBe(1);
        expect(r.lapic.eoiCount).toBe(1);
        expect(r.lapic.isr[NOTIFICATION_VECTOR]).toBe(0);
      });

      it('with "process posted interrupts", any other vector still exits with reason 1 and the vector in the interruption information; the descriptor is untouched', () => {
        const r = makeRig(factory);
        writeDescriptor(r, [0x63], true);
        const exits = startHypervisor(r, postedSetup(0), [(c) => c.compute(1_000_000)]);
        r.at(T_IRQ, () => r.lapic.raise(0x41));
        r.sim.runUntil(RUN_UNTIL);
        const e = onlyExit(exits);
        expect(e.reason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
        expect(e.intrInfo).toBe(0x80000041);
        expect(e.time).toBe(T_IRQ + EXIT_PS);
        expect(r.lapic.isr[0x41]).toBe(1);
        expect(r.lapic.eoiCount).toBe(0);
        expect(descriptorOn(r)).toBe(true);
        expect(pir(r)[3]).toBe(1 << 3);
      });

      it('the notification vector in VMX root operation is an ordinary interrupt for the host IDT: PIR and ON stay as they are', () => {
        const r = makeRig(factory);
        const host: Seen[] = [];
        r.gate(HOST_IDT, NOTIFICATION_VECTOR, recorder(host));
        writeDescriptor(r, [0x63], true);
        const exits = startHypervisor(r, postedSetup(0), [(c) => c.vmcall()], {
          afterExit: [(c) => c.lidt(IDTR_AT), (c) => c.sti(), (c) => c.compute(1_000_000)],
        });
        r.memory.write16(IDTR_AT, 0xfff);
        r.memory.write32(IDTR_AT + 2, HOST_IDT);
        r.memory.write32(IDTR_AT + 6, 0);
        r.at(T_IRQ, () => r.lapic.raise(NOTIFICATION_VECTOR));
        r.sim.runUntil(RUN_UNTIL);
        expect(onlyExit(exits).reason).toBe(EXIT_REASON.VMCALL);
        expect(host.map((s) => [s.vector, s.time])).toEqual([
          [NOTIFICATION_VECTOR, T_IRQ + C.eventDeliveryCycles * PS],
        ]);
        expect(r.lapic.isr[NOTIFICATION_VECTOR]).toBe(1);
        expect(descriptorOn(r)).toBe(true);
        expect(pir(r)[3]).toBe(1 << 3);
        expect(virtualBit(r, VIRR, 0x63)).toBe(0);
      });
    });
  });
}
