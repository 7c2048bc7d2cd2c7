/**
 * `@exitless/lapic`'s `LocalApicDevice` on its own: x2APIC mode, a self-IPI held back by the
 * task priority, then delivered, acknowledged and EOI'd. The lapic README's example.
 *
 *   node --conditions=source --import tsx examples/packages/lapic-x2apic-priority.ts
 */
import { InterruptBus, LocalApicDevice } from '@exitless/lapic';
import { Simulator } from '@exitless/sim';
import { APIC_REG, MSR } from '@exitless/x86';
import { type ExampleOptions, exampleRun, isMain } from '../common.js';

export function main(options: ExampleOptions = {}): {
  readonly intrBeforeTpr: boolean;
  readonly vector: number;
  readonly isrBeforeEoi: number;
  readonly isrAfterEoi: number;
  readonly mmioTpr: number;
} {
  const { log } = exampleRun(options);
  const hex = (n: number) => `0x${(n >>> 0).toString(16).toUpperCase()}`;
  const sim = new Simulator();
  const bus = new InterruptBus({ sim, ipiLatencyPs: 100_000 });
  const lapic = new LocalApicDevice({ sim, bus, apicId: 0, tscHz: 2.93e9, timerHz: 133.33e6, bsp: true });
  lapic.connect({ interruptLineChanged: () => log(`INTR ${lapic.hasInterrupt() ? 'raised' : 'lowered'}`) });

  lapic.writeMsr(MSR.IA32_APIC_BASE, 0xfee00d00, 0); // EN | EXTD | BSP: x2APIC mode
  lapic.writeMsr(MSR.X2APIC_SVR, 0x1ff, 0); // software enable, spurious vector 0xFF
  lapic.writeMsr(MSR.X2APIC_TPR, 0x50, 0);
  lapic.writeMsr(MSR.X2APIC_SELF_IPI, 0x41, 0); // pending in IRR, but class 4 ≤ PPR class 5
  const intrBeforeTpr = lapic.hasInterrupt();
  log(`after the self-IPI at TPR 0x50: INTR ${intrBeforeTpr}`);
  lapic.writeMsr(MSR.X2APIC_TPR, 0x30, 0); // class 4 > 3: INTR
  const vector = lapic.acknowledge(); // IRR → ISR
  const isrBeforeEoi = lapic.readRegister(APIC_REG.ISR0 + 0x20); // ISR bits 95:64; 0x41 is bit 65
  log(`acknowledged ${hex(vector)}: ISR[95:64] ${hex(isrBeforeEoi)}, PPR ${hex(lapic.processorPriority)}`);
  lapic.writeMsr(MSR.X2APIC_EOI, 0, 0);
  const isrAfterEoi = lapic.readRegister(APIC_REG.ISR0 + 0x20);
  const mmioTpr = lapic.mmioRead(APIC_REG.TPR, 4); // no MMIO interface in x2APIC mode
  log(`after EOI: ISR[95:64] ${hex(isrAfterEoi)}; MMIO read of TPR ${hex(mmioTpr)}`);
  return { intrBeforeTpr, vector, isrBeforeEoi, isrAfterEoi, mmioTpr };
}

if (isMain(import.meta.url)) main();
