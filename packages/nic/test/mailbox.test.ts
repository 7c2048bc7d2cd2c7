import { MSIX_CAP, MSIX_CONTROL, MSIX_ENTRY, PCI_CFG, PCI_COMMAND } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import { PF_LAYOUT, PF_REG, PFMAILBOX, VF_REG, VFCTRL, VFLINKS, VFMAILBOX } from '../src/index.js';
import { enableVfMsix, enableVfs, makeRig, setupInterrupts } from './helpers.js';

function mailboxRig() {
  const rig = makeRig();
  enableVfs(rig.nic, 3);
  const vf = rig.nic.vfs[2]!;
  enableVfMsix(vf, 0x40);
  setupInterrupts(vf);
  // The PF's own MSI-X: vector 0 → data 0xE0.
  const pf = rig.nic.pf;
  pf.configWrite(PCI_CFG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.BUS_MASTER);
  pf.configWrite(PF_LAYOUT.MSIX_CAP + MSIX_CAP.MESSAGE_CONTROL, 2, MSIX_CONTROL.ENABLE);
  pf.msixBar.mmioWrite(MSIX_ENTRY.ADDRESS_LO, 4, 0xfee00000);
  pf.msixBar.mmioWrite(MSIX_ENTRY.DATA, 4, 0xe0);
  pf.msixBar.mmioWrite(MSIX_ENTRY.VECTOR_CONTROL, 4, 0);
  return { ...rig, vf, pf };
}

describe('PF–VF mailbox (82599 §7.9.2.2)', () => {
  it('VF → PF: take VFU, write VFMBMEM, set REQ; the PF sees VFREQ, is interrupted, reads and ACKs', () => {
    const { vf, pf, msi } = mailboxRig();
    const r = vf.registers;
    expect(r.mmioRead(VF_REG.VFMAILBOX, 4) & VFMAILBOX.RSTD).toBe(VFMAILBOX.RSTD);
    r.mmioWrite(VF_REG.VFMAILBOX, 4, VFMAILBOX.VFU);
    expect(r.mmioRead(VF_REG.VFMAILBOX, 4) & VFMAILBOX.VFU).toBe(VFMAILBOX.VFU);
    r.mmioWrite(VF_REG.VFMBMEM, 4, 0x00000001); // IXGBE_VF_RESET
    r.mmioWrite(VF_REG.VFMBMEM + 4, 4, 0xcafe);
    r.mmioWrite(VF_REG.VFMAILBOX, 4, VFMAILBOX.REQ);
    // MBVFICR(0): VFREQ bit 2 for VF 2.
    expect(pf.registers.mmioRead(PF_REG.MBVFICR0, 4)).toBe(1 << 2);
    expect(msi.data).toEqual([0xe0]);
    const out = new Uint32Array(16);
    expect(pf.receiveFromVf(2, out)).toBe(true);
    expect([out[0], out[1]]).toEqual([1, 0xcafe]);
    expect(pf.mailboxStatus(2) & 1).toBe(0);
    // The VF sees PFACK once (read to clear) and gets its mailbox interrupt (vector 2).
    expect(r.mmioRead(VF_REG.VFMAILBOX, 4) & VFMAILBOX.PFACK).toBe(VFMAILBOX.PFACK);
    expect(r.mmioRead(VF_REG.VFMAILBOX, 4) & VFMAILBOX.PFACK).toBe(0);
    expect(msi.data).toEqual([0xe0, 0x42]);
  });

  it('PF → VF: PFU, PFMBMEM, STS; the VF reads PFSTS and the message, then ACKs', () => {
    const { vf, pf, msi } = mailboxRig();
    expect(pf.sendToVf(2, [0x80000001, 0x12345678])).toBe(true);
    const r = vf.registers;
    const box = r.mmioRead(VF_REG.VFMAILBOX, 4);
    expect(box & VFMAILBOX.PFSTS).toBe(VFMAILBOX.PFSTS);
    expect(box & VFMAILBOX.PFU).toBe(0);
    expect(r.mmioRead(VF_REG.VFMBMEM, 4)).toBe(0x80000001);
    expect(r.mmioRead(VF_REG.VFMBMEM + 4, 4)).toBe(0x12345678);
    expect(msi.data).toEqual([0x42]);
    r.mmioWrite(VF_REG.VFMAILBOX, 4, VFMAILBOX.ACK);
    expect(pf.registers.mmioRead(PF_REG.MBVFICR0, 4)).toBe(1 << (16 + 2));
    pf.registers.mmioWrite(PF_REG.MBVFICR0, 4, 1 << (16 + 2));
    expect(pf.registers.mmioRead(PF_REG.MBVFICR0, 4)).toBe(0);
  });

  it('ownership: the VF cannot take or write the buffer while the PF holds it', () => {
    const { vf, pf, stats } = mailboxRig();
    pf.registers.mmioWrite(PF_REG.PFMAILBOX0 + 4 * 2, 4, PFMAILBOX.PFU);
    vf.registers.mmioWrite(VF_REG.VFMAILBOX, 4, VFMAILBOX.VFU);
    expect(vf.registers.mmioRead(VF_REG.VFMAILBOX, 4) & (VFMAILBOX.VFU | VFMAILBOX.PFU)).toBe(VFMAILBOX.PFU);
    vf.registers.mmioWrite(VF_REG.VFMBMEM, 4, 0xdead);
    expect(vf.registers.mmioRead(VF_REG.VFMBMEM, 4)).toBe(0);
    expect(stats.counterValue('nic.vf2.mmio.illegal-writes')).toBe(1);
    pf.registers.mmioWrite(PF_REG.PFMBMEM0 + 64 * 2, 4, 0xbeef);
    expect(vf.registers.mmioRead(VF_REG.VFMBMEM, 4)).toBe(0xbeef);
  });
});

describe('VF control and status', () => {
  it('VFCTRL.RST resets queues and interrupt state and reports RSTD', () => {
    const { vf } = mailboxRig();
    const r = vf.registers;
    r.mmioWrite(VF_REG.VFRDLEN, 4, 0x1000);
    r.mmioRead(VF_REG.VFMAILBOX, 4);
    r.mmioWrite(VF_REG.VFCTRL, 4, VFCTRL.RST);
    expect(r.mmioRead(VF_REG.VFRDLEN, 4)).toBe(0);
    expect(r.mmioRead(VF_REG.VFEIMS, 4)).toBe(0);
    expect(r.mmioRead(VF_REG.VFIVAR0, 4)).toBe(0);
    expect(r.mmioRead(VF_REG.VFMAILBOX, 4) & VFMAILBOX.RSTD).toBe(VFMAILBOX.RSTD);
  });

  it('VFLINKS reports link up at 10 Gb/s; ring registers keep their architectural widths', () => {
    const { vf } = mailboxRig();
    const r = vf.registers;
    expect(r.mmioRead(VF_REG.VFLINKS, 4)).toBe((VFLINKS.UP | VFLINKS.SPEED_10G) >>> 0);
    r.mmioWrite(VF_REG.VFRDBAL, 4, 0x12345678);
    expect(r.mmioRead(VF_REG.VFRDBAL, 4)).toBe(0x12345600);
    r.mmioWrite(VF_REG.VFRDLEN, 4, 0xffffffff);
    expect(r.mmioRead(VF_REG.VFRDLEN, 4)).toBe(0x000fff80);
    r.mmioWrite(VF_REG.VFTDT + 0x40, 4, 5); // queue 1 is not implemented
    expect(r.mmioRead(VF_REG.VFTDT + 0x40, 4)).toBe(0);
  });
});
