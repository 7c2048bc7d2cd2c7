import { RX_DESC, RXD_STAT, TX_DESC, TXD_STAT } from '@exitless/nic';
import { Stats } from '@exitless/sim';
import { type CpuContext, type Frame, type Routine, SparseMemory } from '@exitless/x86';
import {
  GUEST_LAYOUT,
  type GuestCosts,
  type InterruptThrottling,
  Ixgbevf,
  type IxgbevfStack,
} from '../src/index.js';

/** Every cost a distinct number, so a test can tell which one was charged. */
export const COSTS: GuestCosts = {
  irqEntry: 400,
  irqExit: 200,
  nicIrqHandler: 210,
  nicTxIrqHandler: 220,
  itrUpdate: 100,
  napiPollBase: 300,
  rxPerFrame: 1000,
  rxRefillPerBuffer: 30,
  rxPerSkb: 3000,
  txPerFrame: 2000,
  txCleanPerFrame: 7,
  wakeup: 1500,
  contextSwitch: 2000,
  recvSyscall: 1500,
  copyPerByte: 1,
  timerTick: 2000,
  bootStep: 10000,
  udpRxPerDatagram: 1500,
  tcpConnectionSetup: 5000,
  acceptSyscall: 3000,
  sendSyscall: 1500,
  copyFromUserPerByte: 0.25,
  closeSyscall: 2500,
  eventWait: 1000,
};

export const DYNAMIC: InterruptThrottling & { readonly mode: 'dynamic' } = {
  mode: 'dynamic',
  eitrParam: 20_000,
  eitrLow: 10,
  eitrHigh: 20,
  lowestRate: 100_000,
  lowRate: 20_000,
  bulkRate: 8_000,
  doubleConversion: false,
};

export const BAR0 = 0xf000_0000;
export const BAR3 = 0xf100_0000;

export interface TestDriver {
  readonly driver: Ixgbevf;
  readonly memory: SparseMemory;
  readonly stats: Stats;
  /** The stack: records what it was handed, charges 5 cycles a frame. */
  readonly stack: IxgbevfStack & { readonly frames: number[] };
}

export function makeDriver(
  throttling: InterruptThrottling = DYNAMIC,
  rings: { rx?: number; tx?: number } = {},
): TestDriver {
  const memory = new SparseMemory(GUEST_LAYOUT.MIN_MEMORY);
  const stats = new Stats({ now: 0 });
  const driver = new Ixgbevf({
    memory,
    bar0: BAR0,
    bar3: BAR3,
    apicId: 0,
    vectors: { rx: 0x41, tx: 0x42, mailbox: 0x43 },
    rxRingSize: rings.rx ?? 512,
    txRingSize: rings.tx ?? 1024,
    napiBudget: 64,
    throttling,
    costs: COSTS,
    stats: stats.scope('guest0'),
  });
  driver.configureRings();
  const frames: number[] = [];
  const stack = {
    frames,
    receive(length: number): number {
      frames.push(length);
      return 5;
    },
  };
  return { driver, memory, stats, stack };
}

/** What the NIC does on receive: write back `lengths` into the next descriptors from `at`, DD|EOP. */
export function nicWritesBack(
  memory: SparseMemory,
  at: number,
  lengths: readonly number[],
  ring = 512,
): number {
  let i = at;
  for (const len of lengths) {
    const d = GUEST_LAYOUT.RX_RING + i * RX_DESC.SIZE;
    memory.write16(d + RX_DESC.LENGTH, len);
    memory.write8(d + RX_DESC.STATUS, RXD_STAT.DD | RXD_STAT.EOP);
    i = (i + 1) % ring;
  }
  return i;
}

/** What the NIC does after transmitting: DD into `count` TX descriptors from `at`. */
export function nicCompletesTx(memory: SparseMemory, at: number, count: number, ring = 1024): void {
  for (let k = 0; k < count; k++) {
    memory.write8(GUEST_LAYOUT.TX_RING + ((at + k) % ring) * TX_DESC.SIZE + TX_DESC.STATUS, TXD_STAT.DD);
  }
}

/** The driver's pending register writes, as [BAR0 offset, value] pairs (oldest first). */
export function pending(driver: Ixgbevf): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < driver.pendingWrites; i++) {
    const w = driver.pendingWrite(i);
    out.push([w.offset, w.value]);
  }
  return out;
}

/** Issues every pending write on a CPU that only records them; returns them as [address, value]. */
export function drain(driver: Ixgbevf): [number, number][] {
  const out: [number, number][] = [];
  const cpu = { mmioWrite: (a: number, _s: number, v: number) => out.push([a, v]) };
  while (driver.flushWrite(cpu)) {
    // one write per call
  }
  return out;
}

/** One operation a routine asked the CPU for. */
export type Op =
  | { readonly op: 'compute'; readonly cycles: number }
  | { readonly op: 'wrmsr'; readonly index: number }
  | { readonly op: 'mmioWrite'; readonly address: number; readonly value: number }
  | { readonly op: 'mmioRead'; readonly address: number }
  | { readonly op: 'sti' | 'cli' | 'iret' };

/**
 * A CPU that records the operations a routine asks for, one per step, and lets a test run
 * the routine to its IRET. Only what the NIC routines use is implemented.
 */
export class RecordingCpu {
  readonly ops: Op[] = [];
  now = 0;
  resultLo = 0;

  private readonly ctx: CpuContext;

  constructor() {
    const ops = this.ops;
    const self = this;
    this.ctx = {
      get now() {
        return self.now;
      },
      get resultLo() {
        return self.resultLo;
      },
      compute: (cycles: number) => ops.push({ op: 'compute', cycles }),
      wrmsr: (index: number) => ops.push({ op: 'wrmsr', index }),
      mmioWrite: (address: number, _size: number, value: number) =>
        ops.push({ op: 'mmioWrite', address, value }),
      mmioRead: (address: number) => ops.push({ op: 'mmioRead', address }),
      sti: () => ops.push({ op: 'sti' }),
      cli: () => ops.push({ op: 'cli' }),
      iret: () => ops.push({ op: 'iret' }),
    } as unknown as CpuContext;
  }

  /** Runs `routine` step by step until it returns with IRET; `between(i)` runs after step i. */
  run(routine: Routine, between: (step: number) => void = () => {}): Op[] {
    const frame = { routine, pc: 0, r0: 0, r1: 0, r2: 0, r3: 0, vector: 0, errorCode: 0 } as Frame;
    const start = this.ops.length;
    for (let step = 0; step < 10_000; step++) {
      routine.step(this.ctx, frame);
      const last = this.ops[this.ops.length - 1];
      between(step);
      if (last?.op === 'iret') return this.ops.slice(start);
    }
    throw new Error(`${routine.name} did not return`);
  }
}
