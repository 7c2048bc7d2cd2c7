/**
 * The kernel against heap-js in a process of its own, so that no earlier benchmark in the
 * process has shaped what V8 compiled for either: `node … paired.ts PENDING PAIRS CHUNK_EVENTS
 * kernel-first|heap-js-first` prints pairedRatios's ratios as JSON.
 */
import { pairedRatios } from './kernel.js';

const [pending, pairs, chunk] = process.argv.slice(2, 5).map(Number);
const order = process.argv[5];
if (
  !Number.isInteger(pending) ||
  !Number.isInteger(pairs) ||
  !Number.isInteger(chunk) ||
  (order !== 'kernel-first' && order !== 'heap-js-first')
) {
  console.error('usage: paired.ts PENDING PAIRS CHUNK_EVENTS kernel-first|heap-js-first');
  process.exit(2);
}
console.log(JSON.stringify(pairedRatios(pending!, pairs!, chunk!, 1, order === 'kernel-first')));
