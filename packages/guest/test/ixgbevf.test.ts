import { EITR, eitrForInterval, IVAR, MSIX_TABLE_OFFSET, TX_DESC, TXD_CMD, VF_REG } from '@exitless/nic';
import { describe, expect, it } from 'vitest';
import { eitrForNewRate, GUEST_LAYOUT, ITR_CLASS, IXGBEVF_MSIX, TX_SLOT } from '../src/index.js';
import {
  BAR0,
  BAR3,
  COSTS,
  DYNAMIC,
  drain,
  makeDriver,
  nicCompletesTx,
  nicWritesBack,
  pending,
} from './driver-helpers.js';

const RX = 1 << IXGBEVF_MSIX.RX;
const EITR_RX = VF_REG.VFEITR0 + 4 * IXGBEVF_MSIX.RX;
const EITR_TX = VF_REG.VFEITR0 + 4 * IXGBEVF_MSIX.TX;
const FULL = 1514; // a full-size frame without FCS, as the NIC writes its length back
const SMALL = 60;

/** The value the open sequence writes last to `reg` (a BAR0 offset). */
function lastWrite(writes: readonly (readonly [number, number])[], reg: number): number | undefined {
  let v: number | undefined;
  for (const [a, value] of writes) if (a === BAR0 + reg) v = value;
  return v;
}

describe('probe and open (ixgbevf_open → ixgbevf_configure, ixgbevf_up_complete, ixgbevf_irq_enable)', () => {
  it('three MSI-X entries: RX, TX and mailbox, each its own vector', () => {
    const { driver } = makeDriver();
    const writes = driver.openWrites();
    const data = (entry: number) => writes.find(([a]) => a === BAR3 + MSIX_TABLE_OFFSET + entry * 16 + 8)![1];
    expect([data(0), data(1), data(2)].map((d) => d & 0xff)).toEqual([0x41, 0x42, 0x43]);
  });

  it('IVAR: RX queue 0 → vector 0, TX queue 0 → vector 1, the mailbox → vector 2', () => {
    const writes = makeDriver().driver.openWrites();
    expect(lastWrite(writes, VF_REG.VFIVAR0)).toBe(
      ((IVAR.ALLOC_VAL | 0) << IVAR.RX0_SHIFT) | ((IVAR.ALLOC_VAL | 1) << IVAR.TX0_SHIFT),
    );
    expect(lastWrite(writes, VF_REG.VFIVAR_MISC)).toBe(IVAR.ALLOC_VAL | 2);
  });

  it('dynamic: EITR0 at eitr_param (20,000/s), EITR1 at half for the TX-only vector, both with CNT_WDIS', () => {
    const writes = makeDriver().driver.openWrites();
    expect(lastWrite(writes, EITR_RX)).toBe((195 | EITR.CNT_WDIS) >>> 0);
    expect(lastWrite(writes, EITR_TX)).toBe((390 | EITR.CNT_WDIS) >>> 0);
    // The mailbox vector's EITR is never written.
    expect(lastWrite(writes, VF_REG.VFEITR0 + 8)).toBeUndefined();
  });

  it('fixed: the one interval on both queue vectors', () => {
    const writes = makeDriver({ mode: 'fixed', intervalUs: 20 }).driver.openWrites();
    expect(lastWrite(writes, EITR_RX)).toBe(eitrForInterval(20));
    expect(lastWrite(writes, EITR_TX)).toBe(eitrForInterval(20));
  });

  it('every vector auto-clears (VTEIAC), none auto-masks (no VTEIAM write), all enabled by VTEIMS', () => {
    const writes = makeDriver().driver.openWrites();
    expect(lastWrite(writes, VF_REG.VFEIAC)! & 0x7).toBe(0x7);
    expect(lastWrite(writes, VF_REG.VFEIAM)).toBeUndefined();
    expect(lastWrite(writes, VF_REG.VFEIMS)! & 0x7).toBe(0x7);
    // The rings: 512 RX descriptors handed over up to RDT = 511 after RXDCTL.ENABLE.
    expect(lastWrite(writes, VF_REG.VFRDT)).toBe(511);
    expect(lastWrite(writes, VF_REG.VFTDLEN)).toBe(1024 * TX_DESC.SIZE);
  });
});

describe('RX: hard IRQ, NAPI poll, completion', () => {
  it('the hard IRQ masks the RX vector with VTEIMC (and nothing else)', () => {
    const { driver } = makeDriver();
    driver.rxHardIrq();
    expect(pending(driver)).toEqual([[VF_REG.VFEIMC, RX]]);
  });

  it('a poll hands every written-back frame to the stack and returns buffers every 16 descriptors and at the end', () => {
    const { driver, memory, stack } = makeDriver();
    driver.rxHardIrq();
    drain(driver);
    nicWritesBack(memory, 0, new Array(40).fill(FULL));
    const cycles = driver.poll(stack, 0);
    expect(driver.lastPollFrames).toBe(40);
    expect(stack.frames).toHaveLength(40);
    // ixgbevf_alloc_rx_buffers from next_to_use = 511: 16 → RDT 14, 16 more → RDT 30, the last 8 → RDT 38.
    expect(pending(driver)).toEqual([
      [VF_REG.VFRDT, 14],
      [VF_REG.VFRDT, 30],
      [VF_REG.VFRDT, 38],
    ]);
    expect(cycles).toBe(COSTS.napiPollBase + 40 * (COSTS.rxPerFrame + 5 + COSTS.rxRefillPerBuffer));
    // The descriptors' status was cleared and their buffers re-posted.
    expect(memory.read8(GUEST_LAYOUT.RX_RING + 12)).toBe(0);
    expect(memory.read32(GUEST_LAYOUT.RX_RING)).toBe(GUEST_LAYOUT.RX_BUFFERS);
  });

  it('a poll takes at most the NAPI weight', () => {
    const { driver, memory, stack } = makeDriver();
    nicWritesBack(memory, 0, new Array(100).fill(FULL));
    driver.poll(stack, 0);
    expect(driver.lastPollFrames).toBe(64);
    driver.poll(stack, 0);
    expect(driver.lastPollFrames).toBe(36);
  });

  it('completion reclassifies the RX ring, writes VTEITR only when the rate changes, then unmasks (VTEIMS)', () => {
    const { driver, memory, stack } = makeDriver();
    let at = 0;
    const interrupt = (lengths: number[]) => {
      driver.rxHardIrq();
      drain(driver);
      at = nicWritesBack(memory, at, lengths);
      driver.poll(stack, 0);
      drain(driver);
      const cycles = driver.pollComplete();
      expect(cycles).toBe(COSTS.itrUpdate);
      return pending(driver);
    };
    // 40 full frames over the 50 µs of 20,000 ints/s: 1,211 bytes/µs. Lowest → low (one step),
    // whose rate is the 20,000 already programmed: no VTEITR write.
    expect(interrupt(new Array(40).fill(FULL))).toEqual([[VF_REG.VFEIMS, RX]]);
    expect(driver.rxVector.itrClass).toBe(ITR_CLASS.LOW);
    drain(driver);
    // Low → bulk: 8,000 ints/s.
    expect(interrupt(new Array(40).fill(FULL))).toEqual([
      [EITR_RX, eitrForNewRate(8_000, false)],
      [VF_REG.VFEIMS, RX],
    ]);
    expect(driver.rxVector.itrClass).toBe(ITR_CLASS.BULK);
    expect(driver.rxVector.eitr).toBe(8_000);
    drain(driver);
    // One small frame: the ring computes low (0 bytes/µs ≤ 20) — bulk drops one step to low…
    expect(interrupt([SMALL])).toEqual([
      [EITR_RX, eitrForNewRate(20_000, false)],
      [VF_REG.VFEIMS, RX],
    ]);
    expect(driver.rxVector.itrClass).toBe(ITR_CLASS.LOW);
    drain(driver);
    // …and only the next interrupt reaches lowest, 100,000 ints/s.
    expect(interrupt([SMALL])).toEqual([
      [EITR_RX, eitrForNewRate(100_000, false)],
      [VF_REG.VFEIMS, RX],
    ]);
    expect(driver.rxVector.itrClass).toBe(ITR_CLASS.LOWEST);
  });

  it('an interrupt whose polls found no packets leaves the class and the EITR alone', () => {
    const { driver, memory, stack } = makeDriver();
    nicWritesBack(memory, 0, new Array(40).fill(FULL));
    driver.rxHardIrq();
    driver.poll(stack, 0);
    drain(driver);
    driver.pollComplete();
    drain(driver);
    expect(driver.rxVector.itrClass).toBe(ITR_CLASS.LOW);
    driver.rxHardIrq();
    drain(driver);
    driver.poll(stack, 0);
    expect(driver.lastPollFrames).toBe(0);
    driver.pollComplete();
    expect(pending(driver)).toEqual([[VF_REG.VFEIMS, RX]]);
    expect(driver.rxVector.itrClass).toBe(ITR_CLASS.LOW);
  });

  it("with the double conversion, the class change programs 2.0.0-k2's value", () => {
    const { driver, memory, stack } = makeDriver({ ...DYNAMIC, doubleConversion: true });
    nicWritesBack(memory, 0, [SMALL]);
    driver.rxHardIrq();
    driver.poll(stack, 0);
    drain(driver);
    driver.pollComplete();
    expect(pending(driver)).toEqual([
      [EITR_RX, (100_160 | EITR.CNT_WDIS) >>> 0],
      [VF_REG.VFEIMS, RX],
    ]);
  });

  it('fixed throttling never touches VTEITR after probe', () => {
    const { driver, memory, stack } = makeDriver({ mode: 'fixed', intervalUs: 8 });
    nicWritesBack(memory, 0, new Array(40).fill(FULL));
    driver.rxHardIrq();
    driver.poll(stack, 0);
    drain(driver);
    expect(driver.pollComplete()).toBe(0);
    expect(pending(driver)).toEqual([[VF_REG.VFEIMS, RX]]);
  });
});

describe('TX: transmit and the TX hard IRQ (ixgbevf_msix_clean_tx)', () => {
  /** Posts `n` frames of `length` bytes; returns the TDT writes they queued. */
  function send(
    driver: ReturnType<typeof makeDriver>['driver'],
    n: number,
    length: number,
  ): [number, number][] {
    for (let i = 0; i < n; i++) {
      expect(driver.txSlot()).toBeGreaterThanOrEqual(GUEST_LAYOUT.TX_BUFFERS);
      driver.xmit(length);
    }
    return pending(driver);
  }

  it('each packet is one legacy descriptor with EOP, IFCS and RS, and its own TDT write', () => {
    const { driver, memory } = makeDriver();
    expect(send(driver, 3, 66)).toEqual([
      [VF_REG.VFTDT, 1],
      [VF_REG.VFTDT, 2],
      [VF_REG.VFTDT, 3],
    ]);
    const d = GUEST_LAYOUT.TX_RING + TX_DESC.SIZE;
    expect(memory.read32(d)).toBe(GUEST_LAYOUT.TX_BUFFERS + GUEST_LAYOUT.BUFFER_SIZE);
    expect(memory.read16(d + TX_DESC.LENGTH)).toBe(66);
    expect(memory.read8(d + TX_DESC.CMD)).toBe(TXD_CMD.EOP | TXD_CMD.IFCS | TXD_CMD.RS);
  });

  it('reclaims what the NIC completed, in the hard IRQ, with no mask or unmask of any vector', () => {
    const { driver, memory } = makeDriver();
    send(driver, 5, 66);
    drain(driver);
    nicCompletesTx(memory, 0, 3);
    const cycles = driver.txHardIrq();
    expect(driver.lastTxCleaned).toBe(3);
    const writes = pending(driver);
    expect(writes.some(([reg]) => reg === VF_REG.VFEIMC || reg === VF_REG.VFEIMS)).toBe(false);
    // 3 × 66 bytes over the TX vector's 100 µs (10,000 ints/s): 1 byte/µs, lowest — 100,000 ints/s.
    expect(writes).toEqual([[EITR_TX, eitrForNewRate(100_000, false)]]);
    expect(driver.txVector.itrClass).toBe(ITR_CLASS.LOWEST);
    expect(cycles).toBe(COSTS.nicTxIrqHandler + 3 * COSTS.txCleanPerFrame + COSTS.itrUpdate);
    // The rest stays until done; the next interrupt takes one (6 bytes/µs over 10 µs): still
    // lowest, the rate already programmed, so no write.
    drain(driver);
    nicCompletesTx(memory, 3, 1);
    driver.txHardIrq();
    expect(driver.lastTxCleaned).toBe(1);
    expect(pending(driver)).toEqual([]);
  });

  it('a TX interrupt with nothing to reclaim keeps the class; its rate is still written if it differs', () => {
    const { driver } = makeDriver();
    driver.txHardIrq();
    expect(driver.lastTxCleaned).toBe(0);
    // The class stays lowest (its initial value) — but q_vector->eitr is still the probe's
    // 10,000, so ixgbevf_set_itr_msix writes lowest's 100,000 all the same, as the driver does.
    expect(driver.txVector.itrClass).toBe(ITR_CLASS.LOWEST);
    expect(pending(driver)).toEqual([[EITR_TX, eitrForNewRate(100_000, false)]]);
    drain(driver);
    driver.txHardIrq();
    expect(pending(driver)).toEqual([]);
  });

  it('bulk transmit moves the TX vector to bulk, one step at a time', () => {
    const { driver, memory } = makeDriver();
    let at = 0;
    const burst = () => {
      send(driver, 100, FULL);
      drain(driver);
      nicCompletesTx(memory, at, 100);
      at += 100;
      driver.txHardIrq();
      return driver.txVector.itrClass;
    };
    expect([burst(), burst(), burst()]).toEqual([ITR_CLASS.LOW, ITR_CLASS.BULK, ITR_CLASS.BULK]);
  });

  it('a full ring refuses the next frame (one descriptor always stays free)', () => {
    const { driver } = makeDriver(DYNAMIC, { tx: 8 });
    send(driver, 7, 66);
    expect(driver.txSlot()).toBe(TX_SLOT.RING_FULL);
  });
});
