/**
 * KVM's halt polling (kvm_vcpu_block, Linux 4.0+; the Linux 5.4 parameters and algorithm): the
 * window's arithmetic (grow_halt_poll_ns, shrink_halt_poll_ns, the tail of kvm_vcpu_block), and
 * the host loop's poll driven op by op through a scripted CPU: what it does when the vCPU's
 * interrupt comes inside the window, after it, and when an IRQ thread becomes runnable.
 */

import type { CpuContext, Frame, Routine } from '@exitless/x86';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { LOOP } from '../src/host-loop.js';
import {
  AFTER_EXIT,
  adjustHaltPollNs,
  EXIT_NOT_HANDLED,
  growHaltPollNs,
  type HaltPollOptions,
  HOST_VECTOR,
  HypervisorConfigError,
  type InterruptVirtualization,
  shrinkHaltPollNs,
  type VcpuControl,
} from '../src/index.js';
import { POWER_OF_TWO_COSTS as COSTS, oneVcpuHost } from './fixtures.js';

/** Linux 5.4's defaults on x86 (halt_poll_ns, _grow, _grow_start, _shrink), and a 300-cycle iteration. */
const KVM_5_4: HaltPollOptions = {
  maxNs: 200_000,
  grow: 2,
  growStartNs: 10_000,
  shrink: 0,
  iterationCycles: 300,
};

describe("the poll window's arithmetic (Linux 5.4)", () => {
  it('grows by halt_poll_ns_grow from halt_poll_ns_grow_start, up to halt_poll_ns', () => {
    expect(growHaltPollNs(0, KVM_5_4)).toBe(10_000);
    expect(growHaltPollNs(10_000, KVM_5_4)).toBe(20_000);
    expect(growHaltPollNs(160_000, KVM_5_4)).toBe(200_000);
    // halt_poll_ns_grow 0: windows never grow.
    expect(growHaltPollNs(0, { ...KVM_5_4, grow: 0 })).toBe(0);
  });

  it('shrinks to 0 with halt_poll_ns_shrink 0, else divides by it', () => {
    expect(shrinkHaltPollNs(80_000, KVM_5_4)).toBe(0);
    expect(shrinkHaltPollNs(80_000, { ...KVM_5_4, shrink: 2 })).toBe(40_000);
  });

  it('after a block: covered, unchanged; shorter than halt_poll_ns, grown; longer, shrunk', () => {
    expect(adjustHaltPollNs(20_000, 15_000, KVM_5_4)).toBe(20_000);
    expect(adjustHaltPollNs(20_000, 20_000, KVM_5_4)).toBe(20_000);
    expect(adjustHaltPollNs(0, 15_000, KVM_5_4)).toBe(10_000);
    expect(adjustHaltPollNs(10_000, 15_000, KVM_5_4)).toBe(20_000);
    expect(adjustHaltPollNs(40_000, 250_000, KVM_5_4)).toBe(0);
    expect(adjustHaltPollNs(40_000, 250_000, { ...KVM_5_4, shrink: 2 })).toBe(20_000);
    // A block exactly halt_poll_ns long neither grows nor shrinks; a window of 0 never shrinks.
    expect(adjustHaltPollNs(40_000, 200_000, KVM_5_4)).toBe(40_000);
    expect(adjustHaltPollNs(0, 250_000, KVM_5_4)).toBe(0);
    // halt_poll_ns 0: no window.
    expect(adjustHaltPollNs(40_000, 15_000, { ...KVM_5_4, maxNs: 0 })).toBe(0);
  });

  test.prop([
    fc.integer({ min: 0, max: 1_000_000 }),
    fc.integer({ min: 0, max: 1_000_000 }),
    fc.integer({ min: 0, max: 8 }),
    fc.integer({ min: 0, max: 50_000 }),
    fc.integer({ min: 0, max: 8 }),
    fc.integer({ min: 0, max: 2_000_000 }),
  ])(
    'the window stays within [0, halt_poll_ns], and moves only as kvm_vcpu_block says',
    (maxNs, start, grow, growStartNs, shrink, blockNs) => {
      const o = { maxNs, grow, growStartNs, shrink, iterationCycles: 300 };
      const w = Math.min(start, maxNs);
      const next = adjustHaltPollNs(w, blockNs, o);
      expect(next).toBeGreaterThanOrEqual(0);
      expect(next).toBeLessThanOrEqual(Math.max(w, maxNs));
      if (maxNs === 0) expect(next).toBe(0);
      else if (blockNs <= w) expect(next).toBe(w);
      else if (next > w) expect(blockNs).toBeLessThan(maxNs);
      else if (next < w) expect(blockNs).toBeGreaterThan(maxNs);
    },
  );

  it('the hypervisor refuses parameters KVM could not hold, or an iteration that takes no time', () => {
    expect(() => host({ ...KVM_5_4, iterationCycles: 0 })).toThrow(HypervisorConfigError);
    expect(() => host({ ...KVM_5_4, iterationCycles: 0 })).toThrow(/iterationCycles/);
    expect(() => host({ ...KVM_5_4, grow: 1.5 })).toThrow(/haltPoll.grow/);
    expect(() => host({ ...KVM_5_4, maxNs: -1 })).toThrow(/haltPoll.maxNs/);
  });
});

// ---- the host loop, op by op ------------------------------------------------------------------

interface ProbeState {
  readonly log: string[];
}

/** A strategy that only records the block hooks; the vCPU's interrupts are its virtual LAPIC's. */
class BlockProbe implements InterruptVirtualization<ProbeState> {
  readonly name = 'block-probe';
  createVcpuState(): ProbeState {
    return { log: [] };
  }
  configureVcpu(): void {}
  beforeEntry(): number {
    return 0;
  }
  handleExit(): number {
    return EXIT_NOT_HANDLED;
  }
  onVirtualEoi(): number {
    return 0;
  }
  assignedInterrupt(vcpu: VcpuControl, guestVector: number): number {
    vcpu.apic.raise(guestVector);
    return 0;
  }
  preBlock(_vcpu: VcpuControl, st: ProbeState): void {
    st.log.push('preBlock');
  }
  postBlock(_vcpu: VcpuControl, st: ProbeState): void {
    st.log.push('postBlock');
  }
  describe(): string {
    return 'records preBlock and postBlock';
  }
}

const HZ = 2e9;
const PS_PER_CYCLE = 1e12 / HZ;

function host(haltPoll?: HaltPollOptions) {
  const { hv, vm, vcpu, code } = oneVcpuHost({
    strategy: new BlockProbe(),
    costs: COSTS,
    tscHz: HZ,
    virtualApicTimerHz: 25e6,
    ...(haltPoll !== undefined ? { haltPoll } : {}),
  });
  // The guest programmed MSI-X entry 0 with its vector 0x41: host vector 0x51.
  vm.assigned[0]!.guestVectors[0] = 0x41;
  vm.assigned[0]!.hostVectors[0] = HOST_VECTOR.ASSIGNED_BASE;
  const routine = code.lookup(hv.entryAddress(0))!;
  return { hv, vcpu, routine, log: (hv.strategyState(vcpu) as ProbeState).log, counters: hv.pcpuCounters(0) };
}

/** One operation the host loop issued: its kind, its cycles, and when it began. */
interface Op {
  readonly kind: string;
  readonly cycles: number;
  readonly at: number;
}

/** Something a host interrupt handler does (raise the guest's vector, wake a thread), at a time. */
interface HostInterrupt {
  readonly at: number;
  readonly handler: () => void;
}

/**
 * A CPU for one routine, as the CpuContext contract describes it: each step issues one op;
 * `compute` and `spin` take their cycles, `hlt` lasts until an interrupt; an interrupt is taken
 * (its handler runs, in no time) only while IF = 1, during an op or when IF becomes 1, and it
 * ends a `spin` or a `hlt` (the routine steps again) but not a `compute`. Runs until the loop
 * enters the guest, and returns the ops.
 */
function drive(routine: Routine, pc: number, interrupts: HostInterrupt[]): Op[] {
  const ops: Op[] = [];
  const pending = [...interrupts].sort((a, b) => a.at - b.at);
  let kind = '';
  let cycles = 0;
  const op =
    (k: string, c = 0) =>
    () => {
      kind = k;
      cycles = c;
    };
  const cpu = {
    id: 0,
    hz: HZ,
    now: 0,
    interruptsEnabled: true,
    compute: (c: number) => op('compute', c)(),
    spin: (c: number) => op('spin', c)(),
    cli: () => {
      cpu.interruptsEnabled = false;
      op('cli', 1)();
    },
    sti: () => {
      cpu.interruptsEnabled = true;
      op('sti', 1)();
    },
    hlt: op('hlt'),
    vmresume: op('enter'),
    vmlaunch: op('enter'),
    wrmsr: op('wrmsr', 1),
    rdmsr: op('rdmsr', 1),
  };
  const f: Frame = { routine, pc, r0: 0, r1: 0, r2: 0, r3: 0, vector: -1, errorCode: -1 };
  for (let steps = 0; steps < 200; steps++) {
    kind = '';
    routine.step(cpu as unknown as CpuContext, f);
    ops.push({ kind, cycles, at: cpu.now });
    if (kind === 'enter') return ops;
    const end = kind === 'hlt' ? Number.POSITIVE_INFINITY : cpu.now + cycles * PS_PER_CYCLE;
    let ended = false;
    while (cpu.interruptsEnabled && pending.length > 0 && pending[0]!.at < end) {
      const irq = pending.shift()!;
      cpu.now = Math.max(cpu.now, irq.at);
      irq.handler();
      if (kind === 'spin' || kind === 'hlt') {
        ended = true;
        break;
      }
    }
    if (!ended) {
      if (end === Number.POSITIVE_INFINITY) throw new Error('HLT with no interrupt to come');
      cpu.now = end;
    }
  }
  throw new Error(`the loop did not enter the guest: ${ops.map((o) => o.kind).join(' ')}`);
}

const US = 1_000_000;
const kinds = (ops: readonly Op[]) => ops.map((o) => o.kind);

/** The host loop after a HLT exit's handling, interrupts on: it blocks the vCPU. */
function halt(h: ReturnType<typeof host>, interrupts: HostInterrupt[]): Op[] {
  h.vcpu.afterExit = AFTER_EXIT.HALT;
  return drive(h.routine, LOOP.AFTER_HANDLE, interrupts);
}

describe("the host loop's halt polling", () => {
  it('off (a 2.6.3x host): a HLT blocks at once, through idle, and no spin is ever issued', () => {
    const h = host();
    const raise = { at: 50 * US, handler: () => h.vcpu.apic.raise(0x41) };
    const ops = halt(h, [raise]);
    expect(kinds(ops)).toEqual([
      'cli',
      'sti',
      'compute',
      'cli',
      'sti',
      'hlt',
      'cli',
      'compute',
      'compute',
      'enter',
    ]);
    // The switch to idle and back.
    expect(ops[2]!.cycles).toBe(COSTS.contextSwitch + COSTS.vcpuPutLoad);
    expect(ops[7]!.cycles).toBe(COSTS.haltWake + COSTS.contextSwitch);
    expect(h.counters.contextSwitches.value).toBe(2);
    expect([h.counters.haltPollSuccesses.value, h.counters.haltPollFails.value]).toEqual([0, 0]);
    expect(h.log).toEqual(['preBlock', 'postBlock']);
    expect(h.vcpu.haltPollNs).toBe(0);
  });

  it("on, with the vCPU's window still 0 (its first block): no poll; the short block opens the window at halt_poll_ns_grow_start", () => {
    const h = host(KVM_5_4);
    const ops = halt(h, [{ at: 50 * US, handler: () => h.vcpu.apic.raise(0x41) }]);
    expect(kinds(ops)).not.toContain('spin');
    expect(h.counters.contextSwitches.value).toBe(2);
    expect(h.vcpu.haltPollNs).toBe(10_000);
  });

  it('an interrupt inside the window: noticed within one iteration, the vCPU runs again with no sleep and no switch', () => {
    const h = host(KVM_5_4);
    h.vcpu.haltPollNs = 50_000;
    const irqAt = 5 * US;
    const ops = halt(h, [{ at: irqAt, handler: () => h.vcpu.apic.raise(0x41) }]);
    // CLI, the runnable check, STI; the spin to the window's end that the interrupt ends; the
    // iteration it came in; CLI; the entry's preparation.
    expect(kinds(ops)).toEqual(['cli', 'sti', 'spin', 'spin', 'cli', 'compute', 'enter']);
    expect(ops[3]!.at).toBe(irqAt);
    expect(ops[3]!.cycles).toBe(KVM_5_4.iterationCycles);
    expect(ops[4]!.at - irqAt).toBeLessThanOrEqual(KVM_5_4.iterationCycles * PS_PER_CYCLE);
    expect(h.counters.haltPollSuccesses.value).toBe(1);
    expect(h.counters.haltPollFails.value).toBe(0);
    expect(h.counters.contextSwitches.value).toBe(0);
    // Linux 4.x–5.15's x86 vcpu_block calls pre_block before kvm_vcpu_block (which polls) and
    // post_block after it, whether the poll caught the interrupt or the thread slept.
    expect(h.log).toEqual(['preBlock', 'postBlock']);
    // The window covered the block: it stays.
    expect(h.vcpu.haltPollNs).toBe(50_000);
  });

  it('an interrupt after the window: the poll runs to its end and fails, the thread sleeps through idle, and the window grows', () => {
    const h = host(KVM_5_4);
    h.vcpu.haltPollNs = 10_000;
    // (After the switch to idle, which takes 41 µs with these costs.)
    const ops = halt(h, [{ at: 100 * US, handler: () => h.vcpu.apic.raise(0x41) }]);
    expect(kinds(ops)).toEqual([
      'cli',
      'sti',
      'spin',
      'spin', // the poll: the window's iterations
      'cli',
      'sti',
      'compute',
      'cli',
      'sti',
      'hlt', // the block: the switch to idle, HLT
      'cli',
      'compute',
      'compute',
      'enter', // the wake-up, the switch back, the entry
    ]);
    // The poll ended at the first iteration's end past the window.
    const pollEnd = ops[4]!.at;
    expect(pollEnd).toBeGreaterThanOrEqual(ops[1]!.at + 10 * US);
    expect(pollEnd).toBeLessThan(ops[1]!.at + 10 * US + 2 * KVM_5_4.iterationCycles * PS_PER_CYCLE);
    expect(h.counters.haltPollFails.value).toBe(1);
    expect(h.counters.haltPollSuccesses.value).toBe(0);
    expect(h.counters.contextSwitches.value).toBe(2);
    expect(h.log).toEqual(['preBlock', 'postBlock']);
    // 100 µs blocked, over the 10 µs window but under halt_poll_ns: doubled.
    expect(h.vcpu.haltPollNs).toBe(20_000);
  });

  it('a block longer than halt_poll_ns shrinks the window: to 0 (halt_poll_ns_shrink 0), or divided', () => {
    for (const [shrink, next] of [
      [0, 0],
      [2, 20_000],
    ] as const) {
      const h = host({ ...KVM_5_4, shrink });
      h.vcpu.haltPollNs = 40_000;
      halt(h, [{ at: 300 * US, handler: () => h.vcpu.apic.raise(0x41) }]);
      expect(h.counters.haltPollFails.value).toBe(1);
      expect(h.vcpu.haltPollNs).toBe(next);
    }
  });

  it("a host interrupt that gives the vCPU nothing (the host's tick) does not end the poll", () => {
    const h = host(KVM_5_4);
    h.vcpu.haltPollNs = 50_000;
    const ops = halt(h, [
      { at: 5 * US, handler: () => {} },
      { at: 20 * US, handler: () => h.vcpu.apic.raise(0x41) },
    ]);
    expect(kinds(ops)).toEqual(['cli', 'sti', 'spin', 'spin', 'spin', 'spin', 'cli', 'compute', 'enter']);
    expect(h.counters.haltPollSuccesses.value).toBe(1);
    expect(h.counters.contextSwitches.value).toBe(0);
  });

  it('an IRQ thread woken during the poll stops it (single_task_running): the vCPU thread sleeps, the thread runs and wakes it', () => {
    const h = host(KVM_5_4);
    h.vcpu.haltPollNs = 50_000;
    const wake = { at: 5 * US, handler: () => h.hv.pcpu(0).wakeThread(HOST_VECTOR.ASSIGNED_BASE) };
    const ops = halt(h, [wake]);
    expect(kinds(ops)).toEqual([
      'cli',
      'sti',
      'spin',
      'spin', // the poll, until the thread is runnable
      'compute',
      'cli',
      'sti', // the vCPU thread schedules out (its preempt notifiers)
      'compute',
      'compute',
      'compute',
      'cli', // to the thread, its work (kvm_set_irq), back
      'compute',
      'compute',
      'enter', // the vCPU thread runs again, the entry
    ]);
    expect(ops[4]!.cycles).toBe(COSTS.vcpuPutLoad);
    expect(h.counters.haltPollFails.value).toBe(1);
    expect(h.counters.irqThreadRuns.value).toBe(1);
    expect(h.counters.contextSwitches.value).toBe(2);
    // Woken by the thread (which paid the switch back): the wake-up alone.
    expect(ops[11]!.cycles).toBe(COSTS.haltWake);
    expect(h.log).toEqual(['preBlock', 'postBlock']);
  });
});
