/**
 * The host's high-resolution timers: callbacks at absolute times, multiplexed onto the
 * physical LAPIC's TSC-deadline timer (the host kernel writes IA32_TSC_DEADLINE with the
 * earliest expiry). Few timers exist (the host tick, one emulated LAPIC timer per vCPU),
 * so a small array kept in order is enough.
 */
export interface HrTimer {
  /** Expiry, ps; −1 when not armed. */
  expires: number;
  /** The timer's name, for traces. */
  readonly name: string;
  /** Runs in the host's timer interrupt; returns the cycles it costs. */
  readonly fire: (now: number) => number;
}

/** The host's armed {@link HrTimer}s: answers which expires first and runs those that are due. */
export class HrTimerQueue {
  private readonly timers: HrTimer[] = [];

  /** Registers `timer` (armed or not); it stays registered. */
  add(timer: HrTimer): void {
    this.timers.push(timer);
  }

  /** The earliest armed expiry, or −1. */
  earliest(): number {
    let t = -1;
    for (const h of this.timers) if (h.expires >= 0 && (t < 0 || h.expires < t)) t = h.expires;
    return t;
  }

  /** The earliest armed expiry among the timers other than `except`, or −1. */
  earliestExcept(except: HrTimer): number {
    let t = -1;
    for (const h of this.timers)
      if (h !== except && h.expires >= 0 && (t < 0 || h.expires < t)) t = h.expires;
    return t;
  }

  /** Runs every timer due at `now` (in registration order) but `except`; returns cycles spent and how many fired. */
  runExpired(
    now: number,
    except: HrTimer | null = null,
  ): {
    /** Cycles the timers' handlers cost, summed. */
    cycles: number;
    /** How many timers fired. */
    fired: number;
  } {
    let cycles = 0;
    let fired = 0;
    for (const h of this.timers) {
      if (h !== except && h.expires >= 0 && h.expires <= now) {
        h.expires = -1;
        cycles += h.fire(now);
        fired++;
      }
    }
    this.result.cycles = cycles;
    this.result.fired = fired;
    return this.result;
  }

  private readonly result = { cycles: 0, fired: 0 };
}
