import type { ScopedStats, Tracer } from '@exitless/sim';
import { Simulator } from '@exitless/sim';
import {
  APIC_REG,
  type InterruptLineListener,
  type InterruptMessage,
  makeInterruptMessage,
} from '@exitless/x86';
import { InterruptBus, LocalApicDevice } from '../src/index.js';

export const TSC_HZ = 1_000_000_000;
export const TIMER_HZ = 100_000_000;
export const IPI_LATENCY_PS = 40_000;

export class Line implements InterruptLineListener {
  n = 0;
  interruptLineChanged(): void {
    this.n++;
  }
}

export interface Machine {
  sim: Simulator;
  bus: InterruptBus;
  apics: LocalApicDevice[];
}

export function machine(
  ids: readonly number[],
  opts: { enable?: boolean; timerHz?: number; tscHz?: number; stats?: ScopedStats; tracer?: Tracer } = {},
): Machine {
  const sim = new Simulator();
  const bus = new InterruptBus({ sim, ipiLatencyPs: IPI_LATENCY_PS });
  const apics = ids.map(
    (apicId, i) =>
      new LocalApicDevice({
        sim,
        bus,
        apicId,
        tscHz: opts.tscHz ?? TSC_HZ,
        timerHz: opts.timerHz ?? TIMER_HZ,
        bsp: i === 0,
        ...(opts.stats !== undefined && i === 0 ? { stats: opts.stats } : {}),
        ...(opts.tracer !== undefined ? { tracer: opts.tracer } : {}),
      }),
  );
  if (opts.enable !== false) for (const a of apics) a.mmioWrite(APIC_REG.SVR, 4, 0x1ff);
  return { sim, bus, apics };
}

export function msg(
  vector: number,
  destination: number,
  fields: Partial<InterruptMessage> = {},
): InterruptMessage {
  return Object.assign(makeInterruptMessage(), { vector, destination }, fields);
}

export function irrBit(a: LocalApicDevice, v: number): boolean {
  return ((a.readRegister(APIC_REG.IRR0 + (v >>> 5) * 0x10) >>> (v & 31)) & 1) === 1;
}

export function isrBit(a: LocalApicDevice, v: number): boolean {
  return ((a.readRegister(APIC_REG.ISR0 + (v >>> 5) * 0x10) >>> (v & 31)) & 1) === 1;
}
