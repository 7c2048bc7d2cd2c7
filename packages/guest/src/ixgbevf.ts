/**
 * The guest's VF driver, modeled on ixgbevf 2.0.0-k2 (Linux 2.6.39,
 * drivers/net/ixgbevf/ixgbevf_main.c, torvalds/linux a18f22a968de): one RX and one TX queue,
 * MSI-X vector 0 for RX, 1 for TX, 2 for the mailbox; RX cleaned by NAPI (ixgbevf_clean_rxonly)
 * with the RX vector masked (VTEIMC) from the hard IRQ until the poll completes under budget
 * (VTEIMS); TX cleaned in its own hard IRQ (ixgbevf_msix_clean_tx, no mask/unmask); dynamic
 * interrupt throttling (itr.ts) or a fixed interval.
 *
 * The driver is CPU-free: each operation changes its rings in guest memory and queues the
 * register writes the real code would issue, in order; the interrupt routines (irq.ts) issue
 * them one per CPU step (`flushWrite`), so every MMIO write is a timed CPU operation.
 * Descriptors are legacy-format (the NIC model has no advanced descriptors).
 */
import {
  eitrForInterval,
  IVAR,
  MSIX_TABLE_OFFSET,
  RX_DESC,
  RXD_STAT,
  RXDCTL,
  SRRCTL,
  TX_DESC,
  TXD_CMD,
  TXD_STAT,
  TXDCTL,
  VF_REG,
} from '@exitless/nic';
import type { Counter, ScopedStats } from '@exitless/sim';
import {
  type CpuContext,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  PAGE_SIZE,
  type PhysicalMemory,
} from '@exitless/x86';
import type { GuestCosts } from './costs.js';
import {
  eitrForNewRate,
  eitrForRate,
  ITR_CLASS,
  ITR_CLASS_NAME,
  type ItrClass,
  type ItrParameters,
  itrClassRate,
  stepItrClass,
  updateItr,
} from './itr.js';
import { GUEST_LAYOUT } from './layout.js';

/** The VF's MSI-X entries as ixgbevf maps them (ixgbevf_map_rings_to_vectors, configure_msix). */
export const IXGBEVF_MSIX = {
  /** Entry 0: the RX queue's vector. */
  RX: 0,
  /** Entry 1: the TX queue's vector. */
  TX: 1,
  /** Entry 2: the mailbox (other causes) vector. */
  MAILBOX: 2,
} as const;

/** RX buffers returned to the NIC per RDT write (IXGBEVF_RX_BUFFER_WRITE, ixgbevf.h). */
export const IXGBEVF_RX_BUFFER_WRITE = 16;

/**
 * Most read descriptors one memory write refills: a poll refills IXGBEVF_RX_BUFFER_WRITE at a
 * time, so a run of that many consecutive descriptors goes to memory as one copy.
 */
const RX_REFILL_RUN = IXGBEVF_RX_BUFFER_WRITE;

/** What `Ixgbevf.txSlot` returns instead of a buffer address when the TX ring is full. */
export const TX_SLOT = {
  /** No free TX descriptor. */
  RING_FULL: -1,
} as const;

/** The driver's counters (under the kernel's scope; the ixgbevf.* ones under `ixgbevf`). */
export interface IxgbevfCounters {
  /** Frames (descriptors) NAPI polls took from the RX ring (`rx.frames`). */
  readonly rxFrames: Counter;
  /** Frames posted to the TX ring (`tx.frames`). */
  readonly txFrames: Counter;
  /** Frames refused because the TX ring was full (`tx.ring-full`). */
  readonly txRingFull: Counter;
  /** NAPI poll calls (`napi.polls`). */
  readonly napiPolls: Counter;
  /** TX descriptors the TX hard IRQ reclaimed (`ixgbevf.tx.cleaned`). */
  readonly txCleaned: Counter;
  /** TX hard IRQs that hit the work limit and re-raised the cause with VTEICS (`ixgbevf.tx.rearms`). */
  readonly txRearms: Counter;
  /** RDT writes queued (`ixgbevf.rdt-writes`). */
  readonly rdtWrites: Counter;
  /** TDT writes queued (`ixgbevf.tdt-writes`). */
  readonly tdtWrites: Counter;
}

/** TXDCTL.WTHRESH the driver sets (ixgbevf_up_complete: "enable WTHRESH=8 descriptors"). */
const TXDCTL_WTHRESH_8 = 8 << 16;

/**
 * How the driver throttles its queue vectors: `dynamic` is 2.0.0-k2's default
 * (itr_setting = 1, its only mode: this version has no ethtool set_coalesce); `fixed`
 * programs one interval on both queue vectors at probe and never changes it (itr_setting = 0,
 * what `ethtool -C rx-usecs` does in later versions).
 */
export type InterruptThrottling =
  | ({
      /** The driver's dynamic throttling (ixgbevf 2.0.0-k2's). */
      readonly mode: 'dynamic';
    } & ItrParameters)
  | {
      /** One fixed EITR interval for both vectors. */
      readonly mode: 'fixed';
      /** The interval, µs. */
      readonly intervalUs: number;
    };

/** Options of the {@link Ixgbevf} driver: where its VF is (BARs, MSI-X vectors) and its rings. */
export interface IxgbevfOptions {
  /** The guest's physical memory (the rings and buffers are allocated in it). */
  readonly memory: PhysicalMemory;
  /** Guest-physical addresses of the VF's BAR0 (registers) and BAR3 (MSI-X table). */
  readonly bar0: number;
  /** Guest-physical address of the VF's BAR3 (MSI-X table). */
  readonly bar3: number;
  /** Where the MSI-X messages go (compatibility format, physical destination). */
  readonly apicId: number;
  /** The IDT vectors the kernel gave the RX, TX and mailbox interrupts. */
  readonly vectors: {
    /** The RX interrupt's vector. */
    readonly rx: number;
    /** The TX interrupt's vector. */
    readonly tx: number;
    /** The mailbox interrupt's vector. */
    readonly mailbox: number;
  };
  /** RX descriptors in the ring. */
  readonly rxRingSize: number;
  /** TX descriptors in the ring. */
  readonly txRingSize: number;
  /** NAPI weight (64). */
  readonly napiBudget: number;
  /** How the driver throttles its RX and TX vectors (dynamic or fixed). */
  readonly throttling: InterruptThrottling;
  /** The kernel's cycle costs. */
  readonly costs: GuestCosts;
  /** Where the driver's counters go (the kernel's scope: rx.frames, tx.frames…; ixgbevf.* beside). */
  readonly stats: ScopedStats;
}

/** The network stack above the driver (napi_gro_receive and friends): the kernel implements it. */
export interface IxgbevfStack {
  /**
   * A received frame of `length` bytes in the buffer at guest-physical `buffer`: the stack's
   * processing, returning its cycles (GRO, IP, TCP, sockets).
   */
  receive(length: number, buffer: number, now: number): number;
}

/** One queue vector's throttling state (struct ixgbevf_q_vector's eitr, rx_itr, tx_itr). */
export class QueueVector {
  /** MSI-X entry = EICR/EIMS bit number. */
  readonly index: number;
  /** q_vector->eitr: the rate the driver believes it programmed, ints/s. */
  eitr: number;
  /** The latency class of the vector's ring (rx_itr for the RX vector, tx_itr for the TX one). */
  itrClass: ItrClass = ITR_CLASS.LOWEST;
  /** The last VTEITR value the driver wrote. */
  register = 0;
  /** Throttling decisions that landed in each class (lowest, low, bulk). */
  readonly decisions: readonly [Counter, Counter, Counter];
  /** VTEITR writes the driver made for this vector. */
  readonly eitrWrites: Counter;

  constructor(index: number, eitr: number, stats: ScopedStats) {
    this.index = index;
    this.eitr = eitr;
    this.decisions = [
      stats.counter(`itr.${ITR_CLASS_NAME[0]}`),
      stats.counter(`itr.${ITR_CLASS_NAME[1]}`),
      stats.counter(`itr.${ITR_CLASS_NAME[2]}`),
    ];
    this.eitrWrites = stats.counter('eitr-writes');
  }
}

/**
 * ixgbevf 2.0.0-k2 as the model runs it. The probe/open sequence (`configureRings`,
 * `openWrites`), the RX hard IRQ (`rxHardIrq`), the NAPI poll (`poll`, `pollComplete`), the
 * TX hard IRQ (`txHardIrq`), transmit (`txSlot`, `xmit`), and the register writes those leave
 * pending (`flushWrite`).
 */
export class Ixgbevf {
  /** The options the driver was made with. */
  readonly options: IxgbevfOptions;
  /** The RX queue's vector. */
  readonly rxVector: QueueVector;
  /** The TX queue's vector. */
  readonly txVector: QueueVector;
  /** Frames (descriptors) the last poll took. */
  lastPollFrames = 0;

  private readonly memory: PhysicalMemory;
  /** Up to RX_REFILL_RUN consecutive read descriptors as postRxBuffers writes them (the zeros never change). */
  private readonly rxRun = new Uint8Array(RX_REFILL_RUN * RX_DESC.SIZE);
  /**
   * rxRunViews[k]: the first k descriptors of rxRun, one view per length made once, so that a
   * run of k is always the whole of the same array (the memory's copy from it can reuse what it
   * keeps for that array instead of making a view per write).
   */
  private readonly rxRunViews: Uint8Array[] = [];
  private readonly costs: GuestCosts;
  private readonly dynamic: (ItrParameters & { readonly mode: 'dynamic' }) | null;

  // RX ring (struct ixgbevf_ring): next_to_clean, next_to_use; totals since the last RX IRQ.
  private rxNextToClean = 0;
  private rxNextToUse = 0;
  private rxTotalBytes = 0;
  private rxTotalPackets = 0;
  // TX ring.
  private txNextToClean = 0;
  private txNextToUse = 0;
  private txTotalBytes = 0;
  private txTotalPackets = 0;
  private readonly txWorkLimit: number;

  // Register writes pending, in program order (BAR0 offset, value): a ring, allocated once.
  private readonly writeOffsets: Int32Array;
  private readonly writeValues: Uint32Array;
  private writeHead = 0;
  private writeCount = 0;

  /** The driver's counters. */
  readonly counters: IxgbevfCounters;

  constructor(options: IxgbevfOptions) {
    this.options = options;
    this.memory = options.memory;
    this.costs = options.costs;
    const t = options.throttling;
    this.dynamic = t.mode === 'dynamic' ? t : null;
    const s = options.stats;
    const d = s.scope('ixgbevf');
    // ixgbevf_configure_msix: the RX vector starts at eitr_param, a TX-only vector at half.
    const rxRate = t.mode === 'dynamic' ? t.eitrParam : 0;
    const txRate = t.mode === 'dynamic' ? t.eitrParam >>> 1 : 0;
    this.rxVector = new QueueVector(IXGBEVF_MSIX.RX, rxRate, d.scope('rx'));
    this.txVector = new QueueVector(IXGBEVF_MSIX.TX, txRate, d.scope('tx'));
    // tx_ring->work_limit = tx_ring->count (ixgbevf_setup_tx_resources).
    this.txWorkLimit = options.txRingSize;
    const capacity = options.txRingSize + options.napiBudget + 64;
    this.writeOffsets = new Int32Array(capacity);
    this.writeValues = new Uint32Array(capacity);
    for (let k = 0; k <= RX_REFILL_RUN; k++) this.rxRunViews.push(this.rxRun.subarray(0, k * RX_DESC.SIZE));
    this.counters = {
      rxFrames: s.counter('rx.frames'),
      txFrames: s.counter('tx.frames'),
      txRingFull: s.counter('tx.ring-full'),
      napiPolls: s.counter('napi.polls'),
      txCleaned: d.counter('tx.cleaned'),
      txRearms: d.counter('tx.rearms'),
      rdtWrites: d.counter('rdt-writes'),
      tdtWrites: d.counter('tdt-writes'),
    };
  }

  // ---- probe and open ---------------------------------------------------------------

  /**
   * ixgbevf_configure's ixgbevf_alloc_rx_buffers(ring, count): every RX descriptor gets its
   * buffer (in memory), then next_to_use = count − 1 (one descriptor is always held back).
   */
  configureRings(): void {
    const n = this.options.rxRingSize;
    for (let i = 0; i < n; i++) this.postRxBuffer(i);
    this.rxNextToClean = 0;
    this.rxNextToUse = n - 1;
    this.txNextToClean = 0;
    this.txNextToUse = 0;
  }

  /**
   * The register writes of probe and open, in order, as [guest-physical address, value]:
   * the MSI-X table (pci_enable_msix), ixgbevf_configure_tx/_rx, ixgbevf_up_complete
   * (TXDCTL.WTHRESH and ENABLE, RXDCTL.ENABLE, RDT), ixgbevf_configure_msix (IVARs, one EITR
   * per queue vector, VTEIAC for the queue and mailbox vectors; no VTEIAM: this version
   * masks the RX vector by hand) and ixgbevf_irq_enable (VTEIMS). Register reads and the
   * registers the NIC model lacks (PSRTYPE, DCA_TXCTRL) are left out. Called once.
   */
  openWrites(): readonly (readonly [number, number])[] {
    const o = this.options;
    const reg = (offset: number, value: number): readonly [number, number] => [o.bar0 + offset, value >>> 0];
    const out: (readonly [number, number])[] = [];
    const msiAddress = encodeCompatMsiAddress({ destination: o.apicId, redirectionHint: 0, destMode: 0 });
    const vectors = [o.vectors.rx, o.vectors.tx, o.vectors.mailbox];
    for (let i = 0; i < vectors.length; i++) {
      const e = o.bar3 + MSIX_TABLE_OFFSET + i * 16;
      out.push([e, msiAddress]);
      out.push([e + 4, 0]);
      out.push([
        e + 8,
        encodeCompatMsiData({ vector: vectors[i]!, deliveryMode: 0, level: 0, triggerMode: 0 }),
      ]);
      out.push([e + 12, 0]); // vector control: unmasked
    }
    out.push(reg(VF_REG.VFTDBAL, GUEST_LAYOUT.TX_RING));
    out.push(reg(VF_REG.VFTDBAH, 0));
    out.push(reg(VF_REG.VFTDLEN, o.txRingSize * TX_DESC.SIZE));
    out.push(reg(VF_REG.VFTDH, 0));
    out.push(reg(VF_REG.VFTDT, 0));
    out.push(reg(VF_REG.VFRDBAL, GUEST_LAYOUT.RX_RING));
    out.push(reg(VF_REG.VFRDBAH, 0));
    out.push(reg(VF_REG.VFRDLEN, o.rxRingSize * RX_DESC.SIZE));
    out.push(reg(VF_REG.VFRDH, 0));
    out.push(reg(VF_REG.VFRDT, 0));
    out.push(reg(VF_REG.VFSRRCTL, 2 | SRRCTL.DROP_EN)); // 2 KiB buffers, drop when full
    out.push(reg(VF_REG.VFTXDCTL, TXDCTL_WTHRESH_8));
    out.push(reg(VF_REG.VFTXDCTL, TXDCTL_WTHRESH_8 | TXDCTL.ENABLE));
    out.push(reg(VF_REG.VFRXDCTL, RXDCTL.ENABLE));
    out.push(reg(VF_REG.VFRDT, o.rxRingSize - 1)); // ixgbevf_rx_desc_queue_enable
    out.push(
      reg(
        VF_REG.VFIVAR0,
        ((IVAR.ALLOC_VAL | IXGBEVF_MSIX.RX) << IVAR.RX0_SHIFT) |
          ((IVAR.ALLOC_VAL | IXGBEVF_MSIX.TX) << IVAR.TX0_SHIFT),
      ),
    );
    const t = o.throttling;
    if (t.mode === 'dynamic') {
      this.rxVector.register = eitrForRate(this.rxVector.eitr);
      this.txVector.register = eitrForRate(this.txVector.eitr);
    } else {
      this.rxVector.register = eitrForInterval(t.intervalUs);
      this.txVector.register = eitrForInterval(t.intervalUs);
    }
    out.push(reg(VF_REG.VFEITR0 + 4 * IXGBEVF_MSIX.RX, this.rxVector.register));
    out.push(reg(VF_REG.VFEITR0 + 4 * IXGBEVF_MSIX.TX, this.txVector.register));
    out.push(reg(VF_REG.VFIVAR_MISC, IVAR.ALLOC_VAL | IXGBEVF_MSIX.MAILBOX));
    // VTEIAC = IXGBE_EIMS_ENABLE_MASK & ~IXGBE_EIMS_OTHER: every vector auto-clears its cause.
    out.push(reg(VF_REG.VFEIAC, 0x0008ffff));
    // ixgbevf_irq_enable: the "other" causes, then every queue (qmask ~0).
    out.push(reg(VF_REG.VFEIMS, 0x80080000));
    out.push(reg(VF_REG.VFEIMS, 0xffffffff));
    return out;
  }

  // ---- register writes left pending ------------------------------------------------

  private queueWrite(offset: number, value: number): void {
    const cap = this.writeOffsets.length;
    if (this.writeCount === cap) throw new Error('ixgbevf: pending register writes overflowed (model bug)');
    const at = (this.writeHead + this.writeCount) % cap;
    this.writeOffsets[at] = offset;
    this.writeValues[at] = value >>> 0;
    this.writeCount++;
  }

  /** Register writes the driver has queued and not yet issued. */
  get pendingWrites(): number {
    return this.writeCount;
  }

  /** The BAR0 offset and value of the i-th pending write (for tests and traces). */
  pendingWrite(i: number): {
    /** The register's BAR0 offset. */
    offset: number;
    /** The value to write. */
    value: number;
  } {
    const at = (this.writeHead + i) % this.writeOffsets.length;
    return { offset: this.writeOffsets[at]!, value: this.writeValues[at]! };
  }

  /** Issues the oldest pending register write as one CPU MMIO write; false when none is left. */
  flushWrite(cpu: Pick<CpuContext, 'mmioWrite'>): boolean {
    if (this.writeCount === 0) return false;
    const at = this.writeHead;
    this.writeHead = (at + 1) % this.writeOffsets.length;
    this.writeCount--;
    cpu.mmioWrite(this.options.bar0 + this.writeOffsets[at]!, 4, this.writeValues[at]!);
    return true;
  }

  // ---- receive ----------------------------------------------------------------------

  /**
   * ixgbevf_msix_clean_rx: zero the RX ring's totals, mask the RX vector (VTEIMC, queued),
   * and (the caller) napi_schedule.
   */
  rxHardIrq(): void {
    this.rxTotalBytes = 0;
    this.rxTotalPackets = 0;
    this.queueWrite(VF_REG.VFEIMC, 1 << IXGBEVF_MSIX.RX);
  }

  /**
   * ixgbevf_clean_rx_irq for one NAPI poll: takes up to the budget of descriptors the NIC
   * wrote back (DD), hands each frame to the stack, clears its status, and returns buffers
   * to the NIC every IXGBEVF_RX_BUFFER_WRITE descriptors and once more at the end (each an
   * RDT write, queued). Returns the poll's cycles (the stack's included); `lastPollFrames`
   * the descriptors it took.
   */
  poll(stack: IxgbevfStack, now: number): number {
    this.counters.napiPolls.inc();
    const c = this.costs;
    const mem = this.memory;
    const n = this.options.rxRingSize;
    const budget = this.options.napiBudget;
    // A poll takes fewer descriptors than the ring holds, so it never reads one it cleaned
    // itself again: the status clears can wait until the poll's end. Every poll ends with
    // next_to_use = next_to_clean − 1 (open starts so), so by then the refills have rewritten
    // (status 0) every descriptor this poll cleaned but the last, which is held back: its
    // clear is the only one left — the same bytes once the poll returns, one memory write per
    // poll instead of one per frame. Nothing reads the RX ring in between (the stack reads
    // buffers and writes the TX ring; the NIC does not run). Only with the whole ring in
    // memory: a clear out of range would be counted.
    const deferClear = budget < n && GUEST_LAYOUT.RX_RING + n * RX_DESC.SIZE <= mem.size;
    let cycles = c.napiPollBase;
    let frames = 0;
    let cleaned = 0;
    while (frames < budget) {
      const d = GUEST_LAYOUT.RX_RING + this.rxNextToClean * RX_DESC.SIZE;
      const status = mem.read8(d + RX_DESC.STATUS);
      if ((status & RXD_STAT.DD) === 0) break;
      const length = mem.read16(d + RX_DESC.LENGTH);
      const buffer = GUEST_LAYOUT.RX_BUFFERS + this.rxNextToClean * GUEST_LAYOUT.BUFFER_SIZE;
      cycles += c.rxPerFrame;
      // Frames here fit one 2 KiB buffer; a descriptor without EOP would be a chained one.
      if ((status & RXD_STAT.EOP) !== 0) {
        this.rxTotalBytes += length;
        this.rxTotalPackets++;
        cycles += stack.receive(length, buffer, now);
      }
      if (!deferClear) mem.write8(d + RX_DESC.STATUS, 0);
      this.rxNextToClean = this.rxNextToClean + 1 === n ? 0 : this.rxNextToClean + 1;
      frames++;
      cleaned++;
      if (cleaned >= IXGBEVF_RX_BUFFER_WRITE) {
        cycles += this.allocRxBuffers(cleaned);
        cleaned = 0;
      }
    }
    const unused = this.rxDescUnused();
    if (unused > 0) cycles += this.allocRxBuffers(unused);
    if (deferClear && frames > 0) {
      const last = this.rxNextToClean === 0 ? n - 1 : this.rxNextToClean - 1;
      mem.write8(GUEST_LAYOUT.RX_RING + last * RX_DESC.SIZE + RX_DESC.STATUS, 0);
    }
    this.counters.rxFrames.add(frames);
    this.lastPollFrames = frames;
    return cycles;
  }

  /**
   * The end of ixgbevf_clean_rxonly when the poll took less than its budget (after the
   * caller's napi_complete): with dynamic throttling, ixgbevf_set_itr_msix for the RX vector
   * (maybe a VTEITR write), then ixgbevf_irq_enable_queues (VTEIMS), both queued. Returns
   * the cycles of the ITR update.
   */
  pollComplete(): number {
    const cycles = this.setItr(this.rxVector, this.rxTotalPackets, this.rxTotalBytes);
    this.queueWrite(VF_REG.VFEIMS, 1 << IXGBEVF_MSIX.RX);
    return cycles;
  }

  /** IXGBE_DESC_UNUSED: descriptors neither owned by the NIC nor waiting to be cleaned. */
  private rxDescUnused(): number {
    const n = this.options.rxRingSize;
    return (this.rxNextToClean > this.rxNextToUse ? 0 : n) + this.rxNextToClean - this.rxNextToUse - 1;
  }

  /** ixgbevf_alloc_rx_buffers: refill `count` descriptors from next_to_use; RDT = next_to_use − 1. */
  private allocRxBuffers(count: number): number {
    const n = this.options.rxRingSize;
    const from = this.rxNextToUse;
    let i: number;
    if (count < n) {
      // Each descriptor once, in ring order: up to the ring's end, then from 0.
      const first = Math.min(count, n - from);
      this.postRxBuffers(from, first);
      if (count > first) this.postRxBuffers(0, count - first);
      i = from + count >= n ? from + count - n : from + count;
    } else {
      i = from;
      for (let k = 0; k < count; k++) {
        this.postRxBuffer(i);
        i = i + 1 === n ? 0 : i + 1;
      }
    }
    if (i !== this.rxNextToUse) {
      this.rxNextToUse = i;
      this.queueWrite(VF_REG.VFRDT, i === 0 ? n - 1 : i - 1);
      this.counters.rdtWrites.inc();
    }
    return count * this.costs.rxRefillPerBuffer;
  }

  /**
   * Writes the read descriptors `from` … `from + count − 1` (not past the ring's end), each its
   * buffer's address and then zeros: a run of consecutive descriptors (at most RX_REFILL_RUN,
   * not across a 4 KiB page, where the memory would split the copy) in one memory write; a
   * descriptor the memory does not wholly hold as four DWORD writes, each range-checked.
   */
  private postRxBuffers(from: number, count: number): void {
    const mem = this.memory;
    const run = this.rxRun;
    let i = from;
    let left = count;
    while (left > 0) {
      const d = GUEST_LAYOUT.RX_RING + i * RX_DESC.SIZE;
      let k = Math.min(left, RX_REFILL_RUN, (PAGE_SIZE - (d & (PAGE_SIZE - 1))) / RX_DESC.SIZE);
      // A run not wholly in memory goes descriptor by descriptor (each its own range check).
      if (d + k * RX_DESC.SIZE > mem.size) k = 1;
      if (d + k * RX_DESC.SIZE <= mem.size) {
        for (let j = 0; j < k; j++) {
          const address = GUEST_LAYOUT.RX_BUFFERS + (i + j) * GUEST_LAYOUT.BUFFER_SIZE;
          const o = j * RX_DESC.SIZE;
          run[o] = address;
          run[o + 1] = address >>> 8;
          run[o + 2] = address >>> 16;
          run[o + 3] = address >>> 24;
        }
        mem.writeBytes(d, this.rxRunViews[k]!, 0, k * RX_DESC.SIZE);
      } else {
        const address = GUEST_LAYOUT.RX_BUFFERS + i * GUEST_LAYOUT.BUFFER_SIZE;
        mem.write32(d, address);
        mem.write32(d + 4, 0);
        mem.write32(d + 8, 0);
        mem.write32(d + 12, 0);
      }
      i += k;
      left -= k;
    }
  }

  private postRxBuffer(i: number): void {
    this.postRxBuffers(i, 1);
  }

  // ---- transmit ---------------------------------------------------------------------

  /**
   * The buffer of the next free TX descriptor, where the stack builds its frame, or
   * `TX_SLOT.RING_FULL` (counted) when the ring is full (the queue would be stopped).
   */
  txSlot(): number {
    const next = this.txNextToUse + 1 === this.options.txRingSize ? 0 : this.txNextToUse + 1;
    if (next === this.txNextToClean) {
      this.counters.txRingFull.inc();
      return TX_SLOT.RING_FULL;
    }
    return GUEST_LAYOUT.TX_BUFFERS + this.txNextToUse * GUEST_LAYOUT.BUFFER_SIZE;
  }

  /**
   * ixgbevf_xmit_frame → ixgbevf_tx_queue for the frame of `length` bytes the stack built in
   * `txSlot()`'s buffer: one descriptor with EOP, IFCS and RS (every packet reports status),
   * then the TDT write (queued), one per packet as in this version. Call only after a
   * `txSlot()` that returned a buffer.
   */
  xmit(length: number): void {
    const i = this.txNextToUse;
    const d = GUEST_LAYOUT.TX_RING + i * TX_DESC.SIZE;
    const mem = this.memory;
    mem.write32(d, GUEST_LAYOUT.TX_BUFFERS + i * GUEST_LAYOUT.BUFFER_SIZE);
    mem.write32(d + 4, 0);
    mem.write32(d + 8, (length & 0xffff) | ((TXD_CMD.EOP | TXD_CMD.IFCS | TXD_CMD.RS) << 24));
    mem.write32(d + 12, 0);
    this.txNextToUse = i + 1 === this.options.txRingSize ? 0 : i + 1;
    this.queueWrite(VF_REG.VFTDT, this.txNextToUse);
    this.counters.tdtWrites.inc();
    this.counters.txFrames.inc();
  }

  /**
   * ixgbevf_msix_clean_tx: zero the TX ring's totals, ixgbevf_clean_tx_irq (reclaim every
   * descriptor the NIC marked done, up to the work limit; re-raise the TX cause with VTEICS
   * if the limit was reached), then with dynamic throttling ixgbevf_set_itr_msix for the TX
   * vector. No mask or unmask. Returns the handler's cycles; `lastTxCleaned` the packets
   * reclaimed.
   */
  txHardIrq(): number {
    this.txTotalBytes = 0;
    this.txTotalPackets = 0;
    const mem = this.memory;
    const n = this.options.txRingSize;
    let count = 0;
    while (this.txNextToClean !== this.txNextToUse && count < this.txWorkLimit) {
      const d = GUEST_LAYOUT.TX_RING + this.txNextToClean * TX_DESC.SIZE;
      if ((mem.read8(d + TX_DESC.STATUS) & TXD_STAT.DD) === 0) break;
      this.txTotalBytes += mem.read16(d + TX_DESC.LENGTH);
      this.txTotalPackets++;
      mem.write8(d + TX_DESC.STATUS, 0);
      this.txNextToClean = this.txNextToClean + 1 === n ? 0 : this.txNextToClean + 1;
      count++;
    }
    if (count >= this.txWorkLimit) {
      this.queueWrite(VF_REG.VFEICS, 1 << IXGBEVF_MSIX.TX);
      this.counters.txRearms.inc();
    }
    this.counters.txCleaned.add(count);
    this.lastTxCleaned = count;
    const c = this.costs;
    return (
      c.nicTxIrqHandler +
      count * c.txCleanPerFrame +
      this.setItr(this.txVector, this.txTotalPackets, this.txTotalBytes)
    );
  }

  /** Packets the last TX hard IRQ reclaimed. */
  lastTxCleaned = 0;

  // ---- dynamic throttling -----------------------------------------------------------

  /**
   * ixgbevf_set_itr_msix for a vector with one ring: reclassify the ring, let it drop one
   * step at most, map the class to a rate and, if the rate changed, queue the VTEITR write.
   * Nothing in fixed mode (itr_setting = 0). Returns the update's cycles.
   */
  private setItr(q: QueueVector, packets: number, bytes: number): number {
    const p = this.dynamic;
    if (p === null) return 0;
    const computed = updateItr(q.eitr, q.itrClass, packets, bytes, p.eitrLow, p.eitrHigh);
    q.itrClass = stepItrClass(q.itrClass, computed);
    q.decisions[q.itrClass].inc();
    const rate = itrClassRate(q.itrClass, p);
    if (rate !== q.eitr) {
      q.eitr = rate;
      q.register = eitrForNewRate(rate, p.doubleConversion);
      this.queueWrite(VF_REG.VFEITR0 + 4 * q.index, q.register);
      q.eitrWrites.inc();
    }
    return this.costs.itrUpdate;
  }
}
