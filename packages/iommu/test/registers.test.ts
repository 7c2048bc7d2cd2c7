import { encodeCompatMsiAddress } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  FECTL,
  FSTS,
  GCMD,
  GSTS,
  globalCommand,
  IommuConfigError,
  readRegister64,
  VTD_REG,
  writeRegister64,
} from '../src/index.js';
import { rig, VF0_RID } from './helpers.js';

describe('capability registers (VT-d §10.4.1–10.4.3)', () => {
  it('VER is 1.0; CAP advertises 16-bit DIDs, SAGAW 48-bit 4-level, MGAW 47, FRO, SLLPS 2 MiB, PSI, NFR, MAMV, PI', () => {
    const { iommu } = rig({ faultRecordingRegisters: 4 });
    expect(iommu.mmioRead(VTD_REG.VER, 4)).toBe(0x10);
    // CAP sets bit 59, beyond 2^53: read it as two exact 32-bit halves.
    const lo = iommu.mmioRead(VTD_REG.CAP, 4);
    const hi = iommu.mmioRead(VTD_REG.CAP + 4, 4);
    const field = (at: number, bits: number) =>
      at >= 32 ? Math.floor(hi / 2 ** (at - 32)) % 2 ** bits : Math.floor(lo / 2 ** at) % 2 ** bits;
    expect(field(0, 3)).toBe(6); // ND
    expect(field(8, 5)).toBe(0b00100); // SAGAW
    expect(field(16, 6)).toBe(47); // MGAW
    expect(field(24, 10) * 16).toBe(VTD_REG.FRCD); // FRO
    expect(field(34, 4)).toBe(0b0001); // SLLPS
    expect(field(39, 1)).toBe(1); // PSI
    expect(field(40, 8)).toBe(3); // NFR - 1
    expect(field(48, 6)).toBe(9); // MAMV
    expect(field(59, 1)).toBe(1); // PI
    expect(field(7, 1)).toBe(0); // CM
  });

  it('ECAP advertises C, IR, EIM, PT and IRO; not QI, DT or SC', () => {
    const { iommu } = rig();
    const ecap = iommu.mmioRead(VTD_REG.ECAP, 4);
    expect(ecap & 0xff).toBe(0x1 | 0x8 | 0x10 | 0x40);
    expect(((ecap >>> 8) & 0x3ff) * 16).toBe(VTD_REG.IVA);
  });

  it('64-bit registers read back as written through two 32-bit halves (RTADDR)', () => {
    const { iommu } = rig({ dmaRemapping: false });
    writeRegister64(iommu, VTD_REG.RTADDR, 0x12_3456_7000);
    expect(readRegister64(iommu, VTD_REG.RTADDR)).toBe(0x12_3456_7000);
  });

  it('writes to read-only registers change nothing', () => {
    const { iommu, counter } = rig();
    const cap = iommu.mmioRead(VTD_REG.CAP, 4);
    iommu.mmioWrite(VTD_REG.CAP, 4, 0);
    iommu.mmioWrite(VTD_REG.GSTS, 4, 0);
    expect(iommu.mmioRead(VTD_REG.CAP, 4)).toBe(cap);
    expect(iommu.translationEnabled).toBe(true);
    expect(counter('mmio.ignored-writes')).toBe(2);
  });
});

describe('GCMD / GSTS (VT-d §10.4.4–10.4.5)', () => {
  it('status starts clear; SRTP sets RTPS, TE sets TES, IRE sets IRES, one command per write', () => {
    const { iommu } = rig({ dmaRemapping: false, interruptRemapping: false });
    expect(iommu.mmioRead(VTD_REG.GSTS, 4)).toBe(0);
    writeRegister64(iommu, VTD_REG.RTADDR, 0x100000);
    globalCommand(iommu, GCMD.SRTP, true);
    expect(iommu.mmioRead(VTD_REG.GSTS, 4)).toBe(GSTS.RTPS);
    globalCommand(iommu, GCMD.TE, true);
    expect(iommu.mmioRead(VTD_REG.GSTS, 4)).toBe((GSTS.RTPS | GSTS.TES) >>> 0);
    globalCommand(iommu, GCMD.TE, false);
    expect(iommu.mmioRead(VTD_REG.GSTS, 4)).toBe(GSTS.RTPS);
    expect(iommu.mmioRead(VTD_REG.GCMD, 4)).toBe(0); // write-only
  });

  it('a write that changes two commands at once is ignored and counted', () => {
    const { iommu, counter } = rig({ dmaRemapping: false, interruptRemapping: false });
    iommu.mmioWrite(VTD_REG.GCMD, 4, (GCMD.TE | GCMD.IRE) >>> 0);
    expect(iommu.mmioRead(VTD_REG.GSTS, 4)).toBe(0);
    expect(counter('mmio.ignored-writes')).toBe(1);
  });

  it('QIE is refused (no queued invalidation): QIES stays clear', () => {
    const { iommu } = rig({ dmaRemapping: false, interruptRemapping: false });
    globalCommand(iommu, GCMD.QIE, true);
    expect(iommu.mmioRead(VTD_REG.GSTS, 4) & GSTS.QIES).toBe(0);
  });

  it('SIRTP latches IRTA: changing IRTA afterwards has no effect until the next SIRTP', () => {
    const r = rig();
    r.irt.write(1, {
      mode: 'remapped',
      present: true,
      faultProcessingDisable: false,
      destinationMode: 0,
      redirectionHint: 0,
      triggerMode: 0,
      deliveryMode: 0,
      available: 0,
      vector: 0x44,
      destination: 0x100,
      sourceId: 0,
      sourceIdQualifier: 0,
      sourceValidationType: 0,
    });
    writeRegister64(r.iommu, VTD_REG.IRTA, 0x800000 + 7);
    r.iommu.msiWrite(0xfee00030, 0, VF0_RID); // handle 1, remappable
    expect(r.sink.messages[0]?.vector).toBe(0x44);
    globalCommand(r.iommu, GCMD.SIRTP, true);
    r.iommu.msiWrite(0xfee00030, 0, VF0_RID);
    expect(r.sink.messages.length).toBe(1); // the new (empty) table: IRTE not present
  });
});

describe('primary fault logging and the fault event (VT-d §7.3.1, §7.4, §10.4.9–10.4.14)', () => {
  function faultOnce(r: ReturnType<typeof rig>): void {
    r.iommu.dmaWrite(VF0_RID, 0x1000, Uint8Array.of(1, 2, 3, 4), 0, 4); // root entry not present
  }

  it('records into consecutive registers; F is RW1C; PPF follows the F bits', () => {
    const r = rig();
    faultOnce(r);
    faultOnce(r);
    expect(r.iommu.mmioRead(VTD_REG.FRCD + 12, 4) >>> 31).toBe(1);
    expect(r.iommu.mmioRead(VTD_REG.FRCD + 16 + 12, 4) >>> 31).toBe(1);
    r.iommu.mmioWrite(VTD_REG.FRCD + 12, 4, 0x80000000);
    expect(r.iommu.mmioRead(VTD_REG.FSTS, 4) & FSTS.PPF).toBe(FSTS.PPF);
    r.iommu.mmioWrite(VTD_REG.FRCD + 16 + 12, 4, 0x80000000);
    expect(r.iommu.mmioRead(VTD_REG.FSTS, 4) & FSTS.PPF).toBe(0);
  });

  it('when the next register still holds a fault, PFO is set and later faults are not recorded until PFO is cleared', () => {
    const r = rig({ faultRecordingRegisters: 2 });
    faultOnce(r);
    faultOnce(r);
    faultOnce(r);
    expect(r.iommu.mmioRead(VTD_REG.FSTS, 4) & FSTS.PFO).toBe(FSTS.PFO);
    expect(r.counter('faults.recorded')).toBe(2);
    expect(r.counter('faults.overflow')).toBe(1);
    r.iommu.mmioWrite(VTD_REG.FRCD + 12, 4, 0x80000000);
    faultOnce(r);
    expect(r.counter('faults.overflow')).toBe(2); // PFO still set
    r.iommu.mmioWrite(VTD_REG.FSTS, 4, FSTS.PFO);
    faultOnce(r);
    expect(r.counter('faults.recorded')).toBe(3);
    expect(r.counter('dma.faults')).toBe(5);
  });

  it('IM (set at reset) holds the fault event as IP; clearing IM sends FEDATA to FEADDR', () => {
    const r = rig();
    r.iommu.mmioWrite(VTD_REG.FEDATA, 4, 0xee);
    r.iommu.mmioWrite(
      VTD_REG.FEADDR,
      4,
      encodeCompatMsiAddress({ destination: 1, redirectionHint: 0, destMode: 0 }),
    );
    expect(r.iommu.mmioRead(VTD_REG.FECTL, 4)).toBe(FECTL.IM);
    faultOnce(r);
    expect(r.iommu.mmioRead(VTD_REG.FECTL, 4)).toBe((FECTL.IM | FECTL.IP) >>> 0);
    expect(r.sink.messages).toEqual([]);
    r.iommu.mmioWrite(VTD_REG.FECTL, 4, 0);
    expect(r.sink.messages.map((m) => [m.vector, m.destination])).toEqual([[0xee, 1]]);
    expect(r.iommu.mmioRead(VTD_REG.FECTL, 4)).toBe(0);
    // Unmasked: a fault recorded with no fault pending sends the event at once.
    r.iommu.mmioWrite(VTD_REG.FRCD + 12, 4, 0x80000000);
    faultOnce(r);
    expect(r.sink.messages.length).toBe(2);
    expect(r.counter('faults.events')).toBe(2);
  });
});

describe('configuration errors are thrown, with what to change', () => {
  it('rejects bad sizes and costs', () => {
    const base = rig();
    expect(() => base.irt.write(256, base.irt.read(0))).toThrow(IommuConfigError);
    expect(() => base.iommu.faultRecord(4)).toThrow(/0\.\.3/);
    expect(() =>
      base.tables.map(base.tables.createDomain(1), 0x10, 0, 4096, { read: true, write: true }),
    ).toThrow(/multiple of the page size/);
  });
});
