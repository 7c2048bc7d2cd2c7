export type { EliCosts, EliMode, EliOptions, EliStrategyOptions } from './eli.js';
export { ELI_MODE, EliConfigError, EliStrategy, EliVcpuState, eliStrategy } from './eli.js';
