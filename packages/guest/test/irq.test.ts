import { VF_REG } from '@exitless/nic';
import { MSR } from '@exitless/x86';
import { describe, expect, it } from 'vitest';
import {
  eitrForNewRate,
  type IrqKernel,
  IXGBEVF_MSIX,
  MailboxIrqRoutine,
  Napi,
  RxIrqRoutine,
  TxIrqRoutine,
} from '../src/index.js';
import {
  BAR0,
  COSTS,
  drain,
  makeDriver,
  nicCompletesTx,
  nicWritesBack,
  type Op,
  RecordingCpu,
  type TestDriver,
} from './driver-helpers.js';

const RX = 1 << IXGBEVF_MSIX.RX;
const EITR_RX = VF_REG.VFEITR0 + 4 * IXGBEVF_MSIX.RX;
const EITR_TX = VF_REG.VFEITR0 + 4 * IXGBEVF_MSIX.TX;
const POLL_DONE = 11;
const TX_CLEANED = 13;

function kernel(t: TestDriver): IrqKernel & { interrupts: number } {
  return {
    interrupts: 0,
    costs: COSTS,
    stack: t.stack,
    eoi: (cpu) => cpu.wrmsr(MSR.X2APIC_EOI, 0, 0),
    napiPollDone: () => POLL_DONE,
    txCleaned: () => TX_CLEANED,
    countInterrupt() {
      this.interrupts++;
    },
  };
}

function routines(t: TestDriver) {
  const k = kernel(t);
  const napi = new Napi();
  const stats = t.stats.scope('guest0');
  const counters = (kind: string) => ({ nic: stats.counter('interrupts-nic'), vector: stats.counter(kind) });
  return {
    k,
    napi,
    rx: new RxIrqRoutine(k, t.driver, napi, counters('interrupts-nic-rx')),
    tx: new TxIrqRoutine(k, t.driver, counters('interrupts-nic-tx')),
  };
}

const write = (reg: number, value: number): Op => ({ op: 'mmioWrite', address: BAR0 + reg, value });

describe('the RX vector (ixgbevf_msix_clean_rx, then NET_RX on irq_exit)', () => {
  it('EOI, VTEIMC, softirq with IF = 1, poll, RDT, ITR update, VTEITR, VTEIMS, in that order', () => {
    const t = makeDriver();
    drain(t.driver);
    const { rx, napi } = routines(t);
    // Two interrupts' worth of full frames take the ring from lowest to low to bulk.
    nicWritesBack(t.memory, 0, new Array(20).fill(1514));
    new RecordingCpu().run(rx);
    nicWritesBack(t.memory, 20, new Array(20).fill(1514));
    const ops = new RecordingCpu().run(rx);
    expect(ops).toEqual<Op[]>([
      { op: 'compute', cycles: COSTS.irqEntry },
      { op: 'wrmsr', index: MSR.X2APIC_EOI },
      { op: 'compute', cycles: COSTS.nicIrqHandler },
      write(VF_REG.VFEIMC, RX),
      { op: 'sti' },
      {
        op: 'compute',
        cycles: COSTS.napiPollBase + 20 * (COSTS.rxPerFrame + 5 + COSTS.rxRefillPerBuffer) + POLL_DONE,
      },
      write(VF_REG.VFRDT, 34), // 16 buffers from next_to_use 19: RDT 34
      write(VF_REG.VFRDT, 38), // the last 4
      { op: 'compute', cycles: COSTS.itrUpdate },
      write(EITR_RX, eitrForNewRate(8_000, false)),
      write(VF_REG.VFEIMS, RX),
      { op: 'cli' },
      { op: 'compute', cycles: COSTS.irqExit },
      { op: 'iret' },
    ]);
    expect(napi.pending).toBe(false);
    expect(napi.inSoftirq).toBe(false);
  });

  it('polls again while a poll takes its whole weight, completing only after one under budget', () => {
    const t = makeDriver();
    drain(t.driver);
    const { rx } = routines(t);
    nicWritesBack(t.memory, 0, new Array(100).fill(1514));
    const ops = new RecordingCpu().run(rx);
    const polls = ops.filter((o) => o.op === 'compute' && o.cycles > COSTS.napiPollBase + COSTS.rxPerFrame);
    expect(polls).toHaveLength(2); // 64, then 36
    const eims = ops.findIndex((o) => o.op === 'mmioWrite' && o.address === BAR0 + VF_REG.VFEIMS);
    expect(eims).toBe(ops.length - 4); // unmasked once, at the end
  });

  it('an RX interrupt taken during the softirq (after the unmask) schedules NAPI; the running softirq polls again', () => {
    const t = makeDriver();
    drain(t.driver);
    const { rx, napi } = routines(t);
    nicWritesBack(t.memory, 0, [60]);
    const outer = new RecordingCpu();
    let nestedOps: Op[] = [];
    let nested = false;
    const ops = outer.run(rx, () => {
      const last = outer.ops[outer.ops.length - 1]!;
      // Right after the VTEIMS write, a new frame's interrupt arrives (IF = 1 in the softirq).
      if (!nested && last.op === 'mmioWrite' && last.value === RX && last.address === BAR0 + VF_REG.VFEIMS) {
        nested = true;
        nicWritesBack(t.memory, 1, [60]);
        nestedOps = new RecordingCpu().run(rx);
      }
    });
    // The nested one masks, schedules, and returns without a softirq of its own.
    expect(nestedOps.map((o) => o.op)).toEqual([
      'compute',
      'wrmsr',
      'compute',
      'mmioWrite',
      'compute',
      'iret',
    ]);
    // The outer softirq polled twice and unmasked twice.
    const unmasks = ops.filter((o) => o.op === 'mmioWrite' && o.address === BAR0 + VF_REG.VFEIMS);
    expect(unmasks).toHaveLength(2);
    expect(napi.pending).toBe(false);
  });
});

describe('the TX vector (ixgbevf_msix_clean_tx)', () => {
  it('cleans and updates its ITR in the hard IRQ: no mask, no unmask, no softirq, no STI', () => {
    const t = makeDriver();
    drain(t.driver);
    const { tx, k } = routines(t);
    for (let i = 0; i < 3; i++) {
      t.driver.txSlot();
      t.driver.xmit(66);
    }
    drain(t.driver);
    nicCompletesTx(t.memory, 0, 3);
    const ops = new RecordingCpu().run(tx);
    expect(ops).toEqual<Op[]>([
      { op: 'compute', cycles: COSTS.irqEntry },
      { op: 'wrmsr', index: MSR.X2APIC_EOI },
      {
        op: 'compute',
        cycles: COSTS.nicTxIrqHandler + 3 * COSTS.txCleanPerFrame + COSTS.itrUpdate + TX_CLEANED,
      },
      write(EITR_TX, eitrForNewRate(100_000, false)),
      { op: 'compute', cycles: COSTS.irqExit },
      { op: 'iret' },
    ]);
    expect(k.interrupts).toBe(1);
  });

  it('issues the TDT writes of what the stack sent when the reclaim let it go on', () => {
    const t = makeDriver({ mode: 'fixed', intervalUs: 8 });
    drain(t.driver);
    const k = kernel(t);
    k.txCleaned = () => {
      t.driver.txSlot();
      t.driver.xmit(66);
      return TX_CLEANED;
    };
    const stats = t.stats.scope('g');
    const tx = new TxIrqRoutine(k, t.driver, { nic: stats.counter('a'), vector: stats.counter('b') });
    t.driver.txSlot();
    t.driver.xmit(66);
    drain(t.driver);
    nicCompletesTx(t.memory, 0, 1);
    const ops = new RecordingCpu().run(tx);
    expect(ops.filter((o) => o.op === 'mmioWrite')).toEqual([write(VF_REG.VFTDT, 2)]);
  });
});

describe('the mailbox vector (ixgbevf_msix_mbx)', () => {
  it('reads VTEICS, writes it back to VTEICR, and reads VFMAILBOX (check_for_ack)', () => {
    const t = makeDriver();
    const k = kernel(t);
    const stats = t.stats.scope('g');
    const mbx = new MailboxIrqRoutine(k, BAR0, { nic: stats.counter('a'), vector: stats.counter('b') });
    const cpu = new RecordingCpu();
    cpu.resultLo = 0x4; // what the VTEICS read returns: the mailbox cause
    expect(cpu.run(mbx)).toEqual<Op[]>([
      { op: 'compute', cycles: COSTS.irqEntry },
      { op: 'wrmsr', index: MSR.X2APIC_EOI },
      { op: 'mmioRead', address: BAR0 + VF_REG.VFEICS },
      write(VF_REG.VFEICR, 0x4),
      { op: 'mmioRead', address: BAR0 + VF_REG.VFMAILBOX },
      { op: 'compute', cycles: COSTS.irqExit },
      { op: 'iret' },
    ]);
  });
});
