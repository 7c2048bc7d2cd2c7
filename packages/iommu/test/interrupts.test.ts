import {
  DELIVERY_MODE,
  DEST_MODE,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  encodeRemappableMsiAddress,
  encodeRemappableMsiData,
  requesterId,
  TRIGGER_MODE,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  FAULT_REASON,
  type PostedIrte,
  type RemappedIrte,
  readPostedInterruptDescriptor,
  SQ,
  SVT,
  VTD_REG,
  writePostedInterruptDescriptor,
  xapicIrteDestination,
} from '../src/index.js';
import { COSTS, PF_RID, rig, VF0_RID, VF1_RID } from './helpers.js';

function remapped(overrides: Partial<RemappedIrte> = {}): RemappedIrte {
  return {
    mode: 'remapped',
    present: true,
    faultProcessingDisable: false,
    destinationMode: DEST_MODE.PHYSICAL,
    redirectionHint: 0,
    triggerMode: TRIGGER_MODE.EDGE,
    deliveryMode: DELIVERY_MODE.FIXED,
    available: 0,
    vector: 0x41,
    destination: xapicIrteDestination(2),
    sourceId: VF0_RID,
    sourceIdQualifier: SQ.ALL,
    sourceValidationType: SVT.REQUESTER_ID,
    ...overrides,
  };
}

/** The MSI-X address/data a VF driver programs for IRT handle `handle`. */
function remappableMsi(handle: number, subhandle?: number): [number, number] {
  return [
    encodeRemappableMsiAddress({ handle, shv: subhandle !== undefined }),
    encodeRemappableMsiData({ subhandle: subhandle ?? 0 }),
  ];
}

const compat = (vector: number, destination: number): [number, number] => [
  encodeCompatMsiAddress({ destination, redirectionHint: 0, destMode: 0 }),
  encodeCompatMsiData({ vector, deliveryMode: 0, level: 1, triggerMode: 0 }),
];

describe('interrupt remapping: remapped format (VT-d §5.1, §9.10)', () => {
  it("a VF's remappable MSI-X write through a present IRTE reaches the target LAPIC with the IRTE's vector", () => {
    const r = rig();
    r.irt.write(5, remapped({ vector: 0x41, destination: xapicIrteDestination(2) }));
    const [a, d] = remappableMsi(5);
    r.iommu.msiWrite(a, d, VF0_RID);
    expect(r.sink.messages).toEqual([
      {
        vector: 0x41,
        deliveryMode: DELIVERY_MODE.FIXED,
        destMode: DEST_MODE.PHYSICAL,
        destination: 2,
        triggerMode: TRIGGER_MODE.EDGE,
        level: 1,
        redirectionHint: 0,
        x2apicDestination: false,
      },
    ]);
    expect(r.counter('ir.remapped')).toBe(1);
    expect(r.iommu.lastInterruptLatencyPs).toBe(COSTS.irteFetchPs);
  });

  it('copies DM, RH, TM and DLM from the IRTE, and uses the 32-bit DST as an x2APIC ID when EIME = 1', () => {
    const r = rig({ eime: true });
    r.irt.write(
      9,
      remapped({
        destinationMode: DEST_MODE.LOGICAL,
        redirectionHint: 1,
        triggerMode: TRIGGER_MODE.LEVEL,
        deliveryMode: DELIVERY_MODE.LOWEST_PRIORITY,
        vector: 0x99,
        destination: 0x0001_0004,
      }),
    );
    const [a, d] = remappableMsi(4, 5); // SHV: index = handle + subhandle = 9
    r.iommu.msiWrite(a, d, VF0_RID);
    expect(r.sink.messages[0]).toMatchObject({
      vector: 0x99,
      destMode: DEST_MODE.LOGICAL,
      redirectionHint: 1,
      triggerMode: TRIGGER_MODE.LEVEL,
      deliveryMode: DELIVERY_MODE.LOWEST_PRIORITY,
      destination: 0x0001_0004,
      x2apicDestination: true,
    });
  });

  it('the same write with a wrong source ID is blocked with reason 0x26 and recorded', () => {
    const r = rig();
    r.irt.write(5, remapped());
    const [a, d] = remappableMsi(5);
    r.iommu.msiWrite(a, d, VF1_RID);
    expect(r.sink.messages).toEqual([]);
    expect(r.counter('ir.blocked')).toBe(1);
    const rec = r.iommu.faultRecord(0);
    expect(rec.reason).toBe(FAULT_REASON.IR_SOURCE_ID);
    expect(rec.sourceId).toBe(VF1_RID);
    // FI bits 63:48 hold the interrupt index.
    expect(rec.faultInfo).toBe(5 * 2 ** 48);
  });

  it('SQ masks function bits as the SQ table says (bit 2; bits 2:1; bits 2:0)', () => {
    const sid = requesterId(3, 16, 0);
    const cases: [number, number, boolean][] = [
      [SQ.ALL, requesterId(3, 16, 4), false],
      [SQ.IGNORE_BIT_2, requesterId(3, 16, 4), true],
      [SQ.IGNORE_BIT_2, requesterId(3, 16, 2), false],
      [SQ.IGNORE_BITS_2_1, requesterId(3, 16, 6), true],
      [SQ.IGNORE_BITS_2_1, requesterId(3, 16, 1), false],
      [SQ.IGNORE_BITS_2_0, requesterId(3, 16, 7), true],
      [SQ.IGNORE_BITS_2_0, requesterId(3, 17, 0), false],
    ];
    for (const [sq, rid, passes] of cases) {
      const r = rig();
      r.irt.write(1, remapped({ sourceId: sid, sourceIdQualifier: sq }));
      const [a, d] = remappableMsi(1);
      r.iommu.msiWrite(a, d, rid);
      expect(r.sink.messages.length, `SQ ${sq} rid ${rid.toString(16)}`).toBe(passes ? 1 : 0);
    }
  });

  it('SVT = 10b checks the requester bus against SID[15:8]..SID[7:0]', () => {
    const r = rig();
    r.irt.write(1, remapped({ sourceValidationType: SVT.BUS_RANGE, sourceId: 0x0305 }));
    const [a, d] = remappableMsi(1);
    r.iommu.msiWrite(a, d, requesterId(3, 0, 0));
    r.iommu.msiWrite(a, d, requesterId(5, 31, 7));
    r.iommu.msiWrite(a, d, requesterId(2, 0, 0));
    r.iommu.msiWrite(a, d, requesterId(6, 0, 0));
    expect(r.sink.messages.length).toBe(2);
    expect(r.iommu.faultCounts[FAULT_REASON.IR_SOURCE_ID]).toBe(2);
  });

  it('SVT = 00b verifies nothing', () => {
    const r = rig();
    r.irt.write(1, remapped({ sourceValidationType: SVT.NONE, sourceId: 0 }));
    const [a, d] = remappableMsi(1);
    r.iommu.msiWrite(a, d, 0xbeef);
    expect(r.sink.messages.length).toBe(1);
  });

  it('an index beyond the table size is 0x21; a not-present IRTE is 0x22; reserved bits are 0x24', () => {
    const r = rig(); // 256 entries: S = 7
    expect(r.iommu.mmioRead(VTD_REG.IRTA, 4) & 0xf).toBe(7);
    r.iommu.msiWrite(...remappableMsi(256), VF0_RID);
    r.iommu.msiWrite(...remappableMsi(6), VF0_RID);
    r.irt.write(7, remapped());
    r.memory.write32(r.irt.address + 7 * 16, r.memory.read32(r.irt.address + 7 * 16) | 0x1000); // bit 12
    r.iommu.msiWrite(...remappableMsi(7), VF0_RID);
    // In xAPIC mode DST bits other than 15:8 are reserved too.
    r.irt.write(8, remapped({ destination: 0x0001_0200 }));
    r.iommu.msiWrite(...remappableMsi(8), VF0_RID);
    expect(r.sink.messages).toEqual([]);
    expect([0, 1, 2, 3].map((i) => r.iommu.faultRecord(i).reason)).toEqual([0x21, 0x22, 0x24, 0x24]);
  });

  it('remappable-format data bits 31:16 are reserved when SHV is set: 0x20, with the computed index in FI', () => {
    const r = rig();
    r.irt.write(3, remapped());
    // handle 1 + subhandle 2 = index 3; data bit 16 set.
    r.iommu.msiWrite(remappableMsi(1, 2)[0], 0x1_0002, VF0_RID);
    expect(r.sink.messages).toEqual([]);
    expect(r.iommu.faultRecord(0)).toMatchObject({
      fault: true,
      reason: FAULT_REASON.IR_REQUEST_RESERVED,
      sourceId: VF0_RID,
      faultInfo: 3 * 2 ** 48,
    });
  });

  it('with SHV clear the data payload is ignored (VT-d §5.1.2.2): bits 31:16 set still remap through handle', () => {
    const r = rig();
    r.irt.write(1, remapped({ vector: 0x52 }));
    // SHV = 0: bits 31:16 are not reserved and bits 15:0 are no subhandle (index stays 1).
    r.iommu.msiWrite(remappableMsi(1)[0], 0xffff_0007, VF0_RID);
    expect(r.sink.messages.map((m) => m.vector)).toEqual([0x52]);
    expect(r.iommu.faultRecord(0).fault).toBe(false);
    expect(r.counter('ir.blocked')).toBe(0);
  });

  it('FPD in the IRTE suppresses recording of its faults, which are still blocked and counted', () => {
    const r = rig();
    r.irt.write(1, remapped({ faultProcessingDisable: true }));
    r.iommu.msiWrite(...remappableMsi(1), VF1_RID);
    expect(r.sink.messages).toEqual([]);
    expect(r.iommu.faultRecord(0).fault).toBe(false);
    expect(r.counter('ir.blocked')).toBe(1);
    expect(r.counter('faults.fpd-suppressed')).toBe(1);
  });
});

describe('compatibility-format interrupts (VT-d §5.1.2.1)', () => {
  it('are blocked with 0x25 when remapping is on and CFI is not set', () => {
    const r = rig();
    r.iommu.msiWrite(...compat(0x30, 1), PF_RID);
    expect(r.sink.messages).toEqual([]);
    expect(r.iommu.faultRecord(0).reason).toBe(FAULT_REASON.IR_COMPAT_BLOCKED);
    expect(r.counter('ir.blocked')).toBe(1);
  });

  it('pass through unchanged when CFI is set (GSTS.CFIS), decoded as the SDM compatibility format', () => {
    const r = rig({ allowCompat: true });
    expect(r.iommu.mmioRead(VTD_REG.GSTS, 4) & 0x00800000).toBe(0x00800000);
    r.iommu.msiWrite(...compat(0x30, 1), PF_RID);
    expect(r.sink.messages[0]).toMatchObject({ vector: 0x30, destination: 1, x2apicDestination: false });
    expect(r.counter('ir.compat')).toBe(1);
  });

  it('are blocked when EIME is set, even with CFIS', () => {
    const r = rig({ allowCompat: true, eime: true });
    r.iommu.msiWrite(...compat(0x30, 1), PF_RID);
    expect(r.sink.messages).toEqual([]);
    expect(r.iommu.faultRecord(0).reason).toBe(FAULT_REASON.IR_COMPAT_BLOCKED);
  });

  it('pass through when interrupt remapping is off', () => {
    const r = rig({ interruptRemapping: false });
    r.iommu.msiWrite(...compat(0x31, 4), VF0_RID);
    expect(r.sink.messages[0]).toMatchObject({ vector: 0x31, destination: 4 });
  });
});

describe('posted format (VT-d §5.2, §9.11, §9.12)', () => {
  const PD = 0x3000040;
  function posted(overrides: Partial<PostedIrte> = {}): PostedIrte {
    return {
      mode: 'posted',
      present: true,
      faultProcessingDisable: false,
      urgent: false,
      vector: 0x63,
      descriptorAddress: PD,
      sourceId: VF0_RID,
      sourceIdQualifier: SQ.ALL,
      sourceValidationType: SVT.REQUESTER_ID,
      ...overrides,
    };
  }
  function descriptor(on: boolean, sn: boolean, ndst = 0x0300) {
    return {
      pir: new Uint32Array(8),
      outstandingNotification: on,
      suppressNotification: sn,
      notificationVector: 0xf2,
      notificationDestination: ndst,
    };
  }

  it('sets PIR bit `vector` and ON, then sends NV to NDST (fixed, physical, edge)', () => {
    const r = rig();
    writePostedInterruptDescriptor(r.memory, PD, descriptor(false, false));
    r.irt.write(3, posted());
    r.iommu.msiWrite(...remappableMsi(3), VF0_RID);
    const pd = readPostedInterruptDescriptor(r.memory, PD);
    expect(pd.pir[0x63 >>> 5]).toBe(1 << (0x63 & 31));
    expect(pd.outstandingNotification).toBe(true);
    expect(r.sink.messages).toEqual([
      {
        vector: 0xf2,
        deliveryMode: DELIVERY_MODE.FIXED,
        destMode: DEST_MODE.PHYSICAL,
        destination: 3, // NDST bits 15:8 in xAPIC mode
        triggerMode: TRIGGER_MODE.EDGE,
        level: 1,
        redirectionHint: 0,
        x2apicDestination: false,
      },
    ]);
    expect(r.counter('ir.posted')).toBe(1);
    expect(r.counter('ir.notified')).toBe(1);
    expect(r.iommu.lastInterruptLatencyPs).toBe(COSTS.irteFetchPs + COSTS.postedDescriptorUpdatePs);
  });

  it('with SN set, posts into PIR but sends no notification (counted as suppressed)', () => {
    const r = rig();
    writePostedInterruptDescriptor(r.memory, PD, descriptor(false, true));
    r.irt.write(3, posted());
    r.iommu.msiWrite(...remappableMsi(3), VF0_RID);
    const pd = readPostedInterruptDescriptor(r.memory, PD);
    expect(pd.pir[3]).toBe(1 << 3);
    expect(pd.outstandingNotification).toBe(false);
    expect(r.sink.messages).toEqual([]);
    expect(r.counter('ir.suppressed')).toBe(1);
  });

  it('URG overrides SN; ON already set suppresses a second notification', () => {
    const r = rig();
    writePostedInterruptDescriptor(r.memory, PD, descriptor(false, true));
    r.irt.write(3, posted({ urgent: true }));
    r.irt.write(4, posted({ urgent: true, vector: 0x64 }));
    r.iommu.msiWrite(...remappableMsi(3), VF0_RID);
    r.iommu.msiWrite(...remappableMsi(4), VF0_RID);
    expect(r.sink.messages.length).toBe(1);
    expect(readPostedInterruptDescriptor(r.memory, PD).pir[3]).toBe((1 << 3) | (1 << 4));
    expect(r.counter('ir.notified')).toBe(1);
    expect(r.counter('ir.suppressed')).toBe(1);
  });

  it('uses the 32-bit NDST as an x2APIC ID when EIME = 1', () => {
    const r = rig({ eime: true });
    writePostedInterruptDescriptor(r.memory, PD, descriptor(false, false, 0x1_0007));
    r.irt.write(3, posted());
    r.iommu.msiWrite(...remappableMsi(3), VF0_RID);
    expect(r.sink.messages[0]).toMatchObject({
      vector: 0xf2,
      destination: 0x1_0007,
      x2apicDestination: true,
    });
  });

  it('AVAIL (IRTE bits 11:8) is software-available in the posted format: it posts and notifies, with no fault', () => {
    const r = rig();
    writePostedInterruptDescriptor(r.memory, PD, descriptor(false, false));
    r.irt.write(3, posted({ available: 0xf }));
    expect(r.memory.read32(r.irt.address + 3 * 16) & 0xf00).toBe(0xf00);
    r.iommu.msiWrite(...remappableMsi(3), VF0_RID);
    expect(readPostedInterruptDescriptor(r.memory, PD).pir[3]).toBe(1 << 3);
    expect(r.sink.messages.map((m) => m.vector)).toEqual([0xf2]);
    expect(r.iommu.faultCounts[FAULT_REASON.IR_IRTE_RESERVED]).toBe(0);
  });

  it('descriptor bits 511:320 are reserved too: one set blocks the request with 0x28 and leaves PIR and ON alone', () => {
    const r = rig();
    writePostedInterruptDescriptor(r.memory, PD, descriptor(false, false));
    r.memory.write32(PD + 40, 1); // bit 320
    r.irt.write(3, posted());
    r.iommu.msiWrite(...remappableMsi(3), VF0_RID);
    const pd = readPostedInterruptDescriptor(r.memory, PD);
    expect([...pd.pir]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(pd.outstandingNotification).toBe(false);
    expect(r.sink.messages).toEqual([]);
    expect(r.iommu.faultRecord(0)).toMatchObject({ fault: true, reason: 0x28, faultInfo: 3 * 2 ** 48 });
    expect(r.counter('ir.posted')).toBe(0);
  });

  it('a reserved bit in the descriptor blocks the request with 0x28; source-ID validation applies (0x26)', () => {
    const r = rig();
    writePostedInterruptDescriptor(r.memory, PD, descriptor(false, false));
    r.memory.write32(PD + 32, r.memory.read32(PD + 32) | 0x4); // bit 258
    r.irt.write(3, posted());
    r.iommu.msiWrite(...remappableMsi(3), VF0_RID);
    r.iommu.msiWrite(...remappableMsi(3), VF1_RID);
    expect(r.sink.messages).toEqual([]);
    expect(readPostedInterruptDescriptor(r.memory, PD).pir[3]).toBe(0);
    expect([r.iommu.faultRecord(0).reason, r.iommu.faultRecord(1).reason]).toEqual([0x28, 0x26]);
  });
});

describe('delivery timing with a simulator', () => {
  it('delivers after the remapping latency, in arrival order', () => {
    const r = rig({ delayed: true });
    r.irt.write(1, remapped({ vector: 0x50 }));
    r.irt.write(2, remapped({ vector: 0x51 }));
    r.iommu.msiWrite(...remappableMsi(1), VF0_RID);
    r.iommu.msiWrite(...remappableMsi(2), VF0_RID);
    expect(r.sink.messages).toEqual([]);
    r.sim.runUntilEmpty();
    expect(r.sink.messages.map((m) => m.vector)).toEqual([0x50, 0x51]);
    expect(r.sink.times).toEqual([COSTS.irteFetchPs, COSTS.irteFetchPs]);
  });
});

describe('DMA writes to the interrupt range are interrupt requests (VT-d, interrupt address range)', () => {
  it('a DWORD write of a remappable MSI is remapped like msiWrite', () => {
    const r = rig();
    r.irt.write(5, remapped({ vector: 0x42 }));
    const [a, d] = remappableMsi(5);
    const b = Uint8Array.of(d & 0xff, (d >>> 8) & 0xff, 0, 0);
    expect(r.iommu.dmaWrite(VF0_RID, a, b, 0, 4)).toBe(0);
    expect(r.sink.messages[0]?.vector).toBe(0x42);
  });
});
