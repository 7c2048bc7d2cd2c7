export type { SimulationErrorCode } from './errors.js';
export { SimulationError } from './errors.js';
export { RandomStream, RandomStreams } from './random.js';
export { MAX_PRIORITY, MIN_PRIORITY, SimEvent, Simulator } from './simulator.js';
export type { HistogramOptions, HistogramSummary, StatsSnapshot, TimeSource } from './stats.js';
export { Counter, Gauge, Histogram, ScopedStats, Stats } from './stats.js';
export {
  ClockDomain,
  cyclesToPs,
  MAX_TIME_PS,
  ms,
  ns,
  PS_PER_MS,
  PS_PER_NS,
  PS_PER_S,
  PS_PER_US,
  psToCycles,
  psToNs,
  psToSeconds,
  psToUs,
  seconds,
  us,
} from './time.js';
export type { TraceArgs, TraceRecord, TraceSink } from './trace.js';
export { ChromeTraceSink, MemoryTraceSink, Tracer } from './trace.js';
