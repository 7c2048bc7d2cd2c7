import { GUEST_VECTOR } from '@exitless/guest';
import { HOST_VECTOR } from '@exitless/hypervisor';
import { describeLocalApicConformance } from '@exitless/lapic/conformance';
import { describe, expect, it } from 'vitest';
import { main, TallyingLapic } from '../own-lapic.js';
import { shortRun } from './run.js';

describeLocalApicConformance('examples tallying LAPIC', (o) => new TallyingLapic(o));

describe('own-lapic.ts', () => {
  it("tallies the vectors core 0's LAPIC delivers: the host's in baseline and ELI, the guest's in DID", () => {
    const options = shortRun();
    const taken = main(options);
    const vectors = (mode: keyof typeof taken) => taken[mode].map(([v]) => v);
    const rx = HOST_VECTOR.ASSIGNED_BASE;
    for (const mode of ['baseline', 'eli'] as const) {
      expect(vectors(mode)).toEqual(expect.arrayContaining([rx, rx + 1]));
      expect(vectors(mode)).not.toContain(GUEST_VECTOR.NIC_RX);
    }
    expect(vectors('did')).toEqual(expect.arrayContaining([GUEST_VECTOR.NIC_RX, GUEST_VECTOR.NIC_TX]));
    expect(vectors('did')).not.toContain(rx);
    // UDP_RR: one RX and one TX interrupt per transaction.
    const count = (mode: keyof typeof taken, v: number) => taken[mode].find(([x]) => x === v)?.[1] ?? 0;
    expect(Math.abs(count('baseline', rx) - count('baseline', rx + 1))).toBeLessThanOrEqual(1);
    expect(options.lines).toHaveLength(3);
    expect(options.lines[2]).toMatch(
      /^did +[\d,]+ transactions\/s; core 0's LAPIC took 0x41 ×[\d,]+, 0x42 ×/,
    );
  });
});
