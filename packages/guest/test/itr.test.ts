import { EITR, eitrIntervalPs } from '@exitless/nic';
import { us } from '@exitless/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  eitrForNewRate,
  eitrForRate,
  eitrIntsPerSecToReg,
  ITR_CLASS,
  type ItrClass,
  type ItrParameters,
  itrClassRate,
  stepItrClass,
  updateItr,
} from '../src/index.js';

const { LOWEST, LOW, BULK } = ITR_CLASS;
/** ixgbevf_sw_init's eitr_low and eitr_high, bytes/µs. */
const EITR_LOW = 10;
const EITR_HIGH = 20;

const PARAMS: ItrParameters = {
  eitrParam: 20_000,
  eitrLow: EITR_LOW,
  eitrHigh: EITR_HIGH,
  lowestRate: 100_000,
  lowRate: 20_000,
  bulkRate: 8_000,
  doubleConversion: false,
};

describe('EITR_INTS_PER_SEC_TO_REG and ixgbevf_write_eitr', () => {
  it('converts a rate to 256 ns units with C integer division; 0 ints/s gives 8', () => {
    expect(eitrIntsPerSecToReg(20_000)).toBe(195); // 1e9 / 5,120,000 = 195.3
    expect(eitrIntsPerSecToReg(10_000)).toBe(390);
    expect(eitrIntsPerSecToReg(100_000)).toBe(39);
    expect(eitrIntsPerSecToReg(8_000)).toBe(488);
    expect(eitrIntsPerSecToReg(0)).toBe(8);
  });

  it('sets CNT_WDIS, and the interval lands in VTEITR bits 11:3 (2 µs units in the NIC model)', () => {
    expect(eitrForRate(20_000)).toBe((195 | EITR.CNT_WDIS) >>> 0);
    // 195 >> 3 = 24 units: the RX vector's 20,000 ints/s at probe is a 48 µs interval.
    expect(eitrIntervalPs(eitrForRate(20_000))).toBe(us(48));
    // The TX-only vector's half rate: 390 >> 3 = 48 units, 96 µs.
    expect(eitrIntervalPs(eitrForRate(10_000))).toBe(us(96));
  });

  it('one conversion programs the class rates: lowest 8 µs, low 48 µs, bulk 122 µs', () => {
    expect(eitrForNewRate(100_000, false)).toBe((39 | EITR.CNT_WDIS) >>> 0);
    expect(eitrIntervalPs(eitrForNewRate(100_000, false))).toBe(us(8));
    expect(eitrIntervalPs(eitrForNewRate(20_000, false))).toBe(us(48));
    expect(eitrIntervalPs(eitrForNewRate(8_000, false))).toBe(us(122));
  });

  it("2.0.0-k2's double conversion programs 464, 912 and 976 µs instead", () => {
    // set_itr_msix: 100,000 -> 39; write_eitr: 39 -> 1e9 / 9,984 = 100,160 = 0x18740.
    expect(eitrForNewRate(100_000, true)).toBe((100_160 | EITR.CNT_WDIS) >>> 0);
    expect(eitrIntervalPs(eitrForNewRate(100_000, true))).toBe(us(2 * 232));
    // 20,000 -> 195 -> 20,032 = 0x4E40: interval field 0x1C8 = 456.
    expect(eitrForNewRate(20_000, true)).toBe((20_032 | EITR.CNT_WDIS) >>> 0);
    expect(eitrIntervalPs(eitrForNewRate(20_000, true))).toBe(us(2 * 456));
    // 8,000 -> 488 -> 8,004 = 0x1F44: interval field 0x1E8 = 488.
    expect(eitrForNewRate(8_000, true)).toBe((8_004 | EITR.CNT_WDIS) >>> 0);
    expect(eitrIntervalPs(eitrForNewRate(8_000, true))).toBe(us(2 * 488));
  });
});

describe('ixgbevf_update_itr: bytes per µs of the nominal interval → latency class', () => {
  // At 20,000 ints/s the interval taken is 1e6 / 20,000 = 50 µs.
  const at20k = (itrClass: ItrClass, bytes: number, packets = 1) =>
    updateItr(20_000, itrClass, packets, bytes, EITR_LOW, EITR_HIGH);

  it('lowest → low only above eitr_low (10 bytes/µs; integer division)', () => {
    expect(at20k(LOWEST, 549)).toBe(LOWEST); // 10 bytes/µs
    expect(at20k(LOWEST, 550)).toBe(LOW); // 11
    // Even far above eitr_high, lowest only moves to low.
    expect(at20k(LOWEST, 1_000_000)).toBe(LOW);
  });

  it('low → bulk above eitr_high (20), low → lowest at or below eitr_low (10)', () => {
    expect(at20k(LOW, 1_049)).toBe(LOW); // 20
    expect(at20k(LOW, 1_050)).toBe(BULK); // 21
    expect(at20k(LOW, 550)).toBe(LOW); // 11
    expect(at20k(LOW, 549)).toBe(LOWEST); // 10
  });

  it('bulk → low at or below eitr_high (20), and only to low', () => {
    expect(at20k(BULK, 1_050)).toBe(BULK);
    expect(at20k(BULK, 1_049)).toBe(LOW);
    expect(at20k(BULK, 60)).toBe(LOW);
  });

  it('uses the rate the vector is at: the same bytes are bulk over 10 µs and low over 125 µs', () => {
    // 2,000 bytes: 200 bytes/µs at 100,000 ints/s, 16 at 8,000.
    expect(updateItr(100_000, LOW, 2, 2_000, EITR_LOW, EITR_HIGH)).toBe(BULK);
    expect(updateItr(8_000, BULK, 2, 2_000, EITR_LOW, EITR_HIGH)).toBe(LOW);
  });

  it('leaves the class alone when the interval saw no packets, whatever the bytes say', () => {
    for (const c of [LOWEST, LOW, BULK] as const) {
      expect(at20k(c, 0, 0)).toBe(c);
      expect(at20k(c, 1_000_000, 0)).toBe(c);
    }
  });
});

describe("ixgbevf_set_itr_msix's step rule and class rates", () => {
  it('moves up at once but down one step at a time', () => {
    expect(stepItrClass(LOWEST, BULK)).toBe(BULK);
    expect(stepItrClass(LOWEST, LOW)).toBe(LOW);
    expect(stepItrClass(BULK, LOWEST)).toBe(LOW);
    expect(stepItrClass(BULK, LOW)).toBe(LOW);
    expect(stepItrClass(LOW, LOWEST)).toBe(LOWEST);
    expect(stepItrClass(BULK, BULK)).toBe(BULK);
  });

  it('maps the classes to 100,000 / 20,000 / 8,000 ints/s', () => {
    expect([LOWEST, LOW, BULK].map((c) => itrClassRate(c, PARAMS))).toEqual([100_000, 20_000, 8_000]);
  });

  it('never moves a ring by more than one class per interrupt, whatever it carried', () => {
    const klass = fc.constantFrom<ItrClass>(LOWEST, LOW, BULK);
    const rate = fc.constantFrom(100_000, 20_000, 10_000, 8_000);
    fc.assert(
      fc.property(klass, rate, fc.nat(10_000), fc.nat(20_000_000), (current, eitr, packets, bytes) => {
        const next = stepItrClass(current, updateItr(eitr, current, packets, bytes, EITR_LOW, EITR_HIGH));
        expect(Math.abs(next - current)).toBeLessThanOrEqual(1);
        if (packets === 0) expect(next).toBe(current);
      }),
      { seed: 12, numRuns: 2000 },
    );
  });
});
