export type { EliCosts, EliOptions } from './eli.js';
export { EliConfigError, EliStrategy } from './eli.js';
