import type { ScopedStats, Simulator, Tracer } from '@exitless/sim';
import { Counter, SimEvent } from '@exitless/sim';
import type { ApicBus, InterruptMessage, InterruptMessageSink, LocalApic } from '@exitless/x86';
import { DELIVERY_MODE, DEST_MODE, DEST_SHORTHAND, makeInterruptMessage } from '@exitless/x86';
import { LapicConfigError } from './errors.js';

/** Hears the EOI messages that local APICs broadcast for level-triggered vectors (an I/O APIC does). */
export interface EoiBroadcastListener {
  /** A local APIC EOI'd level-triggered `vector` (SDM vol. 3 §10.8.5). */
  eoiBroadcast(vector: number): void;
}

/** Options of an InterruptBus. */
export interface InterruptBusOptions {
  /** The simulator IPIs are scheduled on. */
  readonly sim: Simulator;
  /**
   * Picoseconds from the ICR write that sends an IPI to its acceptance by the destination
   * APICs (the system-bus transaction on Nehalem's QPI). From the calibration profile.
   */
  readonly ipiLatencyPs: number;
  /** Where the bus counts messages (`delivered`, `ipis`, `unrouted`, …). */
  readonly stats?: ScopedStats;
  /** Where the bus traces messages, if given. */
  readonly tracer?: Tracer;
}

/** The counters an InterruptBus keeps. */
export interface InterruptBusCounters {
  /** Messages from MSI / IOMMU paths (deliverInterrupt). */
  readonly messages: Counter;
  /** IPIs put on the bus by an APIC's ICR. */
  readonly ipis: Counter;
  /** Acceptances by an APIC (one message to three APICs counts three). */
  readonly accepted: Counter;
  /** Messages that selected no APIC. */
  readonly unrouted: Counter;
  /** Lowest-priority arbitrations performed. */
  readonly lowestPriority: Counter;
  /** EOI messages broadcast for level-triggered vectors. */
  readonly eoiBroadcasts: Counter;
}

// One IPI in flight: a pooled record with its own reusable event, so that steady-state IPI
// traffic creates no objects.
class PendingIpi {
  readonly event: SimEvent;
  source: LocalApic | null = null;
  shorthand = 0;
  vector = 0;
  deliveryMode = 0;
  destMode = 0;
  destination = 0;
  triggerMode = 0;
  level = 0;
  x2apicDestination = false;
  next: PendingIpi | null = null;

  constructor(bus: InterruptBus, index: number) {
    this.event = new SimEvent(`ipi-${index}`, () => bus.arrive(this));
  }
}

/**
 * The interrupt bus that reaches every local APIC (on Nehalem, the QPI messages that
 * carry interrupts). MSIs and remapped interrupts arrive by `deliverInterrupt` and are
 * routed at once (the IOMMU accounts its own latency); IPIs from an ICR arrive by
 * `sendIpi` and are routed `ipiLatencyPs` later. Routing asks each registered APIC
 * `matchesDestination` (physical, logical flat/cluster, x2APIC cluster, broadcast), so any
 * LocalApic implementation can sit on the bus. Lowest-priority delivery is arbitrated
 * deterministically: the lowest arbitration priority (APR) among the enabled
 * destinations wins, ties go to the lowest APIC ID (the SDM leaves the tie-break to the
 * chipset, §10.6.2.4).
 */
export class InterruptBus implements ApicBus, InterruptMessageSink {
  private readonly sim: Simulator;
  /** Picoseconds from an IPI's ICR write to its acceptance by the destinations. */
  readonly ipiLatencyPs: number;
  private readonly list: LocalApic[] = [];
  private readonly eoiListeners: EoiBroadcastListener[] = [];
  private free: PendingIpi | null = null;
  private poolSize = 0;
  private readonly scratch: InterruptMessage = makeInterruptMessage();
  private readonly tracer: Tracer | undefined;
  /** The bus's message counters. */
  readonly counters: InterruptBusCounters;

  constructor(options: InterruptBusOptions) {
    if (!Number.isSafeInteger(options.ipiLatencyPs) || options.ipiLatencyPs < 0) {
      throw new LapicConfigError(
        `InterruptBus: ipiLatencyPs must be a non-negative integer number of picoseconds, got ${options.ipiLatencyPs}`,
      );
    }
    this.sim = options.sim;
    this.ipiLatencyPs = options.ipiLatencyPs;
    this.tracer = options.tracer;
    const s = options.stats;
    const c = (name: string): Counter => (s !== undefined ? s.counter(name) : new Counter(name));
    this.counters = {
      messages: c('messages'),
      ipis: c('ipis'),
      accepted: c('accepted'),
      unrouted: c('unrouted'),
      lowestPriority: c('lowest-priority'),
      eoiBroadcasts: c('eoi-broadcasts'),
    };
  }

  /** The APICs on the bus, in registration order. */
  get apics(): readonly LocalApic[] {
    return this.list;
  }

  /** IPI records allocated so far (they are reused: this stops growing in steady state). */
  get ipiPoolSize(): number {
    return this.poolSize;
  }

  /** Puts `apic` on the bus. */
  register(apic: LocalApic): void {
    if (this.list.includes(apic)) {
      throw new LapicConfigError('InterruptBus.register: this APIC is already on the bus; register it once');
    }
    this.list.push(apic);
  }

  /** Takes `apic` off the bus (a hot-unplugged CPU). Returns false if it was not on it. */
  unregister(apic: LocalApic): boolean {
    const i = this.list.indexOf(apic);
    if (i < 0) return false;
    this.list.splice(i, 1);
    return true;
  }

  /** Subscribes an I/O APIC (or a test) to EOI broadcasts. */
  addEoiListener(listener: EoiBroadcastListener): void {
    this.eoiListeners.push(listener);
  }

  /** Called by a local APIC when an EOI of a level-triggered vector must be broadcast. */
  broadcastEoi(vector: number): void {
    this.counters.eoiBroadcasts.inc();
    for (let i = 0; i < this.eoiListeners.length; i++) this.eoiListeners[i]!.eoiBroadcast(vector);
  }

  /** An interrupt message from an MSI or the IOMMU: routed and accepted now. */
  deliverInterrupt(message: InterruptMessage): void {
    this.counters.messages.inc();
    this.route(message, DEST_SHORTHAND.NONE, null);
  }

  /**
   * An IPI from `source`'s ICR with destination shorthand `shorthand` (ICR bits 19:18).
   * The message is copied (the sender may reuse it) and accepted `ipiLatencyPs` from now.
   */
  sendIpi(source: LocalApic, message: InterruptMessage, shorthand: number): void {
    this.counters.ipis.inc();
    let p = this.free;
    if (p === null) {
      p = new PendingIpi(this, this.poolSize++);
    } else {
      this.free = p.next;
      p.next = null;
    }
    p.source = source;
    p.shorthand = shorthand;
    p.vector = message.vector;
    p.deliveryMode = message.deliveryMode;
    p.destMode = message.destMode;
    p.destination = message.destination;
    p.triggerMode = message.triggerMode;
    p.level = message.level;
    p.x2apicDestination = message.x2apicDestination;
    this.sim.scheduleIn(p.event, this.ipiLatencyPs);
  }

  /** @internal an IPI reaches its destinations. */
  arrive(p: PendingIpi): void {
    const m = this.scratch;
    m.vector = p.vector;
    m.deliveryMode = p.deliveryMode;
    m.destMode = p.destMode;
    m.destination = p.destination;
    m.triggerMode = p.triggerMode;
    m.level = p.level;
    m.redirectionHint = 0;
    m.x2apicDestination = p.x2apicDestination;
    const source = p.source;
    const shorthand = p.shorthand;
    p.source = null;
    p.next = this.free;
    this.free = p;
    if (this.tracer?.enabled) {
      this.tracer.instant('interrupt-bus', 'ipi', this.sim.now, { vector: m.vector, dest: m.destination });
    }
    this.route(m, shorthand, source);
  }

  private route(m: InterruptMessage, shorthand: number, source: LocalApic | null): void {
    const list = this.list;
    const lowest =
      m.deliveryMode === DELIVERY_MODE.LOWEST_PRIORITY ||
      (m.deliveryMode === DELIVERY_MODE.FIXED && m.redirectionHint === 1 && m.destMode === DEST_MODE.LOGICAL);
    if (lowest) {
      // Arbitration among the selected APICs: lowest APR, then lowest APIC ID. Disabled
      // APICs take part only if no enabled one is selected (they then drop the message).
      let best: LocalApic | null = null;
      let bestEnabled = false;
      for (let i = 0; i < list.length; i++) {
        const a = list[i]!;
        if (!this.selects(a, m, shorthand, source)) continue;
        const en = a.enabled;
        if (
          best === null ||
          (en && !bestEnabled) ||
          (en === bestEnabled &&
            (a.arbitrationPriority < best.arbitrationPriority ||
              (a.arbitrationPriority === best.arbitrationPriority && a.apicId < best.apicId)))
        ) {
          best = a;
          bestEnabled = en;
        }
      }
      if (best === null) {
        this.counters.unrouted.inc();
        return;
      }
      this.counters.lowestPriority.inc();
      this.counters.accepted.inc();
      best.acceptInterrupt(m);
      return;
    }
    let hits = 0;
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!;
      if (!this.selects(a, m, shorthand, source)) continue;
      hits++;
      this.counters.accepted.inc();
      a.acceptInterrupt(m);
    }
    if (hits === 0) this.counters.unrouted.inc();
  }

  private selects(a: LocalApic, m: InterruptMessage, shorthand: number, source: LocalApic | null): boolean {
    switch (shorthand) {
      case DEST_SHORTHAND.SELF:
        return a === source;
      case DEST_SHORTHAND.ALL_INCLUDING_SELF:
        return true;
      case DEST_SHORTHAND.ALL_EXCLUDING_SELF:
        return a !== source;
      default:
        return a.matchesDestination(m.destination, m.destMode, m.x2apicDestination);
    }
  }
}
