/**
 * The host's invariants and the guest's bare-metal view, as named checks. Some are checked
 * inside the run by the guest's own routines (guest.ts: what the guest reads back), the
 * others here at the end of a run from what the runner recorded (runner.ts).
 */
import { type CalibrationProfile, profileValue, XEON_X5570 } from '../../src/index.js';

/** Every invariant the fuzzer checks, with the sentence a failure report prints. */
export const INVARIANTS = {
  'no-throw':
    'the simulator never throws: a guest fault is an architectural event (exception, exit, stopped VM), never a JavaScript exception',
  'no-hang':
    'the simulation moves on: no component loops forever at one simulated instant (a watchdog counts DMA accesses per instant)',
  'host-tick':
    "the host's tick runs at least once per tick period plus the preemption-timer bound (ELI) or a small slack (baseline)",
  'host-irq':
    'every host interrupt the harness raises is handled exactly once, by the host, within its bound, and never reaches the guest',
  'guest-progress':
    'the host keeps re-entering the guest: in every window the guest runs, halts, or its VM is stopped (no starvation)',
  'dma-containment':
    "no VF DMA writes host memory outside the guest's RAM window, and host structures are unchanged",
  'store-containment':
    "no guest store reaches host memory outside its RAM window (other than its VF's BAR0): ELI's shadow IDT included",
  'msi-routing':
    "every interrupt the VF raises arrives as a vector the host programmed into its IRTE (a host vector; did: the guest's own), or, posted, as its design's notification vector, at its own CPU's APIC",
  sidt: "SIDT shows the guest the IDTR of its own last LIDT, never the shadow's",
  'tpr-readback': 'a read of the x2APIC TPR returns what the guest last wrote to it (bits 7:0)',
  ppr: 'PPR is consistent with TPR and ISR (SDM §10.8.3.1)',
  'x2apic-gp':
    'x2APIC MSR accesses #GP exactly as the SDM says: reserved MSRs, read-only/write-only registers, reserved bits (§10.12.1.2)',
  'tpr-masks-delivery':
    'no interrupt is delivered to the guest with a priority class at or below its TPR (§10.8.3.1)',
  'isr-priority':
    'no interrupt is delivered to the guest with a priority class at or below one it has in service (§10.8.3.1)',
  'isr-view': 'a read of the ISR shows the guest the interrupts it has in service (as bare metal would)',
  'idt-gate':
    "every delivery to the guest goes through the gate its IDT holds now (as bare metal's IDT lookup does)",
} as const;

export type InvariantName = keyof typeof INVARIANTS;
export const INVARIANT_NAMES: readonly InvariantName[] = Object.keys(INVARIANTS) as InvariantName[];

/**
 * What the CI test and `pnpm fuzz` check by default: all but `idt-gate`, which holds ELI to
 * bare metal for a guest that rewrites a gate of its loaded IDT without a new LIDT (ELI's
 * shadow keeps the old gate until the next LIDT); pass `--checks all` to hunt with it.
 */
export const DEFAULT_CHECKS: readonly InvariantName[] = INVARIANT_NAMES.filter((n) => n !== 'idt-gate');

export interface Violation {
  readonly invariant: InvariantName;
  /** Simulated time, ps. */
  readonly atPs: number;
  readonly detail: string;
}

/** How late the host may be, by mode, from the calibration profile. */
export interface Bounds {
  /** The host tick's period, ps. */
  readonly tickPeriodPs: number;
  /** The longest allowed gap between two host ticks, ps. */
  readonly tickGapPs: number;
  /** The longest allowed time from raising a host interrupt to its handler, ps. */
  readonly hostIrqPs: number;
  /** ELI's VMX-preemption timer period, ps (0 in baseline). */
  readonly preemptionPs: number;
  /** Window of the starvation check, ps. */
  readonly progressWindowPs: number;
}

const MS = 1_000_000_000;

/**
 * Baseline: one tick period plus 0.5 ms of slack (external-interrupt exiting takes every host
 * interrupt at once). ELI: a guest with IF = 0 may hold the host off for one preemption-timer
 * period, so a tick may be late by that much; a host interrupt of a lower priority class than an
 * assigned vector the guest leaves in service waits until ELI notices the stuck vector (seen in
 * service for a whole preemption-timer period) and EOIs it: two periods plus a tick.
 */
export function boundsFor(mode: string, profile: CalibrationProfile = XEON_X5570): Bounds {
  const tickPeriodPs = Math.round(1e12 / profileValue(profile, 'host.hz'));
  const slack = MS / 2;
  const eli = mode === 'eli' || mode === 'eli-delivery';
  const preemptionPs = eli ? Math.round(profileValue(profile, 'eli.preemptionTimerMs') * MS) : 0;
  return {
    tickPeriodPs,
    tickGapPs: tickPeriodPs + preemptionPs + slack,
    hostIrqPs: 2 * preemptionPs + tickPeriodPs + slack,
    preemptionPs,
    progressWindowPs: MS,
  };
}

/** One progress sample (every 100 µs of simulated time). */
export interface ProgressSample {
  readonly atPs: number;
  /** Operations the guest's routines have issued so far. */
  readonly guestSteps: number;
  /** Time the CPU spent running or halted in the guest, ps (cumulative). */
  readonly guestPs: number;
  /** Time the host spent halted (a blocked vCPU, a stopped VM), ps (cumulative). */
  readonly hostHaltedPs: number;
  readonly stopped: boolean;
}

export interface HostIrqRecord {
  readonly vector: number;
  readonly raisedPs: number;
  /** First time the host's handler count for the vector was seen above zero (−1: never). */
  handledPs: number;
  rootDeliveries: number;
  guestDeliveries: number;
  /** The guest program itself raises interrupts with this vector (so guest deliveries of it prove nothing). */
  guestUsesVector: boolean;
}

/** What the runner saw during one run, for the end-of-run checks. */
export interface RunTrace {
  readonly mode: string;
  readonly bounds: Bounds;
  readonly endPs: number;
  readonly tickTimes: readonly number[];
  readonly hostIrqs: readonly HostIrqRecord[];
  readonly progress: readonly ProgressSample[];
}

const fmtMs = (ps: number): string => `${(ps / MS).toFixed(3)} ms`;

/** `host-tick`: the longest gap between two host ticks (or since the last one) stays within the bound. */
export function checkHostTick(t: RunTrace): Violation[] {
  let prev = 0;
  let worst = 0;
  let worstAt = 0;
  for (const at of [...t.tickTimes, t.endPs]) {
    if (at - prev > worst) {
      worst = at - prev;
      worstAt = prev;
    }
    prev = at;
  }
  if (worst <= t.bounds.tickGapPs) return [];
  return [
    {
      invariant: 'host-tick',
      atPs: worstAt,
      detail: `no host tick for ${fmtMs(worst)} from ${fmtMs(worstAt)} (bound ${fmtMs(t.bounds.tickGapPs)}; ${t.tickTimes.length} ticks in ${fmtMs(t.endPs)})`,
    },
  ];
}

/** `host-irq`: each raised host interrupt reached the host's handler exactly once, in time, and never the guest. */
export function checkHostIrqs(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  for (const r of t.hostIrqs) {
    const v = `0x${r.vector.toString(16)}`;
    const due = r.raisedPs + t.bounds.hostIrqPs;
    if (r.rootDeliveries > 1) {
      out.push({
        invariant: 'host-irq',
        atPs: r.raisedPs,
        detail: `host interrupt ${v} raised once at ${fmtMs(r.raisedPs)} was handled ${r.rootDeliveries} times`,
      });
    }
    if (r.guestDeliveries > 0 && !r.guestUsesVector) {
      out.push({
        invariant: 'host-irq',
        atPs: r.raisedPs,
        detail: `host interrupt ${v} raised at ${fmtMs(r.raisedPs)} was delivered to the guest ${r.guestDeliveries} time(s)`,
      });
    }
    if (r.handledPs < 0 && due <= t.endPs) {
      out.push({
        invariant: 'host-irq',
        atPs: r.raisedPs,
        detail: `host interrupt ${v} raised at ${fmtMs(r.raisedPs)} was never handled by the host (run ended at ${fmtMs(t.endPs)}, bound ${fmtMs(t.bounds.hostIrqPs)})`,
      });
    } else if (r.handledPs >= 0 && r.handledPs > due) {
      out.push({
        invariant: 'host-irq',
        atPs: r.raisedPs,
        detail: `host interrupt ${v} raised at ${fmtMs(r.raisedPs)} was handled only at ${fmtMs(r.handledPs)} (bound ${fmtMs(t.bounds.hostIrqPs)})`,
      });
    }
  }
  return out;
}

/**
 * `guest-progress`: in every window (after the first millisecond) the guest issued an
 * operation, or spent at least 10% of the window running or halted in the guest, or the host
 * was halted for 10% of it (a vCPU blocked in HLT), or the VM is stopped. A host that only
 * handles its own interrupts and re-enters a guest that exits again before doing anything
 * fails it.
 */
export function checkProgress(t: RunTrace): Violation[] {
  const w = t.bounds.progressWindowPs;
  const s = t.progress;
  let j = 0;
  for (let i = 0; i < s.length; i++) {
    const a = s[i]!;
    if (a.atPs < MS) continue;
    while (j < s.length && s[j]!.atPs < a.atPs + w) j++;
    if (j >= s.length) break;
    const b = s[j]!;
    if (b.stopped) break;
    const span = b.atPs - a.atPs;
    const ran = b.guestPs - a.guestPs;
    const halted = b.hostHaltedPs - a.hostHaltedPs;
    if (b.guestSteps > a.guestSteps || ran >= span / 10 || halted >= span / 10) continue;
    return [
      {
        invariant: 'guest-progress',
        atPs: a.atPs,
        detail: `from ${fmtMs(a.atPs)} to ${fmtMs(b.atPs)} the guest issued no operation and ran or halted for only ${fmtMs(ran)} (host halted ${fmtMs(halted)}): the host does not let it run`,
      },
    ];
  }
  return [];
}
