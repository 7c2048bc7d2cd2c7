import {
  encodeRemappableMsiAddress,
  encodeRemappableMsiData,
  MSIX_CAP,
  MSIX_CONTROL,
  MSIX_ENTRY,
  PCI_CFG,
} from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { VF_REG } from '../src/index.js';
import { enableVfMsix, enableVfs, makeRig, PF_RID, setupInterrupts, VF_MSIX_CAP } from './helpers.js';

function rigWithVf() {
  const rig = makeRig();
  enableVfs(rig.nic, 2);
  const vf = rig.nic.vfs[1]!;
  enableVfMsix(vf, 0x40);
  setupInterrupts(vf);
  return { ...rig, vf };
}

describe('MSI-X (PCI 3.0 §6.8.2)', () => {
  it('entries reset masked and read back what software writes (address bits 1:0 reserved)', () => {
    const { nic } = makeRig();
    enableVfs(nic, 1);
    const t = nic.vfs[0]!.msixBar;
    expect(t.mmioRead(0 * 16 + MSIX_ENTRY.VECTOR_CONTROL, 4)).toBe(MSIX_ENTRY.MASK_BIT);
    t.mmioWrite(16 + MSIX_ENTRY.ADDRESS_LO, 4, 0xfee01003);
    t.mmioWrite(16 + MSIX_ENTRY.DATA, 4, 0x4041);
    t.mmioWrite(16 + MSIX_ENTRY.VECTOR_CONTROL, 4, 0xfffffffe);
    expect(t.mmioRead(16 + MSIX_ENTRY.ADDRESS_LO, 4)).toBe(0xfee01000);
    expect(t.mmioRead(16 + MSIX_ENTRY.DATA, 4)).toBe(0x4041);
    expect(t.mmioRead(16 + MSIX_ENTRY.VECTOR_CONTROL, 4)).toBe(0);
  });

  it('an unmasked vector sends exactly the table address and data with the VF requester ID', () => {
    const { vf, msi } = rigWithVf();
    vf.registers.mmioWrite(VF_REG.VFEICS, 4, 0b010);
    expect(msi.data).toEqual([0x41]);
    expect(msi.addresses).toEqual([0xfee00000]);
    expect(msi.rids).toEqual([PF_RID + 0x82]);
    expect(vf.msix.sent(1)).toBe(1);
  });

  it('a masked vector sets its PBA bit and fires on unmask', () => {
    const { vf, msi } = rigWithVf();
    vf.msixBar.mmioWrite(2 * 16 + MSIX_ENTRY.VECTOR_CONTROL, 4, MSIX_ENTRY.MASK_BIT);
    vf.registers.mmioWrite(VF_REG.VFEICS, 4, 0b100);
    expect(msi.data).toEqual([]);
    expect(vf.msixBar.mmioRead(0x2000, 4)).toBe(0b100);
    expect(vf.msix.pending(2)).toBe(true);
    vf.msixBar.mmioWrite(2 * 16 + MSIX_ENTRY.VECTOR_CONTROL, 4, 0);
    expect(msi.data).toEqual([0x42]);
    expect(vf.msixBar.mmioRead(0x2000, 4)).toBe(0);
  });

  it('the function mask holds every vector pending until it is cleared', () => {
    const { vf, msi } = rigWithVf();
    const ctl = VF_MSIX_CAP + MSIX_CAP.MESSAGE_CONTROL;
    vf.configWrite(ctl, 2, MSIX_CONTROL.ENABLE | MSIX_CONTROL.FUNCTION_MASK);
    vf.registers.mmioWrite(VF_REG.VFEICS, 4, 0b011);
    expect(msi.data).toEqual([]);
    expect(vf.msixBar.mmioRead(0x2000, 4)).toBe(0b011);
    // Clearing the function mask leaves the per-vector masks in force (vector 0 masked here).
    vf.msixBar.mmioWrite(0 + MSIX_ENTRY.VECTOR_CONTROL, 4, MSIX_ENTRY.MASK_BIT);
    vf.configWrite(ctl, 2, MSIX_CONTROL.ENABLE);
    expect(msi.data).toEqual([0x41]);
    expect(vf.msix.pending(0)).toBe(true);
    vf.msixBar.mmioWrite(0 + MSIX_ENTRY.VECTOR_CONTROL, 4, 0);
    expect(msi.data).toEqual([0x41, 0x40]);
  });

  it('remappable-format messages pass through untouched (the IOMMU decodes them)', () => {
    const { vf, msi } = rigWithVf();
    const address = encodeRemappableMsiAddress({ handle: 0x1234, shv: true });
    const data = encodeRemappableMsiData({ subhandle: 7 });
    vf.msixBar.mmioWrite(0 + MSIX_ENTRY.ADDRESS_LO, 4, address);
    vf.msixBar.mmioWrite(0 + MSIX_ENTRY.DATA, 4, data);
    vf.registers.mmioWrite(VF_REG.VFEICS, 4, 0b001);
    expect(msi.addresses).toEqual([address]);
    expect(msi.data).toEqual([data]);
  });

  it('with MSI-X disabled or Bus Master clear the message is not sent, and that is counted', () => {
    const { vf, msi, stats } = rigWithVf();
    vf.configWrite(VF_MSIX_CAP + MSIX_CAP.MESSAGE_CONTROL, 2, 0);
    vf.registers.mmioWrite(VF_REG.VFEICS, 4, 0b001);
    expect(stats.counterValue('nic.vf1.msix.dropped-disabled')).toBe(1);
    vf.configWrite(VF_MSIX_CAP + MSIX_CAP.MESSAGE_CONTROL, 2, MSIX_CONTROL.ENABLE);
    vf.configWrite(PCI_CFG.COMMAND, 2, 0);
    vf.registers.mmioWrite(VF_REG.VFEICR, 4, 7);
    vf.registers.mmioWrite(VF_REG.VFEIMS, 4, 7);
    vf.registers.mmioWrite(VF_REG.VFEICS, 4, 0b001);
    expect(stats.counterValue('nic.vf1.msix.dropped-no-bus-master')).toBe(1);
    expect(msi.data).toEqual([]);
  });
});

describe('interrupt cause and mask (82599 §7.3.1, VTEICR/VTEIMS/VTEIAC/VTEIAM)', () => {
  it('a cause on a masked vector (EIMS clear) waits in EICR and fires when EIMS is set', () => {
    const { vf, msi } = rigWithVf();
    const r = vf.registers;
    r.mmioWrite(VF_REG.VFEIMC, 4, 0b001);
    expect(r.mmioRead(VF_REG.VFEIMS, 4)).toBe(0b110);
    r.mmioWrite(VF_REG.VFEICS, 4, 0b001);
    expect(r.mmioRead(VF_REG.VFEICS, 4)).toBe(0b001);
    expect(msi.data).toEqual([]);
    r.mmioWrite(VF_REG.VFEIMS, 4, 0b001);
    expect(msi.data).toEqual([0x40]);
    // EIAC auto-cleared the cause when the message went out.
    expect(r.mmioRead(VF_REG.VFEICS, 4)).toBe(0);
  });

  it('EIAM clears the EIMS bit when the message is sent; EICR is write-1-to-clear without EIAC', () => {
    const { vf, msi } = rigWithVf();
    const r = vf.registers;
    r.mmioWrite(VF_REG.VFEIAC, 4, 0);
    r.mmioWrite(VF_REG.VFEIAM, 4, 0b001);
    r.mmioWrite(VF_REG.VFEICS, 4, 0b001);
    expect(msi.data).toEqual([0x40]);
    expect(r.mmioRead(VF_REG.VFEIMS, 4)).toBe(0b110);
    expect(r.mmioRead(VF_REG.VFEICS, 4)).toBe(0b001);
    r.mmioWrite(VF_REG.VFEICR, 4, 0b001);
    expect(r.mmioRead(VF_REG.VFEICS, 4)).toBe(0);
  });

  it('a read of VTEICR returns the causes and clears them; a read of VTEICS returns them and clears nothing', () => {
    const { vf, msi } = rigWithVf();
    const r = vf.registers;
    r.mmioWrite(VF_REG.VFEIMC, 4, 0b111);
    r.mmioWrite(VF_REG.VFEICS, 4, 0b101);
    expect(r.mmioRead(VF_REG.VFEICS, 4)).toBe(0b101);
    expect(r.mmioRead(VF_REG.VFEICS, 4)).toBe(0b101);
    expect(r.mmioRead(VF_REG.VFEICR, 4)).toBe(0b101);
    expect(r.mmioRead(VF_REG.VFEICR, 4)).toBe(0);
    expect(r.mmioRead(VF_REG.VFEICS, 4)).toBe(0);
    // The causes the read cleared are no longer pending: enabling the vectors sends nothing.
    r.mmioWrite(VF_REG.VFEIMS, 4, 0b111);
    expect(msi.data).toEqual([]);
  });

  it('VTEICR stays a 32-bit unsigned register after write-1-to-clear (cause bit 31 of vector 31)', () => {
    const rig = makeRig({ nic: { vfMsixVectors: 32 } });
    enableVfs(rig.nic, 1);
    const r = rig.nic.vfs[0]!.registers;
    r.mmioWrite(VF_REG.VFEICS, 4, 0x80000001); // vectors 31 and 0, both disabled (EIMS clear)
    expect(r.mmioRead(VF_REG.VFEICS, 4)).toBe(0x80000001);
    r.mmioWrite(VF_REG.VFEICR, 4, 0x00000001);
    expect(r.mmioRead(VF_REG.VFEICS, 4)).toBe(0x80000000);
    expect(r.mmioRead(VF_REG.VFEICS, 4)).toBe(0x80000000);
  });
});
