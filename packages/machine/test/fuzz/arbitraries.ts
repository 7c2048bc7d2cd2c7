/**
 * fast-check generators of hostile guest programs. Values lean on the edges that matter to
 * an interrupt controller and a hypervisor (vector classes, count 1 and divide-by-1, the
 * shadow IDT's page, host vectors, reserved bits), with uniform draws beside them; shrinking
 * removes operations and moves values toward the first (simplest) choice of each `oneof`.
 */
import { VF_REG } from '@exitless/nic';
import { encodeCompatMsiData, KVM_MSR } from '@exitless/x86';
import fc from 'fast-check';
import {
  type Addr,
  type GateSpec,
  type HandlerSpec,
  type HostIrq,
  LAYOUT,
  type Op,
  Program,
} from './program.js';

/** Any 32-bit value, leaning on the edges. */
export const u32: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1, 0xff, 0x100, 0x1ff, 0xffff, 0x80000000, 0xffffffff), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 0xff }), weight: 2 },
  {
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }))
      .map(([h, l]) => ((h << 16) | l) >>> 0),
    weight: 2,
  },
);

/** A vector: the classes the host and the guest use, then anything (rarely below 32). */
export const vector: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constantFrom(0x41, 0x30, 0xef, 0x51, 0x52, 0xe0, 0x42, 0xfe, 0xff, 0x20), weight: 3 },
  { arbitrary: fc.integer({ min: 32, max: 255 }), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 31 }), weight: 1 },
);

const X2APIC_KNOWN = [
  0x808, 0x80b, 0x80a, 0x80f, 0x830, 0x832, 0x838, 0x839, 0x83e, 0x83f, 0x802, 0x803, 0x80d, 0x810, 0x817,
  0x820, 0x828, 0x82f, 0x833, 0x837,
];

export const msrIndex: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constantFrom(...X2APIC_KNOWN), weight: 6 },
  { arbitrary: fc.integer({ min: 0x800, max: 0x8ff }), weight: 2 },
  { arbitrary: fc.constantFrom(0x6e0, 0x1b, 0x10, 0x3a, 0x480, 0xc0000080), weight: 1 },
  { arbitrary: u32, weight: 1 },
);

const ramOffset = fc.oneof(
  {
    arbitrary: fc.constantFrom(LAYOUT.SCRATCH, LAYOUT.SCRATCH + 0x800, 0, LAYOUT.IDT, LAYOUT.IDT2, 0x1000),
    weight: 3,
  },
  { arbitrary: fc.integer({ min: 0, max: LAYOUT.RAM_SIZE / 16 - 1 }).map((n) => n * 16), weight: 1 },
);

/** RAM, the pages beside its end, page boundaries, the shadow IDT's page, the LAPIC page, the VF's BARs, anywhere. */
export const addr: fc.Arbitrary<Addr> = fc.oneof(
  { arbitrary: ramOffset.map((offset): Addr => ({ region: 'ram', offset })), weight: 4 },
  {
    arbitrary: fc
      .integer({ min: -0x200, max: 0x600 })
      .map((n): Addr => ({ region: 'ramEnd', offset: n * 8 })),
    weight: 2,
  },
  {
    // 1–15 bytes before a page boundary, unaligned: an access or operand that crosses into the
    // next page (inside RAM, or past its end), which the CPU must translate page by page.
    arbitrary: fc
      .tuple(
        fc.boolean(),
        fc.integer({ min: 1, max: LAYOUT.RAM_SIZE / 4096 - 1 }),
        fc.integer({ min: 1, max: 15 }),
      )
      .map(
        ([end, page, k]): Addr =>
          end ? { region: 'ramEnd', offset: -k } : { region: 'ram', offset: page * 4096 - k },
      ),
    weight: 1,
  },
  {
    arbitrary: fc.integer({ min: 0, max: 0xff }).map((n): Addr => ({ region: 'shadow', offset: n * 16 })),
    weight: 2,
  },
  {
    arbitrary: fc.integer({ min: 0, max: 0x3f }).map((n): Addr => ({ region: 'lapic', offset: n * 16 })),
    weight: 1,
  },
  {
    arbitrary: fc
      .oneof(
        fc.constantFrom(...Object.values(VF_REG)),
        fc.integer({ min: 0, max: 0xfff }).map((n) => n * 4),
      )
      .map((offset): Addr => ({ region: 'bar0', offset })),
    weight: 1,
  },
  {
    arbitrary: fc.integer({ min: 0, max: 0x3f }).map((n): Addr => ({ region: 'msix', offset: n * 4 })),
    weight: 1,
  },
  {
    arbitrary: fc
      .oneof(
        fc.constantFrom(0xfec0_0000, 0x1_0000_0000, 0xffff_f000, 2 ** 40, 0xfed9_0000),
        u32.map((n) => n - (n % 16)),
      )
      .map((offset): Addr => ({ region: 'abs', offset })),
    weight: 1,
  },
);

/** Where a CALL or a gate may point that is not a handler: no code, beside RAM, a BAR, the shadow. */
const nonCodeAddr: fc.Arbitrary<Addr> = addr.filter(
  (a) => a.region !== 'ram' || a.offset < LAYOUT.CODE || a.offset >= LAYOUT.CODE + 0x10_0000,
);

export const gateSpec: fc.Arbitrary<GateSpec> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 2 }).map((h): GateSpec => ({ k: 'handler', h })), weight: 4 },
  { arbitrary: fc.constant<GateSpec>({ k: 'notPresent' }), weight: 2 },
  { arbitrary: fc.constant<GateSpec>({ k: 'noCode' }), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 2 }).map((h): GateSpec => ({ k: 'trap', h })), weight: 1 },
  { arbitrary: nonCodeAddr.map((at): GateSpec => ({ k: 'target', at })), weight: 1 },
  {
    arbitrary: fc.tuple(u32, u32, u32).map(([w0, w1, w2]): GateSpec => ({ k: 'raw', w0, w1, w2 })),
    weight: 1,
  },
);

const gateVector = fc.oneof(
  { arbitrary: fc.constant(0x41), weight: 2 },
  { arbitrary: fc.constantFrom(13, 11, 8, 0xef, 0x30, 0xe0, 0x51), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 },
);

// At least 100 cycles: a loop of compute(1) is no more hostile than compute(100), and would
// cost the simulation tens of millions of steps per run.
const cycles = fc.oneof(
  fc.constantFrom(100, 1000, 10_000, 100_000, 1_000_000),
  fc.integer({ min: 100, max: 3_000_000 }),
);

const lidt: fc.Arbitrary<Op> = fc
  .record({
    at: addr,
    limit: fc.oneof(fc.constantFrom(0xfff, 0xffff, 0, 0x1ff, 0x40f), fc.integer({ min: 0, max: 0xffff })),
    base: fc.oneof(
      {
        arbitrary: fc.constantFrom(LAYOUT.IDT, LAYOUT.IDT2, LAYOUT.SHADOW_IDT, 0, LAYOUT.RAM_SIZE - 0x800),
        weight: 4,
      },
      { arbitrary: u32, weight: 2 },
      { arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), weight: 1 },
    ),
  })
  .map(({ at, limit, base }): Op => ({ k: 'lidt', at, limit, base: BigInt(base) }));

const timer: fc.Arbitrary<Op> = fc
  .record({
    mode: fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 2 }), weight: 6 },
      { arbitrary: fc.constant(3), weight: 1 },
    ),
    vector,
    masked: fc.oneof(
      { arbitrary: fc.constant(false), weight: 5 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
    divide: fc.oneof(fc.constantFrom(0xb, 0, 3, 0xa), fc.integer({ min: 0, max: 15 }), u32),
    count: fc.oneof(fc.constantFrom(1, 2, 10, 1000, 133_330), fc.integer({ min: 0, max: 1_000_000 }), u32),
  })
  .map((t): Op => ({ k: 'timer', ...t }));

const ipi: fc.Arbitrary<Op> = fc
  .record({
    vector,
    mode: fc.oneof(
      { arbitrary: fc.constant(0), weight: 4 },
      { arbitrary: fc.integer({ min: 1, max: 7 }), weight: 2 },
    ),
    logical: fc.boolean(),
    shorthand: fc.integer({ min: 0, max: 3 }),
    level: fc.oneof(
      { arbitrary: fc.constant(false), weight: 3 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
    dest: fc.oneof(fc.constantFrom(0, 1, 0xff, 0xffffffff, 3), u32),
  })
  .map((i): Op => ({ k: 'ipi', ...i }));

const msix: fc.Arbitrary<Op> = fc
  .record({
    entry: fc.oneof(
      { arbitrary: fc.constant(0), weight: 3 },
      { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 1 },
    ),
    address: fc.oneof(
      {
        arbitrary: fc.constantFrom(0xfee0_0000, 0xfee0_1000, 0xfee0_3000, 0xfee0_0010, 0xfeef_f01c),
        weight: 3,
      },
      { arbitrary: fc.constantFrom(LAYOUT.SCRATCH, LAYOUT.IDT + 0x410, 0x1_1000_0000 % 2 ** 32), weight: 1 },
      { arbitrary: u32, weight: 1 },
    ),
    data: fc.oneof(
      {
        arbitrary: fc
          .tuple(vector, fc.constantFrom(0, 0, 1, 4, 7))
          .map(([v, mode]) =>
            encodeCompatMsiData({ vector: v, deliveryMode: mode, level: 0, triggerMode: 0 }),
          ),
        weight: 3,
      },
      { arbitrary: u32, weight: 1 },
    ),
    masked: fc.oneof(
      { arbitrary: fc.constant(false), weight: 4 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
  })
  .map((x): Op => ({ k: 'msix', ...x }));

const vfRegValue = fc.oneof(fc.constantFrom(0x1, 0x7, 0x2, 0x4000000, 0x2000000), u32);
const vfReg: fc.Arbitrary<Op> = fc
  .record({
    reg: fc.oneof(
      { arbitrary: fc.constantFrom(VF_REG.VFEICS, VF_REG.VFEIMS, VF_REG.VFEIMC, VF_REG.VFEITR0), weight: 3 },
      { arbitrary: fc.constantFrom(...Object.values(VF_REG)), weight: 2 },
      { arbitrary: fc.integer({ min: 0, max: 0xfff }).map((n) => n * 4), weight: 1 },
    ),
    value: vfRegValue,
  })
  .map((x): Op => ({ k: 'vfReg', ...x }));

const ring: fc.Arbitrary<Op> = fc
  .record({
    dir: fc.constantFrom<'rx' | 'tx'>('rx', 'tx'),
    ring: addr,
    buffers: addr,
    count: fc.integer({ min: 1, max: 8 }),
  })
  .map((r): Op => ({ k: 'ring', ...r }));

const wrmsr: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc
      .record({
        msr: msrIndex,
        lo: u32,
        hi: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: u32, weight: 1 }),
      })
      .map((w): Op => ({ k: 'wrmsr', ...w })),
    weight: 4,
  },
  // TPR and EOI, with in-range values mostly.
  {
    arbitrary: fc
      .oneof(fc.integer({ min: 0, max: 0xff }), u32)
      .map((lo): Op => ({ k: 'wrmsr', msr: 0x808, lo, hi: 0 })),
    weight: 2,
  },
  { arbitrary: fc.constant<Op>({ k: 'wrmsr', msr: 0x80b, lo: 0, hi: 0 }), weight: 1 },
);

const simple = {
  cli: fc.constant<Op>({ k: 'cli' }),
  sti: fc.constant<Op>({ k: 'sti' }),
  hlt: fc.constant<Op>({ k: 'hlt' }),
  pause: fc.constant<Op>({ k: 'pause' }),
  checkTpr: fc.constant<Op>({ k: 'checkTpr' }),
  checkPpr: fc.constant<Op>({ k: 'checkPpr' }),
};

/** The VF raises its interrupt: a write of 1 to VFEICS (cause of MSI-X vector 0). */
const fireVf = fc.constant<Op>({ k: 'vfReg', reg: VF_REG.VFEICS, value: 1 });

export const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: wrmsr, weight: 5 },
  { arbitrary: fireVf, weight: 3 },
  { arbitrary: msrIndex.map((msr): Op => ({ k: 'rdmsr', msr })), weight: 3 },
  { arbitrary: simple.sti, weight: 3 },
  { arbitrary: timer, weight: 3 },
  { arbitrary: ipi, weight: 3 },
  {
    arbitrary: fc
      .record({ at: addr, size: fc.constantFrom<1 | 2 | 4>(4, 1, 2), value: u32 })
      .map((w): Op => ({ k: 'write', ...w })),
    weight: 3,
  },
  { arbitrary: simple.checkTpr, weight: 2 },
  { arbitrary: simple.checkPpr, weight: 2 },
  {
    arbitrary: fc
      .record({ at: addr, size: fc.constantFrom<1 | 2 | 4>(4, 1, 2) })
      .map((r): Op => ({ k: 'read', ...r })),
    weight: 2,
  },
  { arbitrary: lidt, weight: 2 },
  { arbitrary: addr.map((at): Op => ({ k: 'sidt', at })), weight: 2 },
  {
    arbitrary: fc.record({ vector: gateVector, gate: gateSpec }).map((g): Op => ({ k: 'gate', ...g })),
    weight: 2,
  },
  { arbitrary: simple.cli, weight: 2 },
  { arbitrary: cycles.map((n): Op => ({ k: 'compute', cycles: n })), weight: 2 },
  { arbitrary: vfReg, weight: 2 },
  { arbitrary: msix, weight: 2 },
  { arbitrary: ring, weight: 2 },
  { arbitrary: simple.hlt, weight: 1 },
  { arbitrary: simple.pause, weight: 1 },
  {
    arbitrary: fc
      .oneof(fc.integer({ min: -100_000, max: 100_000 }), fc.constantFrom(-1, 0, 1, 2930, 29_300))
      .map((delta): Op => ({ k: 'deadline', delta })),
    weight: 1,
  },
  {
    arbitrary: fc
      .oneof(fc.constantFrom<'fn' | 'noCode'>('fn', 'noCode'), nonCodeAddr)
      .map((target): Op => ({ k: 'call', target })),
    weight: 1,
  },
);

/** What a loop body repeats: short operations that keep the guest busy, exiting, or asleep. */
export const loopOp: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: cycles.map((n): Op => ({ k: 'compute', cycles: n })), weight: 4 },
  { arbitrary: simple.sti, weight: 3 },
  { arbitrary: simple.hlt, weight: 2 },
  { arbitrary: simple.cli, weight: 1 },
  { arbitrary: simple.pause, weight: 1 },
  { arbitrary: simple.checkTpr, weight: 1 },
  { arbitrary: simple.checkPpr, weight: 1 },
  { arbitrary: wrmsr, weight: 1 },
  { arbitrary: msrIndex.map((msr): Op => ({ k: 'rdmsr', msr })), weight: 1 },
  { arbitrary: vfReg, weight: 1 },
  { arbitrary: fireVf, weight: 2 },
);

export const handlerSpec: fc.Arbitrary<HandlerSpec> = fc.record({
  eoi: fc.oneof(
    { arbitrary: fc.constant<'after'>('after'), weight: 4 },
    { arbitrary: fc.constantFrom<'none' | 'before'>('none', 'before'), weight: 2 },
  ),
  sti: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
  cycles: fc.oneof(fc.constantFrom(200, 0, 2000), fc.integer({ min: 0, max: 20_000 })),
  checkIsr: fc.oneof(
    { arbitrary: fc.constant(false), weight: 3 },
    { arbitrary: fc.constant(true), weight: 1 },
  ),
  end: fc.oneof(
    { arbitrary: fc.constant<'iret'>('iret'), weight: 6 },
    { arbitrary: fc.constantFrom<'spin' | 'hlt'>('spin', 'hlt'), weight: 1 },
  ),
});

/** Host vectors no guest owns (the host's "unexpected" handler, with EOI), low and high classes. */
export const HOST_IRQ_VECTORS: readonly number[] = [0x30, 0x38, 0x48, 0x90, 0xc0, 0xe0, 0xee];

export function hostIrqs(durationMs: number): fc.Arbitrary<HostIrq[]> {
  return fc.uniqueArray(
    fc.record({
      vector: fc.constantFrom(...HOST_IRQ_VECTORS),
      atUs: fc.integer({ min: 200, max: Math.max(300, durationMs * 1000 - 500) }),
    }),
    { maxLength: 3, selector: (h) => h.vector },
  );
}

/**
 * KVM's paravirtual EOI, for `pv-eoi` programs: MSR_KVM_PV_EOI_EN written with a flag in RAM
 * (mostly), with reserved bit 1, disabled, at the end of RAM or past it, on the LAPIC page, on
 * the VF's BAR0, above 4 GiB, or any value; and stores that set or clear the flag's bit 0
 * (a guest that clears it while the host has it set has EOI'd, by the protocol).
 */
const pvEoiOp: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc
      .record({
        lo: fc.oneof(
          { arbitrary: fc.constant(LAYOUT.PV_EOI_FLAG | 1), weight: 6 },
          {
            arbitrary: fc.constantFrom(
              LAYOUT.PV_EOI_FLAG | 3,
              LAYOUT.PV_EOI_FLAG,
              LAYOUT.PV_EOI_FLAG | 2,
              (LAYOUT.RAM_SIZE - 4) | 1,
              LAYOUT.RAM_SIZE | 1,
              LAYOUT.LAPIC | 1,
              0xf000_0001,
              LAYOUT.IDT | 1,
              1,
            ),
            weight: 3,
          },
          { arbitrary: u32, weight: 1 },
        ),
        hi: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: u32, weight: 1 }),
      })
      .map(({ lo, hi }): Op => ({ k: 'wrmsr', msr: KVM_MSR.PV_EOI_EN, lo: lo >>> 0, hi })),
    weight: 3,
  },
  { arbitrary: fc.constant<Op>({ k: 'rdmsr', msr: KVM_MSR.PV_EOI_EN }), weight: 1 },
  {
    arbitrary: fc
      .record({ size: fc.constantFrom<1 | 2 | 4>(1, 4), value: fc.oneof(fc.constantFrom(0, 1, 0xfe), u32) })
      .map((w): Op => ({ k: 'write', at: { region: 'ram', offset: LAYOUT.PV_EOI_FLAG }, ...w })),
    weight: 2,
  },
);

/** What a program's generator adds for a mode: `pvEoi` for `pv-eoi` (its MSR and flag). */
export interface ProgramOptions {
  readonly pvEoi?: boolean;
}

/** A whole guest program: ≤ 3 handlers, ≤ 4 changed gates, ≤ 30 operations, a loop of 1–4, ≤ 3 host interrupts. */
export function program(durationMs: number, options: ProgramOptions = {}): fc.Arbitrary<Program> {
  const ops =
    options.pvEoi === true ? fc.oneof({ arbitrary: op, weight: 6 }, { arbitrary: pvEoiOp, weight: 3 }) : op;
  return fc
    .record({
      handlers: fc.array(handlerSpec, { minLength: 1, maxLength: 3 }),
      gates: fc.array(fc.record({ vector: gateVector, gate: gateSpec }), { maxLength: 4 }),
      ops: fc.array(ops, { maxLength: 30 }),
      loop: fc.array(loopOp, { minLength: 1, maxLength: 4 }),
      hostIrqs: hostIrqs(durationMs),
    })
    .map((p) => new Program(p));
}
