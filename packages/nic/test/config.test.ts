import {
  findCapability,
  findExtendedCapability,
  MSIX_CAP,
  MSIX_CONTROL,
  PCI_CAP_ID,
  PCI_CFG,
  PCI_COMMAND,
  PCI_EXT_CAP_ID,
  PCI_STATUS,
  PCIE_CAP,
  SRIOV_CAP,
  SRIOV_CONTROL,
} from '@exitless/x86';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEVICE_ID_82599_SFP,
  DEVICE_ID_82599_VF,
  INTEL_VENDOR_ID,
  NicConfigError,
  PF_LAYOUT,
} from '../src/index.js';
import { enableVfs, makeRig, PF_RID } from './helpers.js';

describe('PF configuration space (PCI 3.0 §6.1, 82599 §9.3)', () => {
  it('has the 82599 IDs and class code 0x020000', () => {
    const { nic } = makeRig();
    expect(nic.pf.configRead(PCI_CFG.VENDOR_ID, 2)).toBe(INTEL_VENDOR_ID);
    expect(nic.pf.configRead(PCI_CFG.DEVICE_ID, 2)).toBe(DEVICE_ID_82599_SFP);
    expect(nic.pf.configRead(PCI_CFG.REVISION_ID, 4) >>> 8).toBe(0x020000);
    expect(nic.pf.configRead(PCI_CFG.HEADER_TYPE, 1)).toBe(0);
    expect(nic.pf.configRead(PCI_CFG.STATUS, 2) & PCI_STATUS.CAPABILITIES_LIST).toBe(
      PCI_STATUS.CAPABILITIES_LIST,
    );
  });

  it('walking the capability list finds PM, MSI-X and PCI Express; the extended list finds SR-IOV', () => {
    const { nic } = makeRig();
    expect(findCapability(nic.pf, PCI_CAP_ID.POWER_MANAGEMENT)).toBe(0x40);
    const msix = findCapability(nic.pf, PCI_CAP_ID.MSIX);
    expect(msix).toBe(0x70);
    expect(findCapability(nic.pf, PCI_CAP_ID.PCI_EXPRESS)).toBe(0xa0);
    expect(findCapability(nic.pf, PCI_CAP_ID.MSI)).toBe(0);
    // MSI-X: 64 vectors (Table Size = 63), table and PBA in BAR4 at 0 and 0x2000.
    expect(nic.pf.configRead(msix + MSIX_CAP.MESSAGE_CONTROL, 2) & MSIX_CONTROL.TABLE_SIZE_MASK).toBe(63);
    expect(nic.pf.configRead(msix + MSIX_CAP.TABLE, 4)).toBe(0x0000 | 4);
    expect(nic.pf.configRead(msix + MSIX_CAP.PBA, 4)).toBe(0x2000 | 4);
    const pcie = findCapability(nic.pf, PCI_CAP_ID.PCI_EXPRESS);
    expect(nic.pf.configRead(pcie + PCIE_CAP.CAPABILITIES, 2) & 0xf).toBe(2);

    const sriov = findExtendedCapability(nic.pf, PCI_EXT_CAP_ID.SRIOV);
    expect(sriov).toBe(0x160);
    expect(findExtendedCapability(nic.pf, PCI_EXT_CAP_ID.ARI)).toBe(0x150);
    expect(findExtendedCapability(nic.pf, PCI_EXT_CAP_ID.AER)).toBe(0x100);
    expect(nic.pf.configRead(sriov + SRIOV_CAP.TOTAL_VFS, 2)).toBe(63);
    expect(nic.pf.configRead(sriov + SRIOV_CAP.FIRST_VF_OFFSET, 2)).toBe(0x80);
    expect(nic.pf.configRead(sriov + SRIOV_CAP.VF_STRIDE, 2)).toBe(2);
    expect(nic.pf.configRead(sriov + SRIOV_CAP.VF_DEVICE_ID, 2)).toBe(DEVICE_ID_82599_VF);
  });

  it('sizes BARs by writing all ones (64-bit memory BARs: 128 KiB BAR0, 16 KiB BAR4 and VF BARs)', () => {
    const { nic } = makeRig();
    const pf = nic.pf;
    pf.configWrite(PCI_CFG.BAR0, 4, 0xffffffff);
    pf.configWrite(PCI_CFG.BAR0 + 4, 4, 0xffffffff);
    expect(pf.configRead(PCI_CFG.BAR0, 4)).toBe(0xfffe0004);
    expect(pf.configRead(PCI_CFG.BAR0 + 4, 4)).toBe(0xffffffff);
    pf.configWrite(PCI_CFG.BAR0 + 16, 4, 0xffffffff);
    expect(pf.configRead(PCI_CFG.BAR0 + 16, 4)).toBe(0xffffc004);
    const vfBar0 = PF_LAYOUT.SRIOV_EXT_CAP + SRIOV_CAP.VF_BAR0;
    pf.configWrite(vfBar0, 4, 0xffffffff);
    expect(pf.configRead(vfBar0, 4)).toBe(0xffffc004);
    // Program addresses and read them back decoded.
    pf.configWrite(PCI_CFG.BAR0, 4, 0xf0000000);
    pf.configWrite(PCI_CFG.BAR0 + 4, 4, 0x1);
    expect(pf.barAddress(0)).toBe(0x1f0000000);
    pf.configWrite(vfBar0, 4, 0xe0000000);
    pf.configWrite(vfBar0 + 4, 4, 0);
    expect(nic.vfBarAddress(5, 0)).toBe(0xe0000000 + 5 * 0x4000);
  });

  it('enabling 4 VFs with First VF Offset 0x80 and VF Stride 2 yields RIDs PF + 0x80 + 2n', () => {
    const { nic } = makeRig();
    enableVfs(nic, 4);
    expect(nic.vfs.map((v) => v.requesterId)).toEqual([
      PF_RID + 0x80,
      PF_RID + 0x82,
      PF_RID + 0x84,
      PF_RID + 0x86,
    ]);
    expect(nic.vfs.map((v) => v.requesterId.toString(16))).toEqual(['380', '382', '384', '386']);
  });

  it('takes offset and stride from the options and reflects them in the capability', () => {
    const { nic } = makeRig({ nic: { firstVfOffset: 0x10, vfStride: 1, totalVfs: 8, initialVfs: 8 } });
    enableVfs(nic, 3);
    expect(nic.vfs.map((v) => v.requesterId - PF_RID)).toEqual([0x10, 0x11, 0x12]);
    expect(nic.pf.configRead(PF_LAYOUT.SRIOV_EXT_CAP + SRIOV_CAP.VF_STRIDE, 2)).toBe(1);
  });

  it('NumVFs is read-only while VF Enable is set; clearing VF Enable removes the VFs', () => {
    const { nic } = makeRig();
    const changes: number[] = [];
    nic.onVfsChanged = (vfs) => changes.push(vfs.length);
    enableVfs(nic, 2);
    const s = PF_LAYOUT.SRIOV_EXT_CAP;
    nic.pf.configWrite(s + SRIOV_CAP.NUM_VFS, 2, 7);
    expect(nic.pf.configRead(s + SRIOV_CAP.NUM_VFS, 2)).toBe(2);
    expect(nic.vfs).toHaveLength(2);
    nic.pf.configWrite(s + SRIOV_CAP.CONTROL, 2, 0);
    expect(nic.vfs).toHaveLength(0);
    expect(changes).toEqual([2, 0]);
  });

  it('NumVFs above TotalVFs enables no VF and is counted', () => {
    const { nic, stats } = makeRig({ nic: { totalVfs: 4, initialVfs: 4 } });
    enableVfs(nic, 9);
    expect(nic.vfs).toHaveLength(0);
    expect(stats.counterValue('nic.sriov.invalid-num-vfs')).toBe(1);
  });

  it('VF config space: IDs read 0xFFFF, MSI-X with 3 vectors in BAR3, only Bus Master writable', () => {
    const { nic } = makeRig();
    enableVfs(nic, 1);
    const vf = nic.vfs[0]!;
    expect(vf.configRead(PCI_CFG.VENDOR_ID, 2)).toBe(0xffff);
    expect(vf.configRead(PCI_CFG.DEVICE_ID, 2)).toBe(0xffff);
    const msix = findCapability(vf, PCI_CAP_ID.MSIX);
    expect(msix).toBe(0x70);
    expect(vf.configRead(msix + MSIX_CAP.MESSAGE_CONTROL, 2) & MSIX_CONTROL.TABLE_SIZE_MASK).toBe(2);
    expect(vf.configRead(msix + MSIX_CAP.TABLE, 4) & 7).toBe(3);
    expect(findCapability(vf, PCI_CAP_ID.PCI_EXPRESS)).toBe(0xa0);
    expect(findExtendedCapability(vf, PCI_EXT_CAP_ID.SRIOV)).toBe(0);
    vf.configWrite(PCI_CFG.COMMAND, 2, 0xffff);
    expect(vf.configRead(PCI_CFG.COMMAND, 2)).toBe(PCI_COMMAND.BUS_MASTER);
    // VF BARs are read-only zero (SR-IOV 1.1 §3.4.1.11).
    vf.configWrite(PCI_CFG.BAR0, 4, 0xffffffff);
    expect(vf.configRead(PCI_CFG.BAR0, 4)).toBe(0);
  });

  it('VF registers answer only while VF MSE is set', () => {
    const { nic, stats } = makeRig();
    enableVfs(nic, 1);
    const vf = nic.vfs[0]!;
    vf.registers.mmioWrite(0x1008, 4, 0x1000);
    expect(vf.registers.mmioRead(0x1008, 4)).toBe(0x1000);
    nic.pf.configWrite(PF_LAYOUT.SRIOV_EXT_CAP + SRIOV_CAP.CONTROL, 2, SRIOV_CONTROL.VF_ENABLE);
    expect(vf.registers.mmioRead(0x1008, 4)).toBe(0xffffffff);
    expect(stats.counterValue('nic.vf0.mmio.memory-disabled')).toBe(1);
  });

  it('status error bits are write-1-to-clear, and unaligned config accesses are refused and counted', () => {
    const { nic } = makeRig();
    nic.pf.config.init(PCI_CFG.STATUS, 2, PCI_STATUS.CAPABILITIES_LIST | PCI_STATUS.RECEIVED_MASTER_ABORT);
    nic.pf.configWrite(PCI_CFG.STATUS, 2, PCI_STATUS.RECEIVED_MASTER_ABORT);
    expect(nic.pf.configRead(PCI_CFG.STATUS, 2)).toBe(PCI_STATUS.CAPABILITIES_LIST);
    expect(nic.pf.configRead(0x3, 2)).toBe(0xffff);
    nic.pf.configWrite(0x5, 4, 0);
    expect(nic.pf.config.badAccesses).toBe(2);
  });

  it('property: writes anywhere never change the read-only identity and capability structure', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            size: fc.constantFrom(1 as const, 2 as const, 4 as const),
            offset: fc.integer({ min: 0, max: 0x3ff }),
            value: fc.integer({ min: 0, max: 0xffffffff }),
          }),
          { maxLength: 60 },
        ),
        (writes) => {
          const { nic } = makeRig();
          const pf = nic.pf;
          const sriov = PF_LAYOUT.SRIOV_EXT_CAP;
          const before = [
            pf.configRead(0, 4),
            pf.configRead(8, 4),
            pf.configRead(PCI_CFG.CAPABILITIES_POINTER, 1),
            pf.configRead(0x70, 2),
            pf.configRead(0x74, 4),
            pf.configRead(0x100, 4),
            pf.configRead(sriov, 4),
            pf.configRead(sriov + SRIOV_CAP.TOTAL_VFS, 2),
            pf.configRead(sriov + SRIOV_CAP.FIRST_VF_OFFSET, 4),
          ];
          for (const w of writes) pf.configWrite(w.offset - (w.offset % w.size), w.size, w.value);
          const after = [
            pf.configRead(0, 4),
            pf.configRead(8, 4),
            pf.configRead(PCI_CFG.CAPABILITIES_POINTER, 1),
            pf.configRead(0x70, 2),
            pf.configRead(0x74, 4),
            pf.configRead(0x100, 4),
            pf.configRead(sriov, 4),
            pf.configRead(sriov + SRIOV_CAP.TOTAL_VFS, 2),
            pf.configRead(sriov + SRIOV_CAP.FIRST_VF_OFFSET, 4),
          ];
          expect(after).toEqual(before);
          expect(findExtendedCapability(pf, PCI_EXT_CAP_ID.SRIOV)).toBe(sriov);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('rejects impossible options with a NicConfigError that says what to change', () => {
    expect(() => makeRig({ nic: { vfMsixVectors: 0 } })).toThrow(NicConfigError);
    expect(() => makeRig({ nic: { totalVfs: 64, firstVfOffset: 0xff00, vfStride: 2 } })).toThrow(/0xFFFF/);
    expect(() => makeRig({ timing: { dmaReadLatencyPs: -1, dmaWriteLatencyPs: 0 } })).toThrow(
      /dmaReadLatencyPs/,
    );
  });
});
