import { SimEvent, Simulator, Stats } from '@exitless/sim';
import type { CpuContext, Frame, Routine } from '@exitless/x86';
import {
  CodeSpace,
  ENTRY_CONTROLS,
  EXIT_CONTROLS,
  encodeIdtGate,
  GATE_TYPE,
  interruptGate,
  PhysicalBus,
  SparseMemory,
  VMCS_FIELD,
} from '@exitless/x86';
import type { CpuCosts } from '../src/index.js';
import { Cpu, VMX_DEFAULT1 } from '../src/index.js';
import { LapicDouble } from './lapic-double.js';

/** 1 GHz: one cycle is exactly 1,000 ps, so expected times are easy to read. */
export const HZ = 1_000_000_000;
export const PS_PER_CYCLE = 1000;

export const COSTS: CpuCosts = {
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

/** When the guest's first operation begins after a VM entry (vmEntryCycles), ps. */
export const ENTRY_DONE: number = COSTS.vmEntryCycles * PS_PER_CYCLE;
/** A VM exit (vmExitCycles), ps. */
export const EXIT_PS: number = COSTS.vmExitCycles * PS_PER_CYCLE;
/** An event's delivery through the IDT (eventDeliveryCycles), ps. */
export const DELIVERY_PS: number = COSTS.eventDeliveryCycles * PS_PER_CYCLE;
/** The virtual-APIC page the APIC-virtualization tests use. */
export const VAPIC = 0x9000;

export const HOST_ENTRY = 0x100000;
export const GUEST_ENTRY = 0x200000;
export const HOST_IDT = 0x1000;
export const GUEST_IDT = 0x3000;
export const VMCS_ADDRESS = 0x5000;
export const MSR_BITMAP_ADDRESS = 0x6000;
export const APIC_ACCESS_PAGE = 0x7000;
/** Handler code lives at HANDLER_BASE + vector × 0x100. */
export const HANDLER_BASE = 0x300000;

export type Op = (cpu: CpuContext, frame: Frame) => void;

/** A routine that issues `ops` in order, then ends with `end` (HLT forever, RET or IRET). */
export function script(name: string, ops: readonly Op[], end: 'hlt' | 'ret' | 'iret' = 'hlt'): Routine {
  return {
    name,
    step(cpu, frame) {
      const op = ops[frame.pc];
      if (op !== undefined) {
        frame.pc++;
        op(cpu, frame);
        return;
      }
      if (end === 'ret') cpu.ret();
      else if (end === 'iret') cpu.iret();
      else cpu.hlt();
    },
  };
}

export interface Machine {
  readonly sim: Simulator;
  readonly stats: Stats;
  readonly memory: SparseMemory;
  readonly bus: PhysicalBus;
  readonly code: CodeSpace;
  readonly lapic: LapicDouble;
  readonly cpu: Cpu;
}

export function machine(
  options: { costs?: Partial<CpuCosts>; preemptionRate?: number; apicVirtualization?: boolean } = {},
): Machine {
  const sim = new Simulator();
  const stats = new Stats(sim);
  const memory = new SparseMemory(16 * 1024 * 1024);
  const bus = new PhysicalBus(memory);
  const code = new CodeSpace();
  const lapic = new LapicDouble();
  const cpu = new Cpu({
    id: 0,
    sim,
    hz: HZ,
    bus,
    code,
    lapic,
    costs: { ...COSTS, ...options.costs },
    vmxMiscPreemptionRate: options.preemptionRate ?? 5,
    ...(options.apicVirtualization !== undefined ? { apicVirtualization: options.apicVirtualization } : {}),
    stats,
  });
  return { sim, stats, memory, bus, code, lapic, cpu };
}

/** Runs `fn` at absolute time `time` (ps) from a simulator event. */
export function at(sim: Simulator, time: number, fn: () => void): void {
  sim.schedule(new SimEvent(`test@${time}`, fn), time);
}

/** Writes the 16-byte gate for `vector` in the IDT at `idtBase`. */
export function writeGate(
  m: Machine,
  idtBase: number,
  vector: number,
  target: number,
  options: { present?: boolean; type?: number } = {},
): void {
  const bytes = new Uint8Array(16);
  encodeIdtGate(
    interruptGate(target, { present: options.present ?? true, type: options.type ?? GATE_TYPE.INTERRUPT }),
    bytes,
  );
  m.memory.writeBytes(idtBase + vector * 16, bytes);
}

/** Registers `routine` as the handler of `vector` at HANDLER_BASE + vector × 0x100 and writes its gate. */
export function handler(
  m: Machine,
  idtBase: number,
  vector: number,
  routine: Routine,
  options: { present?: boolean; type?: number } = {},
): number {
  const address = HANDLER_BASE + vector * 0x100 + (idtBase === GUEST_IDT ? 0x80000 : 0);
  m.code.register(address, routine);
  writeGate(m, idtBase, vector, address, options);
  return address;
}

/** A 10-byte IDTR pseudo-descriptor at `address`. */
export function writeIdtr(m: Machine, address: number, limit: number, base: number): void {
  m.memory.write16(address, limit);
  m.memory.write32(address + 2, base);
  m.memory.write32(address + 6, 0);
}

export interface VmcsSetup {
  pin?: number;
  proc?: number;
  proc2?: number;
  exit?: number;
  entry?: number;
  rflags?: number;
  exceptionBitmap?: number;
  guestIdtLimit?: number;
  fields?: Readonly<Record<number, number>>;
}

/** VMCLEAR + VMPTRLD a VMCS and fill it with default1 controls plus `s`. */
export function setupVmcs(m: Machine, s: VmcsSetup = {}): void {
  const cpu = m.cpu;
  cpu.vmclear(VMCS_ADDRESS);
  cpu.vmptrld(VMCS_ADDRESS);
  const w = (f: number, v: number): void => cpu.vmwrite(f, v);
  w(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, VMX_DEFAULT1.PIN_BASED | (s.pin ?? 0));
  w(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, (VMX_DEFAULT1.PROC_BASED | (s.proc ?? 0)) >>> 0);
  w(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, s.proc2 ?? 0);
  w(VMCS_FIELD.VM_EXIT_CONTROLS, VMX_DEFAULT1.EXIT | EXIT_CONTROLS.HOST_ADDRESS_SPACE_SIZE | (s.exit ?? 0));
  w(VMCS_FIELD.VM_ENTRY_CONTROLS, VMX_DEFAULT1.ENTRY | ENTRY_CONTROLS.IA32E_MODE_GUEST | (s.entry ?? 0));
  w(VMCS_FIELD.EXCEPTION_BITMAP, s.exceptionBitmap ?? 0);
  w(VMCS_FIELD.GUEST_RFLAGS, s.rflags ?? 0x202);
  w(VMCS_FIELD.GUEST_RIP, GUEST_ENTRY);
  w(VMCS_FIELD.GUEST_IDTR_BASE, GUEST_IDT);
  w(VMCS_FIELD.GUEST_IDTR_LIMIT, s.guestIdtLimit ?? 0xfff);
  w(VMCS_FIELD.HOST_IDTR_BASE, HOST_IDT);
  w(VMCS_FIELD.MSR_BITMAP, MSR_BITMAP_ADDRESS);
  w(VMCS_FIELD.APIC_ACCESS_ADDR, APIC_ACCESS_PAGE);
  for (const [f, v] of Object.entries(s.fields ?? {})) w(Number(f), v);
}

export interface ExitRecord {
  readonly time: number;
  readonly reason: number;
  readonly qualification: number;
  readonly intrInfo: number;
  readonly intrError: number;
  readonly vectoringInfo: number;
  readonly vectoringError: number;
  readonly instructionLength: number;
  readonly instructionInfo: number;
  readonly guestPhysicalAddress: number;
  readonly vmxStatus: number;
}

/**
 * Registers a host entry routine at HOST_ENTRY that VMLAUNCHes the current VMCS, records
 * each exit (or VMfail) and calls `onExit`; it VMRESUMEs while `onExit` returns true, else
 * halts with IF = 0.
 */
export function hypervisor(
  m: Machine,
  onExit: (exit: ExitRecord, cpu: Cpu) => boolean = () => false,
): ExitRecord[] {
  const exits: ExitRecord[] = [];
  const cpu = m.cpu;
  m.code.register(HOST_ENTRY, {
    name: 'hypervisor',
    step(c, frame) {
      if (frame.pc === 0) {
        frame.pc = 1;
        c.vmlaunch();
        return;
      }
      if (frame.pc === 1) {
        const status = c.vmxStatus;
        const r: ExitRecord = {
          time: c.now,
          reason: cpu.vmread(VMCS_FIELD.VM_EXIT_REASON),
          qualification: cpu.vmread(VMCS_FIELD.EXIT_QUALIFICATION),
          intrInfo: cpu.vmread(VMCS_FIELD.VM_EXIT_INTR_INFO),
          intrError: cpu.vmread(VMCS_FIELD.VM_EXIT_INTR_ERROR_CODE),
          vectoringInfo: cpu.vmread(VMCS_FIELD.IDT_VECTORING_INFO),
          vectoringError: cpu.vmread(VMCS_FIELD.IDT_VECTORING_ERROR_CODE),
          instructionLength: cpu.vmread(VMCS_FIELD.VM_EXIT_INSTRUCTION_LEN),
          instructionInfo: cpu.vmread(VMCS_FIELD.VMX_INSTRUCTION_INFO),
          guestPhysicalAddress: cpu.vmread(VMCS_FIELD.GUEST_PHYSICAL_ADDRESS),
          vmxStatus: status,
        };
        exits.push(r);
        if (status === 0 && onExit(r, cpu)) {
          c.vmresume();
          return;
        }
        frame.pc = 2;
      }
      c.hlt();
    },
  });
  return exits;
}

/** Sum of the CPU's time counters (ps), after flushing them. */
export function accountedTime(m: Machine): number {
  m.cpu.flushAccounting();
  const snap = m.stats.snapshot().counters;
  let sum = 0;
  for (const [name, value] of Object.entries(snap)) if (name.startsWith('cpu0.time.')) sum += value;
  return sum;
}
