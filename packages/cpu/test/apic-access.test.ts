import { APIC_REG, EXIT_REASON, PIN_BASED, PROC_BASED, PROC_BASED2, RFLAGS, VMCS_FIELD } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  APIC_ACCESS_PAGE,
  DELIVERY_PS,
  ENTRY_DONE,
  EXIT_PS,
  type ExitRecord,
  GUEST_ENTRY,
  GUEST_IDT,
  HOST_ENTRY,
  handler,
  hypervisor,
  type Machine,
  machine,
  type Op,
  PS_PER_CYCLE,
  script,
  setupVmcs,
  VAPIC,
  type VmcsSetup,
} from './harness.js';

// Virtualization of linear accesses to the APIC-access page (SDM vol. 3 §29.4): with "use TPR
// shadow" 1, some reads return the virtual-APIC page's bytes (§29.4.2) and some writes are stored
// there and followed by APIC-write emulation (§29.4.3.1, §29.4.3.2); the rest take APIC-access
// VM exits (reason 44, qualification offset | access type << 12, Table 27-6).

const READ_PS = 200 * PS_PER_CYCLE;
const VISR = APIC_REG.ISR0;
const VIRR = APIC_REG.IRR0;
const LINEAR_WRITE = 0x1000;

const ARV = PROC_BASED2.APIC_REGISTER_VIRTUALIZATION;
const VID = PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY;

/**
 * An xAPIC guest under APIC virtualization: "use TPR shadow", "virtualize APIC accesses" and
 * `proc2` (APIC-register virtualization, virtual-interrupt delivery); the latter needs
 * external-interrupt exiting (§26.2.1.1).
 */
function xapicv(
  proc2: number,
  fields: Readonly<Record<number, number>> = {},
  more: VmcsSetup = {},
): VmcsSetup {
  return {
    ...more,
    pin: (proc2 & VID) !== 0 ? PIN_BASED.EXTERNAL_INTERRUPT_EXITING : 0,
    proc: PROC_BASED.USE_TPR_SHADOW | PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
    proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES | proc2,
    fields: { [VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR]: VAPIC, ...fields },
  };
}

function run(
  m: Machine,
  setup: VmcsSetup,
  ops: readonly Op[],
  onExit: (e: ExitRecord) => boolean = () => false,
): ExitRecord[] {
  setupVmcs(m, setup);
  m.code.register(GUEST_ENTRY, script('guest', ops));
  const exits = hypervisor(m, (e) => onExit(e));
  m.cpu.start(HOST_ENTRY);
  m.sim.runUntil(1_000_000_000);
  return exits;
}

function bit(m: Machine, base: number, vector: number): number {
  return (m.memory.read32(VAPIC + base + 16 * (vector >>> 5)) >>> (vector & 31)) & 1;
}

function setBit(m: Machine, base: number, vector: number): void {
  const a = VAPIC + base + 16 * (vector >>> 5);
  m.memory.write32(a, (m.memory.read32(a) | (1 << (vector & 31))) >>> 0);
}

/** Fills the virtual-APIC page with 0xC0DE0000 | offset in each dword, and the APIC-access page with 0xEEEEEEEE. */
function fillPages(m: Machine): void {
  for (let o = 0; o < 0x1000; o += 4) {
    m.memory.write32(VAPIC + o, (0xc0de0000 | o) >>> 0);
    m.memory.write32(APIC_ACCESS_PAGE + o, 0xeeeeeeee);
  }
}

/**
 * One guest read of `size` bytes at `offset` of the APIC-access page, then VMCALL. Returns the
 * value the read completed with (the host emulates 0x5A5A5A5A if it exits) and the exits.
 */
function readOnce(setup: VmcsSetup, offset: number, size: 1 | 2 | 4) {
  const m = machine();
  fillPages(m);
  const got: number[] = [];
  const exits = run(
    m,
    setup,
    [
      (c) => c.mmioRead(APIC_ACCESS_PAGE + offset, size),
      (c) => {
        got.push(c.resultLo);
        c.vmcall();
      },
    ],
    (e) => {
      if (e.reason !== EXIT_REASON.APIC_ACCESS) return false;
      m.cpu.rax = 0x5a5a5a5a;
      return true;
    },
  );
  return { m, value: got[0], exits: exits.map((e) => [e.reason, e.qualification]) };
}

/** One guest write of `size` bytes of `value` at `offset` of the APIC-access page, then VMCALL. */
function writeOnce(
  setup: VmcsSetup,
  offset: number,
  size: 1 | 2 | 4,
  value: number,
  before?: (m: Machine) => void,
) {
  const m = machine();
  before?.(m);
  const exits = run(m, setup, [
    (c) => c.mmioWrite(APIC_ACCESS_PAGE + offset, size, value),
    (c) => c.vmcall(),
  ]);
  return { m, exits };
}

const VMCALL: [number, number] = [EXIT_REASON.VMCALL, 0];

describe('virtualized reads from the APIC-access page (SDM §29.4.2)', () => {
  it('without APIC-register virtualization a read at offset 080H returns VTPR from the virtual-APIC page, with no exit, in mmioReadCycles', () => {
    for (const size of [1, 2, 4] as const) {
      const { m, value, exits } = readOnce(xapicv(0), APIC_REG.TPR, size);
      expect(value).toBe(0xc0de0080 % 2 ** (8 * size));
      expect(exits).toEqual([VMCALL]);
      expect(m.lapic.mmioLog).toEqual([]);
    }
    const m = machine();
    m.memory.write32(VAPIC + APIC_REG.TPR, 0x40);
    const exits = run(m, xapicv(0), [
      (c) => c.mmioRead(APIC_ACCESS_PAGE + APIC_REG.TPR, 4),
      (c) => c.vmcall(),
    ]);
    expect(exits[0]!.time).toBe(ENTRY_DONE + READ_PS + EXIT_PS);
  });

  it.each([
    ['another register (EOI, 0B0H)', APIC_REG.EOI, 4],
    ['ID (020H)', APIC_REG.ID, 4],
    ['a byte of the TPR other than the first (081H)', 0x081, 1],
    ['4 bytes at 082H (past the low 4 bytes of the 16-byte register)', 0x082, 4],
    [
      '080H with virtual-interrupt delivery but no APIC-register virtualization: IRR (200H)',
      APIC_REG.IRR0,
      4,
    ],
  ])(
    'without APIC-register virtualization a read of %s exits (44, qualification = offset)',
    (_n, offset, size) => {
      const { value, exits } = readOnce(
        xapicv(offset === APIC_REG.IRR0 ? VID : 0),
        offset,
        size as 1 | 2 | 4,
      );
      expect(exits).toEqual([[EXIT_REASON.APIC_ACCESS, offset], VMCALL]);
      expect(value).toBe(0x5a5a5a5a);
    },
  );

  const listed = [
    0x020, 0x030, 0x080, 0x0b0, 0x0d0, 0x0e0, 0x0f0, 0x100, 0x110, 0x120, 0x130, 0x140, 0x150, 0x160, 0x170,
    0x180, 0x190, 0x1a0, 0x1b0, 0x1c0, 0x1d0, 0x1e0, 0x1f0, 0x200, 0x210, 0x220, 0x230, 0x240, 0x250, 0x260,
    0x270, 0x280, 0x300, 0x310, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x380, 0x3e0,
  ];

  it('with APIC-register virtualization every register the SDM lists reads its 32 bits from the virtual-APIC page', () => {
    for (const offset of listed) {
      const { value, exits } = readOnce(xapicv(ARV), offset, 4);
      expect([offset, value, exits]).toEqual([offset, (0xc0de0000 | offset) >>> 0, [VMCALL]]);
    }
  });

  it('with APIC-register virtualization a 1- or 2-byte read inside the low 4 bytes returns those bytes (023H, 202H)', () => {
    expect(readOnce(xapicv(ARV), 0x023, 1).value).toBe(0xc0);
    expect(readOnce(xapicv(ARV), 0x202, 2).value).toBe(0xc0de);
    expect(readOnce(xapicv(ARV), 0x202, 2).exits).toEqual([VMCALL]);
  });

  it('with APIC-register virtualization every 16-byte register outside the list exits, PPR, APR, RRD, CMCI and current count among them', () => {
    const exited: number[] = [];
    for (let offset = 0; offset < 0x1000; offset += 0x10) {
      const { exits } = readOnce(xapicv(ARV), offset, 4);
      if (exits[0]![0] === EXIT_REASON.APIC_ACCESS) {
        expect(exits[0]).toEqual([EXIT_REASON.APIC_ACCESS, offset]);
        exited.push(offset);
      }
    }
    const expected: number[] = [];
    for (let offset = 0; offset < 0x1000; offset += 0x10) if (!listed.includes(offset)) expected.push(offset);
    expect(exited).toEqual(expected);
    for (const o of [APIC_REG.PPR, APIC_REG.APR, APIC_REG.RRD, APIC_REG.LVT_CMCI, 0x390])
      expect(exited).toContain(o);
  });

  it.each([
    ['4 bytes at 0B2H', 0x0b2, 4],
    ['2 bytes at 0B3H', 0x0b3, 2],
    ['1 byte at 0B4H (bits 3:2 not 0)', 0x0b4, 1],
    ['4 bytes at 30CH', 0x30c, 4],
  ])(
    'with APIC-register virtualization a read not contained in the low 4 bytes (%s) exits',
    (_n, offset, size) => {
      const { exits, value } = readOnce(xapicv(ARV), offset, size as 1 | 2 | 4);
      expect(exits).toEqual([[EXIT_REASON.APIC_ACCESS, offset], VMCALL]);
      expect(value).toBe(0x5a5a5a5a);
    },
  );

  it('without "use TPR shadow" even a read of 080H exits, whatever the page holds', () => {
    const { exits } = readOnce(
      { proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES },
      APIC_REG.TPR,
      4,
    );
    expect(exits).toEqual([[EXIT_REASON.APIC_ACCESS, APIC_REG.TPR], VMCALL]);
  });

  it('a read that crosses into or out of the APIC-access page exits (its part there is at 000H or FFEH)', () => {
    const m = machine();
    const exits = run(
      m,
      xapicv(ARV),
      [
        (c) => c.mmioRead(APIC_ACCESS_PAGE - 2, 4),
        (c) => c.mmioRead(APIC_ACCESS_PAGE + 0xffe, 4),
        (c) => c.vmcall(),
      ],
      (e) => e.reason === EXIT_REASON.APIC_ACCESS,
    );
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([
      [EXIT_REASON.APIC_ACCESS, 0],
      [EXIT_REASON.APIC_ACCESS, 0xffe],
      VMCALL,
    ]);
  });
});

describe('virtualized writes to the APIC-access page and APIC-write emulation (SDM §29.4.3)', () => {
  it('a write to 080H stores VTPR, clears its bytes 3:1, and TPR virtualization exits (43, trap-like) only below the threshold', () => {
    const m = machine();
    m.memory.write32(VAPIC + APIC_REG.TPR, 0x40);
    m.memory.write32(APIC_ACCESS_PAGE + APIC_REG.TPR, 0xeeeeeeee);
    const seen: number[] = [];
    const exits = run(m, xapicv(0, { [VMCS_FIELD.TPR_THRESHOLD]: 3 }), [
      (c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.TPR, 4, 0x12345650),
      (c) => {
        seen.push(m.memory.read32(VAPIC + APIC_REG.TPR));
        c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.TPR, 1, 0x20);
      },
      (c) => c.vmcall(),
    ]);
    expect(seen).toEqual([0x50]);
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.TPR_BELOW_THRESHOLD, 0]]);
    // The first write costs mmioWriteCycles; the second exits at once, having completed.
    expect(exits[0]!.time).toBe(ENTRY_DONE + 150 * PS_PER_CYCLE + EXIT_PS);
    expect(m.memory.read32(VAPIC + APIC_REG.TPR)).toBe(0x20);
    expect(m.memory.read32(APIC_ACCESS_PAGE + APIC_REG.TPR)).toBe(0xeeeeeeee);
    expect(m.lapic.mmioLog).toEqual([]);
  });

  it('with virtual-interrupt delivery a TPR write of 0 virtualizes PPR and delivers the held-back RVI 0x51 with no exit', () => {
    const m = machine();
    const log: number[] = [];
    handler(
      m,
      GUEST_IDT,
      0x51,
      script(
        'h',
        [
          (c) => {
            log.push(c.now);
            c.vmcall();
          },
        ],
        'iret',
      ),
    );
    m.memory.write32(VAPIC + APIC_REG.TPR, 0x60);
    setBit(m, VIRR, 0x51);
    const exits = run(m, xapicv(VID, { [VMCS_FIELD.GUEST_INTERRUPT_STATUS]: 0x0051 }), [
      (c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.TPR, 4, 0),
    ]);
    expect(log).toEqual([ENTRY_DONE + DELIVERY_PS]);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
    expect(m.memory.read32(VAPIC + APIC_REG.PPR)).toBe(0x50);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPT_STATUS)).toBe(0x5100);
  });

  it('with virtual-interrupt delivery a write of any value to 0B0H clears VEOI and performs EOI virtualization: VISR[SVI] cleared, SVI = next, VPPR', () => {
    const { m, exits } = writeOnce(
      xapicv(VID, { [VMCS_FIELD.GUEST_INTERRUPT_STATUS]: 0x6100 }),
      APIC_REG.EOI,
      4,
      0xdeadbeef,
      (m) => {
        setBit(m, VISR, 0x61);
        setBit(m, VISR, 0x31);
      },
    );
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([VMCALL]);
    expect([bit(m, VISR, 0x61), bit(m, VISR, 0x31)]).toEqual([0, 1]);
    expect(m.memory.read32(VAPIC + APIC_REG.EOI)).toBe(0);
    expect(m.memory.read32(VAPIC + APIC_REG.PPR)).toBe(0x30);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPT_STATUS)).toBe(0x3100);
    expect(m.stats.counterValue('cpu0.apicv.eoi-virtualized')).toBe(1);
  });

  it('an EOI whose vector is set in the EOI-exit bitmap is a trap-like exit 45 with the vector as qualification', () => {
    const { m, exits } = writeOnce(
      xapicv(VID, { [VMCS_FIELD.GUEST_INTERRUPT_STATUS]: 0x6100, [VMCS_FIELD.EOI_EXIT_BITMAP1 + 1]: 2 }),
      APIC_REG.EOI,
      1,
      0,
      (m) => setBit(m, VISR, 0x61),
    );
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.VIRTUALIZED_EOI, 0x61]]);
    expect(exits[0]!.time).toBe(ENTRY_DONE + EXIT_PS);
    expect(bit(m, VISR, 0x61)).toBe(0);
  });

  it('without virtual-interrupt delivery, APIC-register virtualization stores a write to 0B0H and exits 56 with qualification 0B0H; VISR stays', () => {
    const { m, exits } = writeOnce(xapicv(ARV), APIC_REG.EOI, 4, 0x1234, (m) => setBit(m, VISR, 0x61));
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.APIC_WRITE, 0xb0]]);
    expect(exits[0]!.time).toBe(ENTRY_DONE + EXIT_PS);
    expect(m.memory.read32(VAPIC + APIC_REG.EOI)).toBe(0x1234);
    expect(bit(m, VISR, 0x61)).toBe(1);
  });

  it('with neither control a write to 0B0H exits 44 (linear write) and stores nothing', () => {
    const { m, exits } = writeOnce(xapicv(0), APIC_REG.EOI, 4, 0x1234);
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([
      [EXIT_REASON.APIC_ACCESS, LINEAR_WRITE | 0xb0],
    ]);
    expect(m.memory.read32(VAPIC + APIC_REG.EOI)).toBe(0);
  });

  it.each([
    ['a fixed, edge, physical self IPI', 0x00040070],
    ['the same with destination mode logical and level assert (bits 11 and 14 are not examined)', 0x00044870],
  ])(
    'with virtual-interrupt delivery a write to 300H of %s is self-IPI virtualization: VIRR, RVI, delivery, no exit',
    (_n, icr) => {
      const m = machine();
      const log: number[] = [];
      handler(
        m,
        GUEST_IDT,
        0x70,
        script(
          'h',
          [
            (c) => {
              log.push(c.now);
              c.vmcall();
            },
          ],
          'iret',
        ),
      );
      const exits = run(m, xapicv(VID), [(c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.ICR_LOW, 4, icr)]);
      expect(log).toEqual([ENTRY_DONE + DELIVERY_PS]);
      expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
      expect(m.memory.read32(VAPIC + APIC_REG.ICR_LOW)).toBe(icr);
      expect([bit(m, VISR, 0x70), bit(m, VIRR, 0x70)]).toEqual([1, 0]);
    },
  );

  it('APIC-write emulation is not held back by IF = 0: the self IPI sets VIRR and RVI at once and waits for IF', () => {
    const m = machine();
    const exits = run(m, xapicv(VID, {}, { rflags: RFLAGS.FIXED1 }), [
      (c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.ICR_LOW, 4, 0x00040070),
      (c) => c.vmcall(),
    ]);
    expect(exits.map((e) => e.reason)).toEqual([EXIT_REASON.VMCALL]);
    expect(bit(m, VIRR, 0x70)).toBe(1);
    expect(m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPT_STATUS)).toBe(0x0070);
  });

  it.each([
    ['vector 0x0F (bits 7:4 zero)', 0x0004000f],
    ['no shorthand', 0x00000070],
    ['shorthand all including self', 0x00080070],
    ['delivery mode NMI', 0x00040470],
    ['trigger mode level', 0x00048070],
    ['delivery status set', 0x00041070],
    ['reserved bit 13', 0x00042070],
    ['reserved bit 16', 0x00050070],
    ['reserved bit 20', 0x00140070],
  ])(
    'a write to 300H with %s is stored and exits 56 (qualification 300H); VIRR and RVI unchanged',
    (_n, icr) => {
      const { m, exits } = writeOnce(xapicv(VID), APIC_REG.ICR_LOW, 4, icr);
      expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.APIC_WRITE, 0x300]]);
      expect(m.memory.read32(VAPIC + APIC_REG.ICR_LOW)).toBe(icr);
      expect([bit(m, VIRR, icr & 0xff), m.cpu.vmread(VMCS_FIELD.GUEST_INTERRUPT_STATUS)]).toEqual([0, 0]);
    },
  );

  it('a byte write to 300H checks the whole VICR_LO: with bits 19:18 already self, vector 0x70 is a self IPI', () => {
    const { m, exits } = writeOnce(
      xapicv(VID, {}, { rflags: RFLAGS.FIXED1 }),
      APIC_REG.ICR_LOW,
      1,
      0x70,
      (m) => m.memory.write32(VAPIC + APIC_REG.ICR_LOW, 0x00040000),
    );
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([VMCALL]);
    expect(m.memory.read32(VAPIC + APIC_REG.ICR_LOW)).toBe(0x00040070);
    expect(bit(m, VIRR, 0x70)).toBe(1);
  });

  it('a self IPI to 300H without virtual-interrupt delivery (APIC-register virtualization only) exits 56', () => {
    const { m, exits } = writeOnce(xapicv(ARV), APIC_REG.ICR_LOW, 4, 0x00040070);
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.APIC_WRITE, 0x300]]);
    expect(bit(m, VIRR, 0x70)).toBe(0);
  });

  it('with neither control a write to 300H exits 44', () => {
    const { exits } = writeOnce(xapicv(0), APIC_REG.ICR_LOW, 4, 0x00040070);
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([
      [EXIT_REASON.APIC_ACCESS, LINEAR_WRITE | 0x300],
    ]);
  });

  it('with APIC-register virtualization a write to 310H–313H keeps only VICR_HI byte 3, with no exit', () => {
    const m = machine();
    const seen: number[] = [];
    const exits = run(m, xapicv(ARV), [
      (c) => c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.ICR_HIGH, 4, 0xab123456),
      (c) => {
        seen.push(m.memory.read32(VAPIC + APIC_REG.ICR_HIGH));
        c.mmioWrite(APIC_ACCESS_PAGE + APIC_REG.ICR_HIGH + 3, 1, 0xcd);
      },
      (c) => c.vmcall(),
    ]);
    expect(seen).toEqual([0xab000000]);
    expect(m.memory.read32(VAPIC + APIC_REG.ICR_HIGH)).toBe(0xcd000000);
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([VMCALL]);
  });

  it('without APIC-register virtualization a write to 310H exits 44, even with virtual-interrupt delivery', () => {
    const { exits } = writeOnce(xapicv(VID), APIC_REG.ICR_HIGH, 4, 0x01000000);
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([
      [EXIT_REASON.APIC_ACCESS, LINEAR_WRITE | 0x310],
    ]);
  });

  it.each([
    ['ID', APIC_REG.ID],
    ['LDR', APIC_REG.LDR],
    ['DFR', APIC_REG.DFR],
    ['SVR', APIC_REG.SVR],
    ['ESR', APIC_REG.ESR],
    ['LVT timer', APIC_REG.LVT_TIMER],
    ['LVT error', 0x370],
    ['initial count', 0x380],
    ['divide configuration', 0x3e0],
  ])(
    'with APIC-register virtualization a write to %s is stored and exits 56 with its offset, trap-like',
    (_n, offset) => {
      const { m, exits } = writeOnce(xapicv(ARV | VID), offset, 4, 0x000200ef);
      expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.APIC_WRITE, offset]]);
      expect(exits[0]!.time).toBe(ENTRY_DONE + EXIT_PS);
      expect(m.memory.read32(VAPIC + offset)).toBe(0x000200ef);
      expect(m.memory.read32(APIC_ACCESS_PAGE + offset)).toBe(0);
    },
  );

  it('with APIC-register virtualization a byte write at 081H is stored there and exits 56 with qualification 081H (not TPR virtualization)', () => {
    const { m, exits } = writeOnce(xapicv(ARV, { [VMCS_FIELD.TPR_THRESHOLD]: 0 }), 0x081, 1, 0x12, (m) =>
      m.memory.write32(VAPIC + APIC_REG.TPR, 0x40),
    );
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([[EXIT_REASON.APIC_WRITE, 0x081]]);
    expect(m.memory.read32(VAPIC + APIC_REG.TPR)).toBe(0x1240);
  });

  it.each([
    ['version (read-only in the list)', APIC_REG.VERSION, 4],
    ['ISR', APIC_REG.ISR0, 4],
    ['TMR', APIC_REG.TMR0, 4],
    ['IRR', APIC_REG.IRR0, 4],
    ['PPR', APIC_REG.PPR, 4],
    ['current count', 0x390, 4],
    ['4 bytes at 302H (past the low 4 bytes)', 0x302, 4],
    ['1 byte at 084H', 0x084, 1],
  ])('with APIC-register virtualization a write to %s exits 44 and stores nothing', (_n, offset, size) => {
    const { m, exits } = writeOnce(xapicv(ARV | VID), offset, size as 1 | 2 | 4, 0xffffffff);
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([
      [EXIT_REASON.APIC_ACCESS, LINEAR_WRITE | offset],
    ]);
    expect(m.memory.read32(VAPIC + (offset & ~3))).toBe(0);
  });

  it('without "use TPR shadow" a write to 080H exits 44 and VTPR is not written', () => {
    const { m, exits } = writeOnce(
      {
        proc: PROC_BASED.ACTIVATE_SECONDARY_CONTROLS,
        proc2: PROC_BASED2.VIRTUALIZE_APIC_ACCESSES,
        fields: { [VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR]: VAPIC },
      },
      APIC_REG.TPR,
      4,
      0x30,
    );
    expect(exits.map((e) => [e.reason, e.qualification])).toEqual([
      [EXIT_REASON.APIC_ACCESS, LINEAR_WRITE | 0x80],
    ]);
    expect(m.memory.read32(VAPIC + APIC_REG.TPR)).toBe(0);
  });
});
