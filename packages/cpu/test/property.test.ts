import type { CpuContext, GuestPhysicalMap, Routine } from '@exitless/x86';
import {
  EXIT_CONTROLS,
  EXIT_REASON,
  GATE_TYPE,
  PIN_BASED,
  PROC_BASED,
  PROC_BASED2,
  VMCS_FIELD,
} from '@exitless/x86';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VMX_DEFAULT1 } from '../src/index.js';
import {
  APIC_ACCESS_PAGE,
  accountedTime,
  at,
  GUEST_ENTRY,
  GUEST_IDT,
  HOST_ENTRY,
  HOST_IDT,
  handler,
  hypervisor,
  machine,
  setupVmcs,
  writeIdtr,
} from './harness.js';

type Op =
  | { k: 'compute'; n: number }
  | { k: 'cli' | 'sti' | 'pause' | 'hlt' | 'lidt' | 'sidt' | 'vmcall' | 'call' }
  | { k: 'rdmsr' | 'wrmsr'; i: number }
  | { k: 'mmioRead' | 'mmioWrite'; a: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ k: fc.constant('compute' as const), n: fc.integer({ min: 1, max: 5000 }) }),
  },
  fc.record({ k: fc.constantFrom('cli' as const, 'sti' as const, 'pause' as const, 'hlt' as const) }),
  fc.record({ k: fc.constantFrom('lidt' as const, 'sidt' as const, 'vmcall' as const, 'call' as const) }),
  fc.record({
    k: fc.constantFrom('rdmsr' as const, 'wrmsr' as const),
    i: fc.constantFrom(0x10, 0x1b, 0x808, 0x80b, 0x1234, 0x485),
  }),
  fc.record({
    k: fc.constantFrom('mmioRead' as const, 'mmioWrite' as const),
    a: fc.constantFrom(APIC_ACCESS_PAGE + 0xb0, 0x9004, 0xfee000b0, 0x10000),
  }),
);

const IDTR_HOST = 0x800;
const IDTR_GUEST = 0x880;
const SUB = 0x400000;

function issue(c: CpuContext, op: Op): void {
  switch (op.k) {
    case 'compute':
      c.compute(op.n);
      return;
    case 'cli':
      c.cli();
      return;
    case 'sti':
      c.sti();
      return;
    case 'pause':
      c.pause();
      return;
    case 'hlt':
      c.hlt();
      return;
    case 'lidt':
      c.lidt(c.vmxNonRoot ? IDTR_GUEST : IDTR_HOST);
      return;
    case 'sidt':
      c.sidt(0xa00);
      return;
    case 'vmcall':
      c.vmcall();
      return;
    case 'call':
      c.call(SUB);
      return;
    case 'rdmsr':
      c.rdmsr(op.i);
      return;
    case 'wrmsr':
      c.wrmsr(op.i, 0, 0);
      return;
    case 'mmioRead':
      c.mmioRead(op.a, 4);
      return;
    case 'mmioWrite':
      c.mmioWrite(op.a, 4, 0);
      return;
  }
}

/** Runs `ops` in a loop forever. */
function looping(name: string, ops: readonly Op[]): Routine {
  return {
    name,
    step(c, f) {
      const op = ops[f.pc % ops.length]!;
      f.pc++;
      issue(c, op);
    },
  };
}

/** Runs `ops` once, then IRETs. */
function handlerRoutine(ops: readonly Op[]): Routine {
  return {
    name: 'handler',
    step(c, f) {
      const op = ops[f.pc];
      f.pc++;
      if (op === undefined) c.iret();
      else issue(c, op);
    },
  };
}

const eventArb = fc.record({
  time: fc.integer({ min: 0, max: 1_900_000_000 }),
  what: fc.oneof(fc.integer({ min: 0x20, max: 0xff }), fc.constant(-1), fc.constant(-2)),
});

const scenarioArb = fc.record({
  vmx: fc.boolean(),
  x2apic: fc.boolean(),
  hostOps: fc.array(opArb, { minLength: 1, maxLength: 12 }),
  guestOps: fc.array(opArb, { minLength: 1, maxLength: 12 }),
  handlerOps: fc.array(
    opArb.filter((o) => o.k !== 'hlt'),
    { maxLength: 4 },
  ),
  absentVectors: fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }),
  events: fc.array(eventArb, { maxLength: 30 }),
  pin: fc.subarray([
    PIN_BASED.EXTERNAL_INTERRUPT_EXITING,
    PIN_BASED.NMI_EXITING,
    PIN_BASED.ACTIVATE_PREEMPTION_TIMER,
  ]),
  proc: fc.subarray([
    PROC_BASED.INTERRUPT_WINDOW_EXITING,
    PROC_BASED.HLT_EXITING,
    PROC_BASED.USE_MSR_BITMAPS,
    PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
  ]),
  proc2: fc.subarray([
    PROC_BASED2.VIRTUALIZE_APIC_ACCESSES,
    PROC_BASED2.ENABLE_EPT,
    PROC_BASED2.DESCRIPTOR_TABLE_EXITING,
  ]),
  ack: fc.boolean(),
  exceptionBitmap: fc.integer({ min: 0, max: 0xffffffff }),
  timer: fc.integer({ min: 0, max: 100_000 }),
  indirect: fc.integer({ min: 0, max: 5000 }),
});

const END = 2_000_000_000;
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a | b, 0);

describe('property: any stream of operations and interrupts', () => {
  it('never throws, and the time categories sum to the elapsed time', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const m = machine({ costs: { exitIndirectCycles: s.indirect } });
        if (s.x2apic) m.lapic.enterX2apicMode();
        writeIdtr(m, IDTR_HOST, 0xfff, HOST_IDT);
        writeIdtr(m, IDTR_GUEST, 0xfff, GUEST_IDT);
        m.code.register(SUB, { name: 'sub', step: (c, f) => (f.pc++ === 0 ? c.compute(10) : c.ret()) });
        for (let v = 0; v < 256; v++) {
          const present = !s.absentVectors.includes(v);
          const type = v % 7 === 0 ? GATE_TYPE.TRAP : GATE_TYPE.INTERRUPT;
          handler(m, HOST_IDT, v, handlerRoutine(s.handlerOps), { present, type });
          handler(m, GUEST_IDT, v, handlerRoutine(s.handlerOps), { present, type });
        }
        const map: GuestPhysicalMap = { translate: (gpa) => (gpa >= 0x9000 && gpa < 0xa000 ? -1 : gpa) };
        if (s.vmx) {
          const pin = sum(s.pin);
          setupVmcs(m, {
            pin,
            proc: sum(s.proc),
            proc2: sum(s.proc2),
            exit:
              (s.ack ? EXIT_CONTROLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT : 0) |
              (pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER ? EXIT_CONTROLS.SAVE_PREEMPTION_TIMER : 0),
            exceptionBitmap: s.exceptionBitmap,
            fields: { [VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE]: s.timer },
          });
          m.cpu.setGuestPhysicalMap(map);
          m.code.register(GUEST_ENTRY, looping('guest', s.guestOps));
          hypervisor(m, (e, cpu) => {
            // What a hypervisor must do to make progress: open the window it asked for,
            // re-arm the timer, EOI what it acknowledged.
            if (e.reason === EXIT_REASON.INTERRUPT_WINDOW) {
              cpu.vmwrite(
                VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL,
                (VMX_DEFAULT1.PROC_BASED | sum(s.proc)) & ~PROC_BASED.INTERRUPT_WINDOW_EXITING,
              );
            }
            if (e.reason === EXIT_REASON.PREEMPTION_TIMER) {
              cpu.vmwrite(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE, s.timer + 1);
            }
            if (e.reason === EXIT_REASON.EXTERNAL_INTERRUPT && e.intrInfo !== 0) m.lapic.eoi();
            return true;
          });
        } else {
          m.code.register(HOST_ENTRY, looping('host', [{ k: 'lidt' }, ...s.hostOps]));
        }
        m.cpu.start(HOST_ENTRY);
        for (const e of s.events) {
          at(m.sim, e.time, () => {
            if (e.what === -1) m.lapic.raiseNmi();
            else if (e.what === -2) m.lapic.eoi();
            else m.lapic.raise(e.what);
          });
        }
        m.sim.runUntil(END);
        expect(accountedTime(m)).toBe(END);
      }),
      { numRuns: 150 },
    );
  });
});
