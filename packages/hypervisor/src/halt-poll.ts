/**
 * KVM's halt polling (virt/kvm/kvm_main.c, kvm_vcpu_block; Linux 4.0 on, from commit f7819512
 * "kvm: add halt_poll_ns module parameter", with the per-vCPU window that grows and shrinks
 * from Linux 4.3): on a HLT exit the vCPU thread first polls, with interrupts on, for up to
 * the vCPU's window, asking on each iteration whether the vCPU has an interrupt to take
 * (kvm_vcpu_check_block). If one comes, the vCPU runs again without sleeping; else the thread
 * sleeps (schedule()) as without polling. The window then moves with how long the vCPU was
 * blocked. The parameters and the algorithm are those of Linux 5.4 (read, not copied, in
 * 4.19's source and in 5.x code and patches): the module parameters halt_poll_ns (the ceiling,
 * KVM_HALT_POLL_NS_DEFAULT per arch), halt_poll_ns_grow (2), halt_poll_ns_grow_start (10000 ns;
 * a constant "10us base" before 5.1) and halt_poll_ns_shrink (0: reset); grow_halt_poll_ns as
 * in 5.1–5.12 (from 5.13 its ceiling is the VM's max_halt_poll_ns), shrink_halt_poll_ns as
 * before a 2021 change that also resets a window shrunk below grow_start, and the tail of
 * kvm_vcpu_block. The host loop (host-loop.ts) runs the poll; this module holds its parameters
 * and the window's arithmetic.
 */

/** KVM's halt-polling module parameters, and the cost of one iteration of its poll loop. */
export interface HaltPollOptions {
  /** halt_poll_ns: the longest a vCPU's window may be, ns (0: the host does not poll). */
  readonly maxNs: number;
  /** halt_poll_ns_grow: the factor a window grows by (0: windows never grow, so never open). */
  readonly grow: number;
  /** halt_poll_ns_grow_start: the smallest window a grow gives, ns (the first one grows from 0 to it). */
  readonly growStartNs: number;
  /** halt_poll_ns_shrink: the divisor a window shrinks by; 0 resets it to 0. */
  readonly shrink: number;
  /**
   * One iteration of the poll loop, cycles: kvm_vcpu_check_block (kvm_arch_vcpu_runnable, which
   * syncs the PIR with APICv; the pending-timer and signal checks), ktime_get, and the loop's
   * single_task_running and ktime_before. The poll notices an interrupt at the end of the
   * iteration it arrived in. At least 1: the loop has no other way to advance time.
   */
  readonly iterationCycles: number;
}

/** Integer-valued parameters (module parameters are `unsigned int`): what each accepts. */
const LIMITS = {
  maxNs: 4_294_967_295,
  grow: 4_294_967_295,
  growStartNs: 4_294_967_295,
  shrink: 4_294_967_295,
} as const;

/**
 * What is wrong with `o`, as a sentence that says what to change, or null when nothing is:
 * the module parameters are unsigned ints, the iteration's cost a finite number ≥ 1 cycle.
 */
export function haltPollOptionsProblem(o: HaltPollOptions): string | null {
  for (const key of ['maxNs', 'grow', 'growStartNs', 'shrink'] as const) {
    const v = o[key];
    if (!(Number.isInteger(v) && v >= 0 && v <= LIMITS[key])) {
      return `haltPoll.${key} must be an integer from 0 to ${LIMITS[key]} (KVM's unsigned module parameter), got ${String(v)}`;
    }
  }
  const c = o.iterationCycles;
  if (!(Number.isFinite(c) && c >= 1)) {
    return `haltPoll.iterationCycles must be a finite number of cycles ≥ 1 (one iteration of kvm_vcpu_block's poll loop), got ${String(c)}`;
  }
  return null;
}

/** grow_halt_poll_ns (Linux 5.1–5.12): multiply by halt_poll_ns_grow, at least grow_start, at most halt_poll_ns. */
export function growHaltPollNs(windowNs: number, o: HaltPollOptions): number {
  if (o.grow === 0) return windowNs;
  let v = windowNs * o.grow;
  if (v < o.growStartNs) v = o.growStartNs;
  if (v > o.maxNs) v = o.maxNs;
  return v;
}

/** shrink_halt_poll_ns (Linux 4.3–5.x): divide by halt_poll_ns_shrink; 0 resets the window to 0. */
export function shrinkHaltPollNs(windowNs: number, o: HaltPollOptions): number {
  return o.shrink === 0 ? 0 : Math.floor(windowNs / o.shrink);
}

/**
 * The vCPU's next window after a block of `blockNs` (from kvm_vcpu_block's start to the vCPU
 * running again, the poll included) with window `windowNs` — the tail of kvm_vcpu_block (x86,
 * where every wake-up is valid): a block the window covered leaves it; a block longer than
 * halt_poll_ns, which no window could have caught, shrinks it; a shorter one, which a longer
 * window would have caught, grows it. With halt_poll_ns 0 the window is 0.
 */
export function adjustHaltPollNs(windowNs: number, blockNs: number, o: HaltPollOptions): number {
  if (o.maxNs === 0) return 0;
  if (blockNs <= windowNs) return windowNs;
  if (windowNs !== 0 && blockNs > o.maxNs) return shrinkHaltPollNs(windowNs, o);
  if (windowNs < o.maxNs && blockNs < o.maxNs) return growHaltPollNs(windowNs, o);
  return windowNs;
}
