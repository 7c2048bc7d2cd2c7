/**
 * `@exitless/x86`'s codecs: an IDT gate and a compatibility-format MSI, encoded to the bytes
 * and words the hardware reads. The x86 README's example.
 *
 *   node --conditions=source --import tsx examples/packages/x86-idt-and-msi.ts
 */

import {
  decodeIdtGate,
  encodeCompatMsiAddress,
  encodeCompatMsiData,
  encodeIdtGate,
  interruptGate,
} from '@exitless/x86';
import { type ExampleOptions, exampleRun, isMain } from '../common.js';

export function main(options: ExampleOptions = {}): {
  readonly gate: Uint8Array;
  readonly address: number;
  readonly data: number;
} {
  const { log } = exampleRun(options);
  const hex = (n: number) => `0x${n.toString(16).toUpperCase()}`;

  // A 64-bit interrupt gate (16 bytes, SDM vol. 3 §6.14.1) to a handler at 0x401000, not present.
  const gate = new Uint8Array(16);
  encodeIdtGate(interruptGate(0x40_1000, { present: false }), gate);
  log(`gate byte 5 = ${hex(gate[5]!)} (type 0xE, P clear); present: ${decodeIdtGate(gate).present}`);

  // An MSI to APIC 3, physical destination mode, vector 0x41, fixed, edge (SDM vol. 3 §10.11).
  const address = encodeCompatMsiAddress({ destination: 3, redirectionHint: 0, destMode: 0 });
  const data = encodeCompatMsiData({ vector: 0x41, deliveryMode: 0, level: 0, triggerMode: 0 });
  log(`MSI address ${hex(address)}, data ${hex(data)}`);
  return { gate, address, data };
}

if (isMain(import.meta.url)) main();
