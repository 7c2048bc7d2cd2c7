/**
 * `@exitless/net`'s codecs: one full-sized TCP segment written to a frame and read back,
 * with caller-owned field objects. The net README's example.
 *
 *   node --conditions=source --import tsx examples/packages/net-tcp-segment.ts
 */

import {
  ipv4,
  makeTcpSegmentFields,
  readTcpSegment,
  TCP_FLAG,
  wireBytes,
  writeTcpSegment,
} from '@exitless/net';
import { type ExampleOptions, exampleRun, isMain } from '../common.js';

export function main(options: ExampleOptions = {}): {
  readonly length: number;
  readonly wire: number;
  readonly ok: boolean;
  readonly payloadLength: number;
} {
  const { log } = exampleRun(options);
  const frame = new Uint8Array(2048);
  const f = makeTcpSegmentFields();
  f.srcIp = ipv4(10, 0, 0, 1);
  f.dstIp = ipv4(10, 0, 0, 2);
  f.flags = TCP_FLAG.ACK;
  f.payloadLength = 1448; // the MSS of a 1500-byte MTU with TCP timestamps
  const length = writeTcpSegment(frame, f); // Ethernet + IPv4 + TCP headers + payload, no FCS
  const wire = wireBytes(length); // what it occupies on the wire: FCS, preamble, SFD, gap

  const back = makeTcpSegmentFields();
  const ok = readTcpSegment(frame, length, back);
  log(
    `${length}-byte frame, ${wire} bytes on the wire; read back: ${ok}, ${back.payloadLength} bytes of payload`,
  );
  return { length, wire, ok, payloadLength: back.payloadLength };
}

if (isMain(import.meta.url)) main();
