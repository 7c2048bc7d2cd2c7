/**
 * Runs one generated guest program on one machine mode, with the host instrumented the way
 * a hardware monitor would be (nothing in the simulator changes): every guest store and
 * every DMA write is checked against the guest's window, every message on the interrupt bus
 * against the VF's assigned vectors, every host tick is timed, a few host-owned interrupts
 * are raised at the program's chosen times, and progress is sampled every 100 µs. Returns the
 * violations of every invariant (invariants.ts).
 */
import { type AssignedFunction, HOST_LAYOUT } from '@exitless/hypervisor';
import { ms, us } from '@exitless/sim';
import { DELIVERY_MODE, type InterruptMessage, type PhysicalMemory } from '@exitless/x86';
import { type CalibrationProfile, Machine } from '../../src/index.js';
import { GuestRun } from './guest.js';
import {
  boundsFor,
  checkHostIrqs,
  checkHostTick,
  checkProgress,
  type HostIrqRecord,
  type ProgressSample,
  type RunTrace,
  type Violation,
} from './invariants.js';
import type { Program } from './program.js';

/** How long a run lasts: 8 ms shows an ELI host tick held off past its 6.5 ms bound; see README. */
export const DEFAULT_DURATION_MS = 8;
/** Sampling period of progress and of host-interrupt handling. */
const SAMPLE_PS = us(100);
/** A run is extended (only while a raised host interrupt is still due) by at most this much. */
const MAX_EXTENSION_PS = ms(14);

/** DMA accesses at one simulated instant beyond which the run is declared hung (a full RX burst is ~10^2). */
const WATCHDOG_DMA_PER_INSTANT = 100_000;

/** Thrown by the harness's watchdog (not by the simulator) to end a run that would never return. */
class HangError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HangError';
  }
}

export interface RunOptions {
  readonly durationMs?: number;
  /** The machine's seed (the phase of the host tick and of the load generator come from it). Default 1. */
  readonly machineSeed?: number;
  /**
   * The machine's calibration profile. The bounds stay the default profile's: this is how the
   * harness's own tests make a machine break them (a 50 ms preemption timer, say).
   */
  readonly profile?: CalibrationProfile;
}

export interface RunOutcome {
  readonly mode: string;
  readonly violations: readonly Violation[];
  /** Why the VM stopped (an architectural event, not a failure), or null. */
  readonly stopReason: string | null;
  readonly endPs: number;
  readonly wallMs: number;
  /** A few counters worth printing next to a counterexample. */
  readonly counters: Readonly<Record<string, number>>;
}

const fmtHex = (n: number): string => `0x${n.toString(16)}`;

/** A small FNV-1a over a memory range (sensitive host regions compared before and after). */
function hashRange(mem: PhysicalMemory, base: number, length: number): number {
  const buf = new Uint8Array(length);
  mem.readBytes(base, buf);
  let h = 0x811c9dc5;
  for (let i = 0; i < buf.length; i++) h = Math.imul(h ^ buf[i]!, 0x01000193) >>> 0;
  return h;
}

export function runProgram(program: Program, mode: string, options: RunOptions = {}): RunOutcome {
  const t0 = performance.now();
  const bounds = boundsFor(mode);
  const guest = new GuestRun(program, { mode, preemptionPs: bounds.preemptionPs });
  const violations: Violation[] = [];
  const thrown = (where: string, e: unknown, atPs: number): void => {
    if (e instanceof HangError) {
      violations.push({ invariant: 'no-hang', atPs, detail: `the simulation hung: ${e.message}` });
      return;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    const frame = err.stack?.split('\n')[1]?.trim() ?? '';
    violations.push({
      invariant: 'no-throw',
      atPs,
      detail: `${where} threw ${err.name}: ${err.message}${frame !== '' ? ` (${frame})` : ''}`,
    });
  };
  let m: Machine;
  try {
    m = new Machine({
      mode,
      seed: options.machineSeed ?? 1,
      ...(options.profile !== undefined ? { profile: options.profile } : {}),
      guestOverride: (env) => guest.install(env),
    });
  } catch (e) {
    thrown('new Machine', e, 0);
    return { mode, violations, stopReason: null, endPs: 0, wallMs: performance.now() - t0, counters: {} };
  }
  const cpu = m.cpu;
  guest.frameAt = (i) => cpu.frameAt(i);
  guest.forcedEois = () => m.stats.counterValue('eli.forced-eoi');
  guest.isAssignedHostVector = (v) => m.vm?.assigned.some((a) => a.hostVectors.includes(v)) === true;
  const vm = m.vm;
  const hv = m.hypervisor;
  const virtualized = vm !== null && hv !== null;
  /** How many times the host's handler ran for a host vector (an interrupt routed as an NMI included). */
  const handled = (v: number) => (hv === null ? cpu.deliveredRoot[v]! : hv.handledVectors[v]!);

  // ---- instrumentation (wrappers on instances; the components are not changed) ----------
  const guestLo = vm?.hostBase ?? 0;
  const guestHi = guestLo + (vm?.config.memorySize ?? 0);
  const bar0Lo = m.nic.vfBarAddress(0, 0);
  const bar0Hi = bar0Lo + m.nic.vfBarSize(0);
  const outside = (a: number, len: number) => a < guestLo || a + len > guestHi;
  let storeEscapes = 0;
  let dmaEscapes = 0;
  let msiEscapes = 0;
  let harnessRaising = false;
  {
    const bus = m.bus;
    const busWrite = bus.write.bind(bus);
    bus.write = (address, size, value) => {
      if (cpu.vmxNonRoot && outside(address, size) && !(address >= bar0Lo && address < bar0Hi)) {
        if (storeEscapes++ < 3) {
          violations.push({
            invariant: 'store-containment',
            atPs: m.sim.now,
            detail: `a guest store of ${fmtHex(value >>> 0)} (${size} bytes) reached host-physical ${fmtHex(address)}, outside its RAM window [${fmtHex(guestLo)}, ${fmtHex(guestHi)})`,
          });
        }
      }
      busWrite(address, size, value);
    };
    const iommu = m.iommu;
    const dmaWrite = iommu.dmaWrite.bind(iommu);
    const dmaRead = iommu.dmaRead.bind(iommu);
    let inDma = false;
    // A device model that loops forever at one instant would hang the run: count DMA accesses
    // per instant and stop it with a report instead.
    let instant = -1;
    let accesses = 0;
    const watchdog = (address: number) => {
      if (m.sim.now !== instant) {
        instant = m.sim.now;
        accesses = 0;
      } else if (++accesses > WATCHDOG_DMA_PER_INSTANT) {
        throw new HangError(
          `${WATCHDOG_DMA_PER_INSTANT} DMA accesses by the VF at ${m.sim.now} ps without time moving on (the last at ${fmtHex(address)})`,
        );
      }
    };
    iommu.dmaRead = (rid, address, dst, offset, length) => {
      watchdog(address);
      return dmaRead(rid, address, dst, offset, length);
    };
    iommu.dmaWrite = (rid, address, src, offset, length) => {
      watchdog(address);
      inDma = true;
      try {
        return dmaWrite(rid, address, src, offset, length);
      } finally {
        inDma = false;
      }
    };
    const mem = m.memory;
    const writeBytes = mem.writeBytes.bind(mem);
    mem.writeBytes = (a, src, offset = 0, length = src.length - offset) => {
      if (virtualized && inDma && outside(a, length) && dmaEscapes++ < 3) {
        violations.push({
          invariant: 'dma-containment',
          atPs: m.sim.now,
          detail: `a VF DMA write of ${length} bytes reached host-physical ${fmtHex(a)}, outside the guest's window`,
        });
      }
      return writeBytes(a, src, offset, length);
    };
    // The vectors the host programmed into the VF's IRTEs (a host vector per entry; did: the
    // guest's own), read when each message arrives, and a design's own host vectors for the
    // notifications the IOMMU sends for a posted IRTE (posted: 0xF2, 0xF1) — not did's, which
    // are the guest's vectors the host may take after an exit, not what the VF may send.
    const strategy = m.hypervisor?.strategy;
    const notifications = new Set(strategy?.directVector === undefined ? (strategy?.hostVectors ?? []) : []);
    // What each entry's remapped IRTE holds: the host vector its last programming wrote. An
    // entry the host refuses (did: a vector the guest may not have) is masked in the VF, but its
    // IRTE keeps the last vector, and a message the VF sent before the mask is remapped through
    // it — as on bare metal, where a message in flight carries the table's old data.
    const irteVectors = new Map<AssignedFunction, Int32Array>();
    for (const a of vm?.assigned ?? []) {
      const held = Int32Array.from(a.hostVectors);
      irteVectors.set(a, held);
      const fn = a as unknown as { program(i: number): void };
      const program = fn.program.bind(a);
      fn.program = (i) => {
        program(i);
        if (a.hostVectors[i]! >= 0) held[i] = a.hostVectors[i]!;
      };
    }
    const programmedVectors = () =>
      vm?.assigned.flatMap((a) => [...a.hostVectors, ...(irteVectors.get(a) ?? [])].filter((v) => v >= 0)) ??
      [];
    const programmed = (vector: number) => programmedVectors().includes(vector);
    const allowed = () => [...new Set([...programmedVectors(), ...notifications])];
    const ib = m.interruptBus;
    const deliver = ib.deliverInterrupt.bind(ib);
    ib.deliverInterrupt = (msg: InterruptMessage) => {
      if (virtualized && !harnessRaising) {
        const ok =
          (programmed(msg.vector) || notifications.has(msg.vector)) &&
          msg.deliveryMode === DELIVERY_MODE.FIXED &&
          msg.destMode === 0 &&
          msg.destination === cpu.id;
        if (!ok && msiEscapes++ < 3) {
          violations.push({
            invariant: 'msi-routing',
            atPs: m.sim.now,
            detail: `an interrupt from the VF reached the bus as vector ${fmtHex(msg.vector)}, delivery mode ${msg.deliveryMode}, ${
              msg.destMode === 0 ? 'physical' : 'logical'
            } destination ${fmtHex(msg.destination)} (allowed: ${allowed().map(fmtHex).join(', ')} at APIC 0)`,
          });
        }
      }
      deliver(msg);
    };
  }
  const regions: { name: string; base: number; length: number; hash: number }[] = virtualized
    ? [
        { name: 'host page 0', base: 0, length: 4096 },
        { name: 'host IDT and IDTR', base: HOST_LAYOUT.IDT_BASE, length: 8192 },
        { name: 'the page below the guest window', base: guestLo - 4096, length: 4096 },
        { name: 'the 64 KiB above the guest window', base: guestHi, length: 65536 },
      ].map((r) => ({ ...r, hash: hashRange(m.memory, r.base, r.length) }))
    : [];

  const tickTimes: number[] = [];
  if (hv !== null) {
    const ticks = m.stats.counter('kvm.pcpu0.ticks');
    // Every run of the host's hrtimers: from its timer interrupt, or from the vCPU loop (did).
    const runHostTimers = hv.runHostTimers.bind(hv);
    hv.runHostTimers = (pcpu, now, except) => {
      const before = ticks.value;
      const cycles = runHostTimers(pcpu, now, except);
      if (ticks.value > before) tickTimes.push(now);
      return cycles;
    };
  }

  const irqs: HostIrqRecord[] = [];
  if (virtualized) {
    // A host device's interrupt, as the host routes it to this CPU (a fixed interrupt with its
    // vector; as an NMI on a core whose maskable interrupts the design gives the guest: did).
    const raise = (vector: number) => {
      harnessRaising = true;
      try {
        hv!.hostDeviceInterrupt(cpu.id, vector);
      } finally {
        harnessRaising = false;
      }
    };
    program.hostIrqs.forEach((h, i) => {
      const rec: HostIrqRecord = {
        vector: h.vector,
        raisedPs: us(h.atUs),
        handledPs: -1,
        rootDeliveries: 0,
        guestDeliveries: 0,
        guestUsesVector: false,
      };
      irqs.push(rec);
      m.sim.schedule(
        m.sim.event(`fuzz-host-irq-${i}`, () => raise(h.vector)),
        rec.raisedPs,
      );
    });
  }

  // ---- the run ------------------------------------------------------------------------
  const c = (name: string) => m.stats.counter(`cpu0.time.${name}`);
  const tGuest = c('guest');
  const tHaltedGuest = c('halted-guest');
  const tIndirect = c('exit-indirect');
  const tHaltedHost = c('halted-host');
  const progress: ProgressSample[] = [];
  const sample = () => {
    cpu.flushAccounting();
    progress.push({
      atPs: m.sim.now,
      guestSteps: guest.steps,
      guestPs: tGuest.value + tHaltedGuest.value + tIndirect.value,
      hostHaltedPs: tHaltedHost.value,
      stopped: m.stopReason !== null,
    });
    for (const r of irqs) {
      if (r.handledPs < 0 && handled(r.vector) > 0) r.handledPs = m.sim.now;
    }
  };
  const baseEnd = ms(options.durationMs ?? DEFAULT_DURATION_MS);
  let endPs = baseEnd;
  try {
    m.start();
    let t = 0;
    while (t < endPs) {
      t = Math.min(t + SAMPLE_PS, endPs);
      m.sim.runUntil(t);
      sample();
      if (t >= endPs) {
        // Keep going while a raised host interrupt is unhandled and not yet past its bound.
        let due = endPs;
        for (const r of irqs)
          if (r.handledPs < 0) due = Math.max(due, r.raisedPs + bounds.hostIrqPs + SAMPLE_PS);
        endPs = Math.min(due, baseEnd + MAX_EXTENSION_PS);
      }
    }
  } catch (e) {
    thrown('the simulation', e, m.sim.now);
    endPs = m.sim.now;
  }

  // ---- end-of-run checks ----------------------------------------------------------------
  for (const r of irqs) {
    r.rootDeliveries = handled(r.vector);
    r.guestDeliveries = cpu.deliveredGuest[r.vector]!;
    r.guestUsesVector = guest.guestVectors.has(r.vector);
  }
  for (const r of regions) {
    if (hashRange(m.memory, r.base, r.length) !== r.hash) {
      violations.push({
        invariant: 'dma-containment',
        atPs: endPs,
        detail: `${r.name} [${fmtHex(r.base)}, +${fmtHex(r.length)}) changed during the run`,
      });
    }
  }
  if (virtualized && violations.every((v) => v.invariant !== 'no-throw' && v.invariant !== 'no-hang')) {
    const trace: RunTrace = { mode, bounds, endPs, tickTimes, hostIrqs: irqs, progress };
    violations.push(...checkHostTick(trace), ...checkHostIrqs(trace), ...checkProgress(trace));
  }
  violations.push(...guest.violations);
  const s = m.stats;
  const counters: Record<string, number> = {};
  for (const name of [
    'cpu0.vmentries',
    'kvm.stopped-vms',
    'kvm.pcpu0.ticks',
    'eli.preemption-timer-exits',
    'eli.forced-eoi',
    'eli.host-interrupts-via-np',
    'pv-eoi.flag-set',
    'pv-eoi.eois-skipped',
    'pv-eoi.flag-withdrawn',
    'pv-eoi.msr-refused',
    'iommu.dma.faults',
    'iommu.ir.remapped',
    'iommu.ir.blocked',
    'iommu.dma.writes',
  ]) {
    const v = s.counterValue(name);
    if (v !== 0) counters[name] = v;
  }
  counters['guest.steps'] = guest.steps;
  return { mode, violations, stopReason: m.stopReason, endPs, wallMs: performance.now() - t0, counters };
}
