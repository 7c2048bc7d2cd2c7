/**
 * A hostile guest program as data: what the fuzzer generates, shrinks and prints. Every
 * operation is something guest software can do through x86's CpuContext (RDMSR/WRMSR,
 * uncached loads and stores, LIDT/SIDT, CLI/STI/HLT/PAUSE, compute, CALL) or a store into
 * its own RAM; a few are composites that read like one line of a guest kernel (program
 * the LAPIC timer, point a descriptor ring somewhere). The interpreter is guest.ts.
 */
/** Guest-physical layout the fuzzed guest uses (the same as eli.test.ts's adversary). */
export const LAYOUT = {
  /** Guest RAM, bytes (the machine's default 256 MiB). */
  RAM_SIZE: 0x1000_0000,
  /** The guest's own IDT, its pseudo-descriptor, and a second table whose every gate is present. */
  IDT: 0x20_0000,
  IDTR: 0x20_1000,
  IDT2: 0x21_0000,
  /** Scratch RAM for crafted pseudo-descriptors, SIDT results and descriptor rings. */
  SCRATCH: 0x22_0000,
  /** Where a `pv-eoi` program puts its PV-EOI flag mostly (a word of RAM its stores and rings also reach). */
  PV_EOI_FLAG: 0x22_0800,
  /** Code: the main script, a callable function, handlers (one routine per vector and kind). */
  CODE: 0x10_0000,
  FN: 0x10_0100,
  HANDLERS: 0x11_0000,
  /** A RAM address nothing is registered at (a CALL or a gate there finds no code). */
  NO_CODE: 0x1f_0000,
  /** The xAPIC page, and the guest-physical page where ELI maps its shadow IDT. */
  LAPIC: 0xfee0_0000,
  SHADOW_IDT: 0xfeb0_0000,
  /** Bytes of the VF's BAR0 the fuzzer aims at (the registers the driver uses live below 0x3000). */
  BAR0_SPAN: 0x4000,
} as const;

/** Where an address points: resolved against the guest's environment when the program runs. */
export type Region = 'ram' | 'ramEnd' | 'lapic' | 'bar0' | 'msix' | 'shadow' | 'abs';

export interface Addr {
  readonly region: Region;
  readonly offset: number;
}

/** What an IDT gate holds. */
export type GateSpec =
  | { readonly k: 'handler'; readonly h: number }
  | { readonly k: 'trap'; readonly h: number }
  | { readonly k: 'notPresent' }
  | { readonly k: 'noCode' }
  | { readonly k: 'target'; readonly at: Addr }
  | { readonly k: 'raw'; readonly w0: number; readonly w1: number; readonly w2: number };

/** One line of the guest program. */
export type Op =
  | { readonly k: 'rdmsr'; readonly msr: number }
  | { readonly k: 'wrmsr'; readonly msr: number; readonly lo: number; readonly hi: number }
  | { readonly k: 'checkTpr' }
  | { readonly k: 'checkPpr' }
  | { readonly k: 'read'; readonly at: Addr; readonly size: 1 | 2 | 4 }
  | { readonly k: 'write'; readonly at: Addr; readonly size: 1 | 2 | 4; readonly value: number }
  | { readonly k: 'lidt'; readonly at: Addr; readonly limit: number; readonly base: bigint }
  | { readonly k: 'sidt'; readonly at: Addr }
  | { readonly k: 'gate'; readonly vector: number; readonly gate: GateSpec }
  | { readonly k: 'cli' }
  | { readonly k: 'sti' }
  | { readonly k: 'hlt' }
  | { readonly k: 'pause' }
  | { readonly k: 'compute'; readonly cycles: number }
  | {
      readonly k: 'ipi';
      readonly vector: number;
      readonly mode: number;
      readonly logical: boolean;
      readonly shorthand: number;
      readonly level: boolean;
      readonly dest: number;
    }
  | {
      readonly k: 'timer';
      readonly mode: number;
      readonly vector: number;
      readonly masked: boolean;
      readonly divide: number;
      readonly count: number;
    }
  | { readonly k: 'deadline'; readonly delta: number }
  | { readonly k: 'vfReg'; readonly reg: number; readonly value: number }
  | {
      readonly k: 'msix';
      readonly entry: number;
      readonly address: number;
      readonly data: number;
      readonly masked: boolean;
    }
  | {
      readonly k: 'ring';
      readonly dir: 'rx' | 'tx';
      readonly ring: Addr;
      readonly buffers: Addr;
      readonly count: number;
    }
  | { readonly k: 'call'; readonly target: 'fn' | 'noCode' | Addr };

/** An interrupt or exception handler: optional work, STI, EOI; then IRET, or never return. */
export interface HandlerSpec {
  readonly eoi: 'none' | 'before' | 'after';
  readonly sti: boolean;
  readonly cycles: number;
  /** Reads the ISR (with interrupts off) before its EOI: what the guest sees in service. */
  readonly checkIsr: boolean;
  readonly end: 'iret' | 'spin' | 'hlt';
}

/** An interrupt the harness raises on the host's own vectors, at a simulated time. */
export interface HostIrq {
  readonly vector: number;
  readonly atUs: number;
}

export interface ProgramParts {
  readonly handlers: readonly HandlerSpec[];
  /** Gates of the guest's IDT that differ from "every vector → handler 0" at boot. */
  readonly gates: readonly { readonly vector: number; readonly gate: GateSpec }[];
  readonly ops: readonly Op[];
  /** Repeated forever after `ops`. */
  readonly loop: readonly Op[];
  readonly hostIrqs: readonly HostIrq[];
}

// ---- printing ------------------------------------------------------------------------

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

const X2APIC_NAMES: Readonly<Record<number, string>> = {
  2050: 'ID',
  2051: 'VERSION',
  2056: 'TPR',
  2057: 'APR',
  2058: 'PPR',
  2059: 'EOI',
  2061: 'LDR',
  2063: 'SVR',
  2088: 'ESR',
  2095: 'LVT_CMCI',
  2096: 'ICR',
  2098: 'LVT_TIMER',
  2099: 'LVT_THERMAL',
  2100: 'LVT_PERF',
  2101: 'LVT_LINT0',
  2102: 'LVT_LINT1',
  2103: 'LVT_ERROR',
  2104: 'TMICT',
  2105: 'TMCCT',
  2110: 'TDCR',
  2111: 'SELF_IPI',
  27: 'IA32_APIC_BASE',
  16: 'IA32_TSC',
  1760: 'IA32_TSC_DEADLINE',
};

export function msrName(msr: number): string {
  const n = X2APIC_NAMES[msr];
  if (n !== undefined) return `${hex(msr)} /*${n}*/`;
  if (msr >= 0x810 && msr < 0x818) return `${hex(msr)} /*ISR${msr - 0x810}*/`;
  if (msr >= 0x818 && msr < 0x820) return `${hex(msr)} /*TMR${msr - 0x818}*/`;
  if (msr >= 0x820 && msr < 0x828) return `${hex(msr)} /*IRR${msr - 0x820}*/`;
  return hex(msr);
}

const VF_REG_NAMES: Readonly<Record<number, string>> = {
  0: 'VFCTRL',
  256: 'VFEICR',
  260: 'VFEICS',
  264: 'VFEIMS',
  268: 'VFEIMC',
  272: 'VFEIAC',
  276: 'VFEIAM',
  288: 'VFIVAR0',
  320: 'VFIVAR_MISC',
  764: 'VFMAILBOX',
  2080: 'VFEITR0',
  4096: 'VFRDBAL',
  4100: 'VFRDBAH',
  4104: 'VFRDLEN',
  4112: 'VFRDH',
  4116: 'VFSRRCTL',
  4120: 'VFRDT',
  4136: 'VFRXDCTL',
  8192: 'VFTDBAL',
  8196: 'VFTDBAH',
  8200: 'VFTDLEN',
  8208: 'VFTDH',
  8216: 'VFTDT',
  8232: 'VFTXDCTL',
};

const REGION_NAMES: Readonly<Record<Region, string>> = {
  ram: 'RAM',
  ramEnd: 'RAM_END',
  lapic: 'LAPIC',
  bar0: 'VF_BAR0',
  msix: 'MSIX_TABLE',
  shadow: 'SHADOW_IDT /*0xfeb00000*/',
  abs: '',
};

export function addrString(a: Addr): string {
  if (a.region === 'abs') return hex(a.offset);
  if (a.region === 'ram') {
    if (a.offset === LAYOUT.IDT) return 'RAM+0x200000 /*guest IDT*/';
    if (a.offset === LAYOUT.IDT2) return 'RAM+0x210000 /*all-present IDT*/';
  }
  const sign = a.offset < 0 ? '-' : '+';
  const reg = a.region === 'bar0' ? VF_REG_NAMES[a.offset] : undefined;
  return `${REGION_NAMES[a.region]}${sign}${hex(Math.abs(a.offset))}${reg !== undefined ? ` /*${reg}*/` : ''}`;
}

export function gateString(g: GateSpec): string {
  switch (g.k) {
    case 'handler':
      return `interrupt gate → handler h${g.h}`;
    case 'trap':
      return `trap gate → handler h${g.h}`;
    case 'notPresent':
      return 'not present';
    case 'noCode':
      return `interrupt gate → ${hex(LAYOUT.NO_CODE)} (no code there)`;
    case 'target':
      return `interrupt gate → ${addrString(g.at)}`;
    case 'raw':
      return `raw words ${hex(g.w0)} ${hex(g.w1)} ${hex(g.w2)}`;
  }
}

const TIMER_MODES = ['one-shot', 'periodic', 'TSC-deadline', 'reserved(3)'];
const DELIVERY = ['fixed', 'lowest', 'SMI', 'reserved(3)', 'NMI', 'INIT', 'SIPI', 'ExtINT'];
const SHORTHAND = ['', ', self', ', all-incl-self', ', all-excl-self'];

/** The divide configuration's divisor (SDM §10.5.4, figure 10-10). */
export function divisor(dcr: number): number {
  const v = ((dcr & 8) >>> 1) | (dcr & 3);
  return v === 7 ? 1 : 2 << v;
}

export function opString(op: Op): string {
  switch (op.k) {
    case 'rdmsr':
      return `rdmsr(${msrName(op.msr)})`;
    case 'wrmsr':
      return `wrmsr(${msrName(op.msr)}, ${hex(op.lo)}${op.hi !== 0 ? `, hi ${hex(op.hi)}` : ''})`;
    case 'checkTpr':
      return 'rdmsr(0x808 /*TPR*/) and check it reads what was last written';
    case 'checkPpr':
      return 'cli; rdmsr TPR, ISR0-7, PPR; check PPR (SDM §10.8.3.1); restore IF';
    case 'read':
      return `load${op.size * 8}(${addrString(op.at)})`;
    case 'write':
      return `store${op.size * 8}(${addrString(op.at)}, ${hex(op.value)})`;
    case 'lidt':
      return `lidt(${addrString(op.at)}) with {limit ${hex(op.limit)}, base ${hex(op.base)}} stored there first`;
    case 'sidt':
      return `sidt(${addrString(op.at)}) and check it shows the last LIDT`;
    case 'gate':
      return `guest IDT[${hex(op.vector)}] := ${gateString(op.gate)}`;
    case 'cli':
    case 'sti':
    case 'hlt':
    case 'pause':
      return `${op.k}()`;
    case 'compute':
      return `compute(${op.cycles})`;
    case 'ipi':
      return `wrmsr(0x830 /*ICR*/: vector ${hex(op.vector)}, ${DELIVERY[op.mode]}${op.logical ? ', logical' : ''}${
        op.level ? ', level' : ''
      }${SHORTHAND[op.shorthand]}, dest ${hex(op.dest)})`;
    case 'timer':
      return `LAPIC timer: TDCR ${hex(op.divide)} (÷${divisor(op.divide)}), LVT ${TIMER_MODES[op.mode]} vector ${hex(
        op.vector,
      )}${op.masked ? ' masked' : ''}, ${op.mode === 2 ? `deadline TSC+${op.count}` : `TMICT ${op.count}`}`;
    case 'deadline':
      return `wrmsr(0x6e0 /*IA32_TSC_DEADLINE*/, TSC${op.delta < 0 ? '' : '+'}${op.delta})`;
    case 'vfReg':
      return `store32(VF_BAR0+${hex(op.reg)}${VF_REG_NAMES[op.reg] !== undefined ? ` /*${VF_REG_NAMES[op.reg]}*/` : ''}, ${hex(op.value)})`;
    case 'msix':
      return `MSI-X entry ${op.entry} := {address ${hex(op.address)}, data ${hex(op.data)}, ${op.masked ? 'masked' : 'unmasked'}}`;
    case 'ring':
      return `${op.dir.toUpperCase()} ring at ${addrString(op.ring)}, ${op.count} descriptors → buffers at ${addrString(
        op.buffers,
      )}, enabled`;
    case 'call':
      return `call(${op.target === 'fn' ? 'a function that returns' : op.target === 'noCode' ? `${hex(LAYOUT.NO_CODE)} /*no code*/` : addrString(op.target)})`;
  }
}

export function handlerString(h: HandlerSpec): string {
  const parts: string[] = [];
  if (h.cycles > 0) parts.push(`compute(${h.cycles})`);
  if (h.eoi === 'before') parts.push('EOI');
  if (h.sti) parts.push('sti');
  if (h.checkIsr) parts.push('read ISR');
  if (h.eoi === 'after') parts.push('EOI');
  parts.push(h.end === 'iret' ? 'iret' : h.end === 'spin' ? 'loop forever' : 'hlt forever');
  return parts.join('; ');
}

/** A whole generated guest, printable as a short program (fast-check prints a counterexample with its toString). */
export class Program implements ProgramParts {
  readonly handlers: readonly HandlerSpec[];
  readonly gates: readonly { readonly vector: number; readonly gate: GateSpec }[];
  readonly ops: readonly Op[];
  readonly loop: readonly Op[];
  readonly hostIrqs: readonly HostIrq[];

  constructor(p: ProgramParts) {
    this.handlers = p.handlers;
    this.gates = p.gates;
    this.ops = p.ops;
    this.loop = p.loop;
    this.hostIrqs = p.hostIrqs;
  }

  toString(): string {
    const lines: string[] = ['guest program:'];
    this.handlers.forEach((h, i) => {
      lines.push(`  handler h${i}: ${handlerString(h)}`);
    });
    lines.push('  IDT at RAM+0x200000: every vector → h0');
    for (const g of this.gates) lines.push(`    IDT[${hex(g.vector)}] → ${gateString(g.gate)}`);
    lines.push(
      '  boot: lidt(guest IDT); x2APIC on; SVR 0x1ff; MSI-X 0 → vector 0x41 at APIC 0; VF IVAR RX→0 TX→1 misc→2, EIMS 0x7',
    );
    if (this.ops.length > 0) lines.push('  then:');
    for (const op of this.ops) lines.push(`    ${opString(op)}`);
    lines.push('  loop forever:');
    for (const op of this.loop) lines.push(`    ${opString(op)}`);
    if (this.hostIrqs.length > 0) {
      lines.push(
        `  host interrupts raised by the harness: ${this.hostIrqs.map((h) => `${hex(h.vector)} at ${h.atUs} µs`).join(', ')}`,
      );
    }
    return lines.join('\n');
  }
}
