// The CPU tests use the same LAPIC double as the conformance suite.
export { LapicDouble, SPURIOUS_VECTOR } from '../src/conformance.js';
