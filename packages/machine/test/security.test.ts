/**
 * The host's safety against an untrusted guest, in every mode that runs one: each test is
 * a hostile guest that broke the host before the fix it names, and the host's guarantee
 * that now holds.
 */
import { HOST_VECTOR, KVM_MIN_TIMER_PERIOD_US } from '@exitless/hypervisor';
import { ms, us } from '@exitless/sim';
import {
  type CpuContext,
  type Frame,
  KVM_MSR,
  KVM_PV_EOI,
  LVT,
  MSR,
  type Routine,
  TIMER_MODE,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { Machine, XEON_SKYLAKE_SP } from '../src/index.js';
import { type Adversary, adversary, fireVf, longestGap, type Op } from './adversary.js';
import { Program } from './fuzz/program.js';
import { runProgram } from './fuzz/runner.js';

const VIRTUALIZED = ['baseline', 'eli-delivery', 'eli', 'pv-eoi', 'posted', 'did'] as const;
/** `posted` runs on xeon-skylake-sp: the default X5570 has no APIC virtualization. */
const onProfile = (mode: string) => (mode === 'posted' ? { profile: XEON_SKYLAKE_SP } : {});
/** Where the hostile guests put their PV-EOI flag (a word of their RAM) in `pv-eoi`. */
const PV_FLAG = 0x20_4000;
/** In `pv-eoi`, the hostile guest turns PV EOI on first (its handlers still EOI by WRMSR). */
function pvEoiOn(mode: string): Op[] {
  return mode === 'pv-eoi' ? [(c) => c.wrmsr(KVM_MSR.PV_EOI_EN, PV_FLAG | KVM_PV_EOI.MSR_ENABLED, 0)] : [];
}
/** ELI's VMX-preemption timer period (the profile's default, the authors' 5 ms). */
const PREEMPTION = ms(5);

/**
 * An interrupt of a device of the host's own for CPU 0, as the host routes it: a fixed
 * interrupt with `vector` — or, on a core whose maskable interrupts the design gives the
 * guest (did), an NMI, the vector recorded for the host's NMI handler.
 */
function raiseHostInterrupt(m: Machine, vector: number): void {
  m.hypervisor!.hostDeviceInterrupt(0, vector);
}

/** How many times the host's handler ran for its own `vector` (taken through an NMI included). */
function hostHandled(m: Machine, vector: number): number {
  return m.hypervisor!.handledVectors[vector]!;
}

/** The host's ticks on CPU 0 (its tick hrtimer's runs, from its timer interrupt or from the vCPU loop). */
function hostTicks(m: Machine): number {
  return m.stats.counterValue('kvm.pcpu0.ticks');
}

/** Programs the guest's LAPIC timer: divide by 1, the LVT, then the count. */
function timerOps(mode: number, count: number): Op[] {
  return [
    (c) => c.wrmsr(MSR.X2APIC_TIMER_DIVIDE_CONFIG, 0xb, 0),
    (c) => c.wrmsr(MSR.X2APIC_LVT_TIMER, 0xef | (mode << LVT.TIMER_MODE_SHIFT), 0),
    (c) => c.wrmsr(MSR.X2APIC_TIMER_INITIAL_COUNT, count, 0),
  ];
}

/**
 * Runs a timer-flooding guest and checks the host's guarantees: its tick keeps coming, a
 * host device interrupt is handled (by the host, once), and the guest itself makes progress.
 */
function checkTimerFlood(mode: (typeof VIRTUALIZED)[number], extra: Op[], timerHandlerOp?: Op) {
  const out: { a?: Adversary } = {};
  let progress = 0;
  const m = new Machine({
    mode,
    ...onProfile(mode),
    guestOverride: (env) =>
      adversary(
        env,
        {
          extra: [...pvEoiOn(mode), ...extra, (c) => c.sti()],
          ...(timerHandlerOp === undefined ? {} : { timerHandlerOp }),
          loop: [
            (c) => {
              progress++;
              c.compute(10_000);
            },
          ],
        },
        out,
      ),
  });
  m.start();
  m.sim.runUntil(ms(2));
  // A timer re-armed by its own handler fires again before the handler's IRET completes, so
  // (as on bare metal) the guest's loop never runs: its handler is its progress.
  const guestProgress = () => (timerHandlerOp === undefined ? progress : out.a!.timer.count);
  const progress0 = guestProgress();
  const ticks = () => hostTicks(m);
  raiseHostInterrupt(m, 0x30);
  const gap = longestGap(m, 12, ticks);
  // The host's 1 ms tick: late by at most a preemption-timer period (ELI's bound; baseline
  // takes every interrupt at once), plus the sampling step.
  expect(gap).toBeLessThanOrEqual(
    mode === 'eli' || mode === 'eli-delivery' ? PREEMPTION + us(600) : ms(1) + us(600),
  );
  expect(hostHandled(m, 0x30)).toBe(1);
  expect(m.cpu.deliveredGuest[0x30]).toBe(0);
  // The guest is entered again and again: its own loop runs.
  expect(guestProgress() - progress0).toBeGreaterThan(100);
  expect(m.stopReason).toBeNull();
  return { m, timer: out.a!.timer };
}

describe('1. a guest flooding its LAPIC timer cannot keep its core in the host', () => {
  for (const mode of VIRTUALIZED) {
    it(`${mode}: periodic, initial count 1 at divide-by-1, runs at KVM's min_timer_period_us (200 µs)`, () => {
      const { m, timer } = checkTimerFlood(mode, timerOps(TIMER_MODE.PERIODIC, 1));
      // 12 ms at one expiry per 200 µs: 60 guest ticks (give or take the edges), not millions —
      // on the host's hrtimer, or (did) on the physical LAPIC timer the host programmed with
      // the period raised to the minimum.
      const fires = m.stats.counterValue(
        mode === 'did' ? 'lapic0.timer-expired' : 'kvm.guest0.vcpu0.timer-fires',
      );
      expect(fires).toBeGreaterThanOrEqual(55);
      expect(fires).toBeLessThanOrEqual(1 + (14 * 1000) / KVM_MIN_TIMER_PERIOD_US);
      expect(timer.count).toBeGreaterThan(50);
      expect(m.stats.counterValue('kvm.guest0.vcpu0.timer-period-limited')).toBe(1);
    });

    it(`${mode}: one-shot, count 1, re-armed by its own handler`, () => {
      const rearm: Op = (c) => c.wrmsr(MSR.X2APIC_TIMER_INITIAL_COUNT, 1, 0);
      const { timer } = checkTimerFlood(mode, timerOps(TIMER_MODE.ONE_SHOT, 1), rearm);
      // Each expiry needs the guest to run its handler: the guest makes progress with it.
      expect(timer.count).toBeGreaterThan(100);
    });

    it(`${mode}: TSC deadline in the past, re-armed in the past by its own handler`, () => {
      const rearm: Op = (c) => c.wrmsr(MSR.IA32_TSC_DEADLINE, 1, 0);
      const { timer } = checkTimerFlood(
        mode,
        [
          (c) => c.wrmsr(MSR.X2APIC_LVT_TIMER, 0xef | (TIMER_MODE.TSC_DEADLINE << LVT.TIMER_MODE_SHIFT), 0),
          rearm,
        ],
        rearm,
      );
      expect(timer.count).toBeGreaterThan(100);
    });
  }
});

describe('2. the shadow IDT is read-only to the guest (EPT), so no guest store can make a host vector its own', () => {
  const SHADOW = 0xfeb0_0000;
  const timerGateHigh = SHADOW + HOST_VECTOR.LOCAL_TIMER * 16 + 4;
  for (const mode of ['eli-delivery', 'eli'] as const) {
    it(`${mode}: a store that would mark the host timer's gate present exits (EPT violation, write to a readable page), is refused and reported; the host's tick goes on`, () => {
      const out: { a?: Adversary } = {};
      const m = new Machine({
        mode,
        ...onProfile(mode),
        guestOverride: (env) =>
          adversary(
            env,
            {
              extra: [
                (c) => c.mmioRead(timerGateHigh, 4),
                // P = 1 (bit 15), type 0xE (interrupt gate), offset 31:16 of the guest's own handler.
                (c) => c.mmioWrite(timerGateHigh, 4, (0x0010_0000 & 0xffff0000) | 0x8e00),
                (c) => c.sti(),
              ],
              loop: [(c) => c.compute(50_000)],
            },
            out,
          ),
      });
      m.start();
      m.sim.runUntil(ms(1));
      const shadowBefore = new Uint8Array(4096);
      const hpa = m.vm!.strategyPage;
      m.memory.readBytes(hpa, shadowBefore);
      m.sim.runUntil(ms(12));
      const shadowAfter = new Uint8Array(4096);
      m.memory.readBytes(hpa, shadowAfter);
      expect(shadowAfter).toEqual(shadowBefore);
      expect(m.stats.counterValue('kvm.guest0.refused-writes')).toBe(1);
      expect(m.guestViolations).toBe(1);
      expect(m.guestViolationLog[0]).toMatch(
        /store to host-owned read-only guest-physical 0xfeb00ef4 refused .*qualification 0xa\)/,
      );
      expect(m.stopReason).toBeNull();
      // The host's timer never reached the guest, and kept coming.
      expect(m.cpu.deliveredGuest[HOST_VECTOR.LOCAL_TIMER]).toBe(0);
      expect(out.a!.other.count).toBe(0);
      expect(m.cpu.deliveredRoot[HOST_VECTOR.LOCAL_TIMER]).toBeGreaterThanOrEqual(10);
    });
  }
});

describe('3. an assigned vector left in service cannot starve the host', () => {
  /**
   * Fires the VF while the guest runs in direct mode, then raises a host interrupt of a lower
   * priority class (0x30 < the VF's host vector 0x51) and expects the host to handle it.
   */
  function starveAttempt(
    mode: 'eli-delivery' | 'eli',
    o: Parameters<typeof adversary>[1],
    runMs: number,
    fireAt = us(1300),
  ) {
    const out: { a?: Adversary } = {};
    const m = new Machine({ mode, guestOverride: (env) => adversary(env, o, out) });
    m.start();
    m.sim.runUntil(fireAt);
    fireVf(m);
    m.sim.runUntil(fireAt + us(100));
    raiseHostInterrupt(m, 0x30);
    m.sim.runUntil(ms(runMs));
    expect(hostHandled(m, 0x30)).toBe(1);
    expect(m.cpu.deliveredGuest[0x30]).toBe(0);
    return { m, a: out.a! };
  }

  for (const mode of ['eli-delivery', 'eli'] as const) {
    it(`${mode}: the guest's gate for its device points outside its RAM — the VM is stopped, and the host EOIs the vector it left in service`, () => {
      const { m } = starveAttempt(
        mode,
        { nicGateTarget: 0x3000_0000, extra: [(c) => c.sti()], loop: [(c) => c.compute(50_000)] },
        3,
      );
      expect(m.stopReason).toMatch(/EPT violation at guest-physical 0x30000000.*instruction fetch/);
      expect(m.cpu.deliveredGuest[HOST_VECTOR.ASSIGNED_BASE]).toBe(0);
      expect(m.stats.counterValue('kvm.stopped-vm-eois')).toBe(1);
    });

    it(`${mode}: the gate points into the VF's own MSI-X page — a fetch there stops the VM instead of being taken for a table access`, () => {
      const { m } = starveAttempt(
        mode,
        { nicGateTarget: 'msix-bar', extra: [(c) => c.sti()], loop: [(c) => c.compute(50_000)] },
        3,
      );
      expect(m.stopReason).toMatch(/0xf.*instruction fetch from an address where nothing is mapped/);
      expect(m.stats.counterValue('kvm.stopped-vm-eois')).toBe(1);
    });

    it(`${mode}: the gate and the #GP and #DF gates point at a page with no code — the guest triple-faults, the VM is stopped, the vector is EOI'd`, () => {
      const { m } = starveAttempt(
        mode,
        {
          nicGateTarget: 0x0800_0000,
          alsoAtNicGateTarget: [8, 13],
          extra: [(c) => c.sti()],
          loop: [(c) => c.compute(50_000)],
        },
        3,
      );
      expect(m.stopReason).toMatch(/triple-fault|triple fault/);
      expect(m.stats.counterValue('kvm.stopped-vm-eois')).toBe(1);
    });

    it(`${mode}: a guest that never EOIs its device and keeps an injected tick in service (injection mode, host interrupts exit as reason 1) — every exit looks for the stuck vector`, () => {
      const { m, a } = starveAttempt(
        mode,
        {
          nicEoi: false,
          timerHz: 1000,
          timerEoi: false,
          extra: [(c) => c.sti()],
          loop: [(c) => c.compute(50_000)],
        },
        12,
        us(500),
      );
      expect(a.nic.count).toBe(1);
      // The guest's tick stays in service: the vCPU never leaves injection mode, so host
      // interrupts exit as external interrupts (reason 1), never as #NP, after the first tick.
      expect(a.timer.count).toBe(1);
      expect(m.stats.counterValue('eli.to-injection-mode')).toBe(1);
      expect(m.stats.counterValue('eli.forced-eoi')).toBe(1);
      expect(m.stopReason).toBeNull();
    });
  }
});

describe('3b. an assigned vector left in service by a guest that then halts cannot starve the host', () => {
  // The guest fires its VF, takes the interrupt straight through the shadow IDT, never EOIs,
  // and halts: the vCPU blocks with the host vector 0x51 in service in the physical LAPIC.
  // Only exits looked for a stuck vector, and a sleeping guest makes none, so host interrupts
  // of a lower class (0x30) waited for as long as it slept. ELI now goes on checking while
  // the vCPU is blocked (whileBlocked), by the same rule: EOI'd once in service for a period.
  const program = new Program({
    handlers: [{ eoi: 'none', sti: true, cycles: 200, checkIsr: false, end: 'iret' }],
    gates: [],
    ops: [{ k: 'sti' }],
    loop: [{ k: 'vfReg', reg: 0x104, value: 1 }, { k: 'compute', cycles: 2488 }, { k: 'hlt' }],
    hostIrqs: [{ vector: 0x30, atUs: 200 }],
  });
  for (const mode of ['eli-delivery', 'eli'] as const) {
    it(`${mode}: the host's interrupt 0x30 is handled within its bound (two preemption periods + 1.5 ms), by one forced EOI while the guest sleeps`, () => {
      const out = runProgram(program, mode, { durationMs: 20 });
      expect(out.violations.filter((v) => v.invariant.startsWith('host-'))).toEqual([]);
      expect(out.counters['eli.forced-eoi']).toBe(1);
      expect(out.stopReason).toBeNull();
    });
  }
});

describe("4. the guest's TPR holds back its device's interrupts in every mode, as on bare metal (SDM §10.8.3.1)", () => {
  // TPR 0x40: priority class 4 masks the guest's NIC vector 0x41 (class 4) until TPR drops.
  const masked = 6_000_000; // cycles with TPR raised: about 2 ms at 2.93 GHz
  for (const mode of ['bare-metal', ...VIRTUALIZED] as const) {
    it(`${mode}: an interrupt that arrives while TPR masks its class waits, and is taken once TPR is lowered`, () => {
      const out: { a?: Adversary } = {};
      const m = new Machine({
        mode,
        ...onProfile(mode),
        guestOverride: (env) =>
          adversary(
            env,
            {
              extra: [
                ...pvEoiOn(mode),
                (c) => c.wrmsr(MSR.X2APIC_TPR, 0x40, 0),
                (c) => c.sti(),
                (c) => c.compute(masked),
                (c) => c.wrmsr(MSR.X2APIC_TPR, 0, 0),
              ],
              loop: [(c) => c.compute(50_000)],
            },
            out,
          ),
      });
      m.start();
      m.sim.runUntil(us(700));
      fireVf(m);
      m.sim.runUntil(us(1500));
      expect(out.a!.nic.count).toBe(0);
      // The masked stretch is cycles: about 3 ms at xeon-skylake-sp's 2.0 GHz (posted's profile).
      m.sim.runUntil(mode === 'posted' ? ms(4.5) : ms(3));
      expect(out.a!.nic.count).toBe(1);
      expect(m.stopReason).toBeNull();
    });
  }
});

describe('what the guest reads of its LAPIC while handling its device is what bare metal shows', () => {
  /** The NIC handler: reads ISR word 2 (vectors 0x40–0x5F), PPR and IRR word 2, EOIs, reads ISR word 2 again. */
  class Observer implements Routine {
    readonly name = 'observer';
    readonly seen: number[] = [];
    private readonly program: ((cpu: CpuContext) => void)[] = [
      (c) => c.rdmsr(MSR.X2APIC_ISR0 + 2),
      (c) => c.rdmsr(MSR.X2APIC_PPR),
      (c) => c.rdmsr(MSR.X2APIC_IRR0 + 2),
      (c) => c.wrmsr(MSR.X2APIC_EOI, 0, 0),
      (c) => c.rdmsr(MSR.X2APIC_ISR0 + 2),
    ];
    step(cpu: CpuContext, f: Frame): void {
      // Record what each RDMSR returned (the step after it), then issue the next operation.
      if (f.pc > 0 && f.pc !== 4) this.seen.push(cpu.resultLo);
      const op = this.program[f.pc++];
      if (op === undefined) cpu.iret();
      else op(cpu);
    }
  }

  function observe(mode: string, tpr: number): number[] {
    const nicHandler = new Observer();
    const m = new Machine({
      mode,
      ...onProfile(mode),
      guestOverride: (env) =>
        adversary(
          env,
          {
            nicHandler,
            extra: [...pvEoiOn(mode), (c) => c.wrmsr(MSR.X2APIC_TPR, tpr, 0), (c) => c.sti()],
            loop: [(c) => c.compute(50_000)],
          },
          {},
        ),
    });
    m.start();
    m.sim.runUntil(us(700));
    fireVf(m);
    m.sim.runUntil(ms(2));
    return nicHandler.seen;
  }

  for (const tpr of [0, 0x20]) {
    it(`ISR, PPR and IRR in the handler of vector 0x41 (TPR 0x${tpr.toString(16)}): every mode reads what bare metal reads`, () => {
      const bare = observe('bare-metal', tpr);
      // ISR bit 1 of word 2 (vector 0x41), PPR = 0x40 (the in-service class), nothing pending, ISR clear after EOI.
      expect(bare).toEqual([0x2, 0x40, 0, 0]);
      for (const mode of VIRTUALIZED) expect(observe(mode, tpr), mode).toEqual(bare);
    });
  }
});

describe('5. pv-eoi: the PV-EOI MSR and flag in a hostile guest’s hands', () => {
  /** Runs a guest that issues `extra` then loops; returns the machine, its handlers and the host tick's longest gap. */
  function run(extra: Op[], o: { nicEoi?: boolean; fire?: boolean; loop?: Op[] } = {}) {
    const out: { a?: Adversary } = {};
    const m = new Machine({
      mode: 'pv-eoi',
      guestOverride: (env) =>
        adversary(
          env,
          {
            extra: [...extra, (c) => c.sti()],
            nicEoi: o.nicEoi ?? true,
            loop: o.loop ?? [(c) => c.compute(20_000)],
          },
          out,
        ),
    });
    m.start();
    m.sim.runUntil(us(700));
    if (o.fire === true)
      for (let i = 0; i < 5; i++) {
        fireVf(m);
        m.sim.runUntil(m.sim.now + us(300));
      }
    const gap = longestGap(m, 6, () => m.cpu.deliveredRoot[HOST_VECTOR.LOCAL_TIMER]!);
    return { m, a: out.a!, gap };
  }

  it('garbage values — reserved bit 1, the flag on MMIO (the VF’s BAR0, the LAPIC page), past RAM, above 4 GiB — are #GP(0) and change nothing; the host runs on', () => {
    const bad: [number, number][] = [
      [PV_FLAG | 3, 0],
      [0xf000_0000 | 1, 0],
      [0xfee0_0000 | 1, 0],
      [0x1000_0000 | 1, 0],
      [PV_FLAG | 1, 1],
    ];
    const { m, a, gap } = run(
      bad.map(
        ([lo, hi]) =>
          (c: CpuContext) =>
            c.wrmsr(KVM_MSR.PV_EOI_EN, lo, hi),
      ),
    );
    expect(m.stats.counterValue('pv-eoi.msr-refused')).toBe(bad.length);
    expect(m.stats.counterValue('pv-eoi.msr-writes')).toBe(0);
    // Each #GP reached the guest's handler (vector 13 goes to its catch-all one).
    expect(a.other.count).toBeGreaterThanOrEqual(bad.length);
    expect(gap).toBeLessThanOrEqual(ms(1) + us(600));
    expect(m.stopReason).toBeNull();
  });

  it('a guest that enables PV EOI and never clears the flag nor EOIs its device: the flag is withdrawn at each exit, the vector stays in service as in baseline, the host’s tick and interrupts go on', () => {
    const { m, a, gap } = run([...pvEoiOn('pv-eoi')], { nicEoi: false, fire: true });
    expect(m.stats.counterValue('pv-eoi.flag-set')).toBeGreaterThan(0);
    expect(m.stats.counterValue('pv-eoi.eois-skipped')).toBe(0);
    expect(m.stats.counterValue('pv-eoi.flag-withdrawn')).toBeGreaterThan(0);
    expect(a.nic.count).toBe(1);
    expect(gap).toBeLessThanOrEqual(ms(1) + us(600));
    expect(m.stopReason).toBeNull();
  });

  it('a guest that keeps clearing and setting the flag word by its own stores: a clear while the host set it is an EOI, nothing more; the host writes nowhere but the flag', () => {
    const store =
      (v: number): Op =>
      (c) =>
        c.mmioWrite(PV_FLAG, 4, v);
    const before = new Uint8Array(16);
    const { m, a, gap } = run([...pvEoiOn('pv-eoi'), store(0xffff_ffff)], {
      nicEoi: false,
      fire: true,
      loop: [(c) => c.compute(20_000), store(0), (c) => c.compute(20_000), store(0xffff_fffe), store(1)],
    });
    // Its device's interrupts, never EOI'd by WRMSR, were ended only where it cleared the flag.
    expect(m.stats.counterValue('pv-eoi.eois-skipped')).toBeGreaterThan(0);
    expect(a.nic.count).toBeGreaterThan(1);
    expect(m.stats.counterValue('kvm.guest0.vcpu0.virtual-eois')).toBe(
      m.stats.counterValue('pv-eoi.eois-skipped'),
    );
    expect(gap).toBeLessThanOrEqual(ms(1) + us(600));
    expect(m.stopReason).toBeNull();
    const vm = m.vm!;
    vm.memory.readBytes(PV_FLAG + 4, before, 0, 16);
    expect([...before].every((b) => b === 0)).toBe(true);
  });
});

describe("6. a guest's access across the end of its RAM touches no host memory", () => {
  // The CPU translated only an access's first byte through the EPT and took the rest from the
  // host-physical addresses that followed, past the guest's RAM window: SIDT at RAM_END − 8
  // wrote 2 bytes of host memory, and so did a 4-byte store at RAM_END − 2. Each page an
  // access touches is translated now; the page past RAM has nothing mapped, so the access
  // exits (EPT violation) before any byte is written, and the host stops the VM.
  const store = new Program({
    handlers: [{ eoi: 'after', sti: false, cycles: 200, checkIsr: false, end: 'iret' }],
    gates: [],
    ops: [{ k: 'write', at: { region: 'ramEnd', offset: -2 }, size: 4, value: 0x11223344 }],
    loop: [{ k: 'compute', cycles: 10_000 }],
    hostIrqs: [],
  });
  for (const mode of VIRTUALIZED) {
    it(`${mode}: a 4-byte store at RAM_END − 2 exits at RAM_END, writes nothing, and stops the VM`, () => {
      const profile = mode === 'posted' ? XEON_SKYLAKE_SP : undefined;
      const out = runProgram(store, mode, { durationMs: 2, ...(profile !== undefined ? { profile } : {}) });
      expect(out.violations.filter((v) => v.invariant === 'no-throw')).toEqual([]);
      expect(out.violations.filter((v) => v.invariant === 'store-containment')).toEqual([]);
      expect(out.stopReason).toMatch(
        /EPT violation at guest-physical 0x[0-9a-f]+000 \(qualification 0x[0-9a-f]+\): nothing is mapped there/,
      );
    });
  }
});
