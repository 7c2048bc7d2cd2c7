/**
 * Ethernet II, IPv4 (RFC 791), TCP (RFC 9293) and UDP (RFC 768) headers, read from and
 * written into frame bytes in network byte order. The guest's stack and the remote load
 * generator both build and parse real frames with these, so what crosses the wire and
 * lands in a guest's RX buffer is a real packet.
 */

/** Ethernet header length (destination MAC, source MAC, EtherType). */
export const ETH_HEADER_LEN = 14;
/** Frame check sequence length, counted in frame size on the wire. */
export const ETH_FCS_LEN = 4;
/** Minimum Ethernet frame (with FCS). */
export const ETH_MIN_FRAME = 64;
/** EtherType of IPv4. */
export const ETHERTYPE_IPV4 = 0x0800;
/** IPv4 header length without options. */
export const IPV4_HEADER_LEN = 20;
/** IP protocol numbers. */
export const IP_PROTO = {
  /** TCP. */
  TCP: 6,
  /** UDP. */
  UDP: 17,
} as const;
/** TCP header length without options. */
export const TCP_HEADER_LEN = 20;
/** TCP header with the timestamps option (Linux's default): 20 + 12. */
export const TCP_HEADER_LEN_TIMESTAMPS = 32;
/** UDP header length. */
export const UDP_HEADER_LEN = 8;
/** TCP flags. */
export const TCP_FLAG = {
  /** FIN: no more data from the sender. */
  FIN: 0x01,
  /** SYN: synchronize sequence numbers. */
  SYN: 0x02,
  /** RST: reset the connection. */
  RST: 0x04,
  /** PSH: push. */
  PSH: 0x08,
  /** ACK: the acknowledgment field is significant. */
  ACK: 0x10,
} as const;

/** A MAC address as a 48-bit number (exact in a double). */
export type Mac = number;

/** Offsets of the headers in a frame (Ethernet, then IPv4, then L4). */
export const OFFSET = {
  /** Destination MAC address (6 bytes). */
  ETH_DST: 0,
  /** Source MAC address (6 bytes). */
  ETH_SRC: 6,
  /** EtherType (2 bytes). */
  ETH_TYPE: 12,
  /** The IPv4 header. */
  IP: 14,
  /** The TCP or UDP header (after a 20-byte IPv4 header without options). */
  L4: 34,
} as const;

/** Reads the big-endian (network order) 16-bit value at `at`. */
export function readU16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

/** Writes `v` as a big-endian 16-bit value at `at`. */
export function writeU16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

/** Reads the big-endian 32-bit value at `at`, unsigned. */
export function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Writes `v` as a big-endian 32-bit value at `at`. */
export function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** Reads the 6-byte MAC address at `at` (first octet most significant). */
export function readMac(b: Uint8Array, at: number): Mac {
  return readU16(b, at) * 0x100000000 + readU32(b, at + 2);
}

/** Writes the 6-byte MAC address `mac` at `at`. */
export function writeMac(b: Uint8Array, at: number, mac: Mac): void {
  writeU16(b, at, Math.floor(mac / 0x100000000) & 0xffff);
  writeU32(b, at + 2, mac >>> 0); // the low 32 bits: ToUint32 is (mac % 2^32) >>> 0
}

/** Formats a MAC as aa:bb:cc:dd:ee:ff. */
export function formatMac(mac: Mac): string {
  const parts: string[] = [];
  for (let i = 5; i >= 0; i--)
    parts.push((Math.floor(mac / 2 ** (8 * i)) & 0xff).toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** The Internet checksum (RFC 1071) of bytes [at, at + len), folded, not complemented. */
export function onesComplementSum(b: Uint8Array, at: number, len: number, initial = 0): number {
  let sum = initial;
  let i = at;
  const end = at + len;
  for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * onesComplementSum of the 20-byte IPv4 header (no options) at `at`: the same sum, spelled
 * out, for the header checksum written or checked for every frame.
 */
function ipv4HeaderSum(b: Uint8Array, at: number): number {
  let sum =
    ((b[at]! << 8) | b[at + 1]!) +
    ((b[at + 2]! << 8) | b[at + 3]!) +
    ((b[at + 4]! << 8) | b[at + 5]!) +
    ((b[at + 6]! << 8) | b[at + 7]!) +
    ((b[at + 8]! << 8) | b[at + 9]!) +
    ((b[at + 10]! << 8) | b[at + 11]!) +
    ((b[at + 12]! << 8) | b[at + 13]!) +
    ((b[at + 14]! << 8) | b[at + 15]!) +
    ((b[at + 16]! << 8) | b[at + 17]!) +
    ((b[at + 18]! << 8) | b[at + 19]!);
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/**
 * The checksum field of the IPv4 header writeTcpSegment writes, ~ipv4HeaderSum of it, from
 * the field values instead of the bytes (no read-back): the same ten 16-bit words — 0x4500
 * (version, IHL, TOS), the total length, the id, 0x4000 (DF), 0x4006 (TTL 64, TCP), the
 * checksum as 0, the addresses' halves — each as the bytes written hold it (`& 0xffff`), so
 * the same sum and the same folds.
 */
function tcpIpv4Checksum(totalLength: number, id: number, srcIp: number, dstIp: number): number {
  let sum =
    0x4500 +
    (totalLength & 0xffff) +
    (id & 0xffff) +
    0x4000 +
    ((64 << 8) | IP_PROTO.TCP) +
    ((srcIp >>> 16) & 0xffff) +
    (srcIp & 0xffff) +
    ((dstIp >>> 16) & 0xffff) +
    (dstIp & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~((sum & 0xffff) + (sum >>> 16)) & 0xffff;
}

/** Fields of an IPv4 + TCP segment header (timestamps option included when `timestamps`). */
export interface TcpSegmentFields {
  /** Destination MAC address. */
  dstMac: Mac;
  /** Source MAC address. */
  srcMac: Mac;
  /** Source IPv4 address. */
  srcIp: number;
  /** Destination IPv4 address. */
  dstIp: number;
  /** Source TCP port. */
  srcPort: number;
  /** Destination TCP port. */
  dstPort: number;
  /** Sequence number (modulo 2^32). */
  seq: number;
  /** Acknowledgment number (modulo 2^32). */
  ack: number;
  /** Flags ({@link TCP_FLAG}). */
  flags: number;
  /** Window field, as sent (unscaled; written capped at 0xFFFF). */
  window: number;
  /** Payload bytes after the headers. */
  payloadLength: number;
  /** Include the 12-byte timestamps option (NOP, NOP, TS) as Linux does. */
  timestamps: boolean;
  /** TSval of the timestamps option. */
  tsVal: number;
  /** TSecr of the timestamps option. */
  tsEcr: number;
  /** IPv4 identification. */
  ipId: number;
}

/** A zeroed TcpSegmentFields (reuse one per sender on hot paths). */
export function makeTcpSegmentFields(): TcpSegmentFields {
  return {
    dstMac: 0,
    srcMac: 0,
    srcIp: 0,
    dstIp: 0,
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    payloadLength: 0,
    timestamps: true,
    tsVal: 0,
    tsEcr: 0,
    ipId: 0,
  };
}

/** Length of the Ethernet + IPv4 + TCP headers for these fields. */
export function tcpHeadersLength(timestamps: boolean): number {
  return ETH_HEADER_LEN + IPV4_HEADER_LEN + (timestamps ? TCP_HEADER_LEN_TIMESTAMPS : TCP_HEADER_LEN);
}

function writeIpv4(
  b: Uint8Array,
  totalLength: number,
  proto: number,
  src: number,
  dst: number,
  id: number,
): void {
  const ip = OFFSET.IP;
  b[ip] = 0x45;
  b[ip + 1] = 0;
  writeU16(b, ip + 2, totalLength);
  writeU16(b, ip + 4, id & 0xffff);
  writeU16(b, ip + 6, 0x4000); // DF
  b[ip + 8] = 64;
  b[ip + 9] = proto;
  writeU16(b, ip + 10, 0);
  writeU32(b, ip + 12, src);
  writeU32(b, ip + 16, dst);
  writeU16(b, ip + 10, ~ipv4HeaderSum(b, ip) & 0xffff);
}

/**
 * Writes Ethernet, IPv4 and TCP headers for `f` at the start of `b` and returns the frame
 * length without FCS (headers + payload; the payload bytes themselves are left as they are).
 * Frames shorter than the Ethernet minimum are padded in the returned length.
 */
export function writeTcpSegment(b: Uint8Array, f: TcpSegmentFields): number {
  // What writeMac, writeU16, writeU32 and writeIpv4 write, spelled out: this runs once per
  // segment for most senders, and the calls it would otherwise make are not all inlined. The
  // fields that change from one segment of a connection to the next (lengths, id, checksum,
  // sequence and acknowledgment numbers, flags, window, timestamps) are rewriteTcpSegment's.
  const dstMac = f.dstMac;
  const dstHi = Math.floor(dstMac / 0x100000000) & 0xffff;
  const dstLo = dstMac >>> 0;
  b[0] = (dstHi >>> 8) & 0xff;
  b[1] = dstHi & 0xff;
  b[2] = (dstLo >>> 24) & 0xff;
  b[3] = (dstLo >>> 16) & 0xff;
  b[4] = (dstLo >>> 8) & 0xff;
  b[5] = dstLo & 0xff;
  const srcMac = f.srcMac;
  const srcHi = Math.floor(srcMac / 0x100000000) & 0xffff;
  const srcLo = srcMac >>> 0;
  b[6] = (srcHi >>> 8) & 0xff;
  b[7] = srcHi & 0xff;
  b[8] = (srcLo >>> 24) & 0xff;
  b[9] = (srcLo >>> 16) & 0xff;
  b[10] = (srcLo >>> 8) & 0xff;
  b[11] = srcLo & 0xff;
  b[12] = (ETHERTYPE_IPV4 >>> 8) & 0xff;
  b[13] = ETHERTYPE_IPV4 & 0xff;
  const tcpLen = f.timestamps ? TCP_HEADER_LEN_TIMESTAMPS : TCP_HEADER_LEN;
  // IPv4 (writeIpv4): total length, id and checksum are rewriteTcpSegment's.
  const srcIp = f.srcIp;
  const dstIp = f.dstIp;
  b[14] = 0x45;
  b[15] = 0;
  b[20] = 0x40; // DF
  b[21] = 0;
  b[22] = 64;
  b[23] = IP_PROTO.TCP;
  b[26] = (srcIp >>> 24) & 0xff;
  b[27] = (srcIp >>> 16) & 0xff;
  b[28] = (srcIp >>> 8) & 0xff;
  b[29] = srcIp & 0xff;
  b[30] = (dstIp >>> 24) & 0xff;
  b[31] = (dstIp >>> 16) & 0xff;
  b[32] = (dstIp >>> 8) & 0xff;
  b[33] = dstIp & 0xff;
  // TCP (t = OFFSET.L4 = 34): sequence, acknowledgment, flags, window and timestamps are
  // rewriteTcpSegment's.
  const srcPort = f.srcPort;
  const dstPort = f.dstPort;
  b[34] = (srcPort >>> 8) & 0xff;
  b[35] = srcPort & 0xff;
  b[36] = (dstPort >>> 8) & 0xff;
  b[37] = dstPort & 0xff;
  b[46] = (tcpLen / 4) << 4;
  b[50] = 0; // checksum: offloaded to the NIC (CSO), as Linux does on 82599
  b[51] = 0;
  b[52] = 0;
  b[53] = 0;
  if (f.timestamps) {
    b[54] = 1; // NOP
    b[55] = 1; // NOP
    b[56] = 8; // kind: timestamps
    b[57] = 10; // length
  }
  return rewriteTcpSegment(b, f);
}

/**
 * Rewrites a frame that {@link writeTcpSegment} wrote for a segment of the same connection:
 * the bytes it leaves are exactly what `writeTcpSegment(b, f)` leaves, and it returns the
 * same length, provided `b` still holds the headers written for fields with the same
 * `dstMac`, `srcMac`, `srcIp`, `dstIp`, `srcPort`, `dstPort` and `timestamps` as `f`.
 * Only what changes from one segment of a connection to the next is written: the IPv4
 * total length, identification and checksum, the sequence and acknowledgment numbers, the
 * flags, the window and the timestamps. For a sender that builds every segment in one
 * buffer (the load generator's), a third of the header writes and no read-back. `b` must
 * hold at least the headers (`tcpHeadersLength(f.timestamps)` bytes).
 */
export function rewriteTcpSegment(b: Uint8Array, f: TcpSegmentFields): number {
  const timestamps = f.timestamps;
  const tcpLen = timestamps ? TCP_HEADER_LEN_TIMESTAMPS : TCP_HEADER_LEN;
  const totalLength = IPV4_HEADER_LEN + tcpLen + f.payloadLength;
  const id = f.ipId & 0xffff;
  const srcIp = f.srcIp;
  const dstIp = f.dstIp;
  b[16] = (totalLength >>> 8) & 0xff;
  b[17] = totalLength & 0xff;
  b[18] = (id >>> 8) & 0xff;
  b[19] = id & 0xff;
  const checksum = tcpIpv4Checksum(totalLength, id, srcIp, dstIp);
  b[24] = (checksum >>> 8) & 0xff;
  b[25] = checksum & 0xff;
  const seq = f.seq >>> 0;
  const ack = f.ack >>> 0;
  const window = Math.min(f.window, 0xffff);
  b[38] = (seq >>> 24) & 0xff;
  b[39] = (seq >>> 16) & 0xff;
  b[40] = (seq >>> 8) & 0xff;
  b[41] = seq & 0xff;
  b[42] = (ack >>> 24) & 0xff;
  b[43] = (ack >>> 16) & 0xff;
  b[44] = (ack >>> 8) & 0xff;
  b[45] = ack & 0xff;
  b[47] = f.flags & 0xff;
  b[48] = (window >>> 8) & 0xff;
  b[49] = window & 0xff;
  if (timestamps) {
    const tsVal = f.tsVal >>> 0;
    const tsEcr = f.tsEcr >>> 0;
    b[58] = (tsVal >>> 24) & 0xff;
    b[59] = (tsVal >>> 16) & 0xff;
    b[60] = (tsVal >>> 8) & 0xff;
    b[61] = tsVal & 0xff;
    b[62] = (tsEcr >>> 24) & 0xff;
    b[63] = (tsEcr >>> 16) & 0xff;
    b[64] = (tsEcr >>> 8) & 0xff;
    b[65] = tsEcr & 0xff;
  }
  const len = ETH_HEADER_LEN + IPV4_HEADER_LEN + tcpLen + f.payloadLength;
  return Math.max(len, ETH_MIN_FRAME - ETH_FCS_LEN);
}

/** Reads a TCP segment's fields from a frame into `out`; returns false if it is not IPv4/TCP. */
export function readTcpSegment(b: Uint8Array, length: number, out: TcpSegmentFields): boolean {
  if (length < ETH_HEADER_LEN + IPV4_HEADER_LEN + TCP_HEADER_LEN) return false;
  if (readU16(b, OFFSET.ETH_TYPE) !== ETHERTYPE_IPV4) return false;
  const ip = OFFSET.IP;
  if (b[ip]! >>> 4 !== 4 || b[ip + 9] !== IP_PROTO.TCP) return false;
  const ihl = (b[ip]! & 0xf) * 4;
  const total = readU16(b, ip + 2);
  const t = ip + ihl;
  const dataOffset = (b[t + 12]! >>> 4) * 4;
  // What readMac, readU16 and readU32 read, spelled out (once per frame; not all inlined).
  out.dstMac =
    ((b[0]! << 8) | b[1]!) * 0x100000000 + (((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0);
  out.srcMac =
    ((b[6]! << 8) | b[7]!) * 0x100000000 + (((b[8]! << 24) | (b[9]! << 16) | (b[10]! << 8) | b[11]!) >>> 0);
  out.srcIp = ((b[ip + 12]! << 24) | (b[ip + 13]! << 16) | (b[ip + 14]! << 8) | b[ip + 15]!) >>> 0;
  out.dstIp = ((b[ip + 16]! << 24) | (b[ip + 17]! << 16) | (b[ip + 18]! << 8) | b[ip + 19]!) >>> 0;
  out.ipId = (b[ip + 4]! << 8) | b[ip + 5]!;
  out.srcPort = (b[t]! << 8) | b[t + 1]!;
  out.dstPort = (b[t + 2]! << 8) | b[t + 3]!;
  out.seq = ((b[t + 4]! << 24) | (b[t + 5]! << 16) | (b[t + 6]! << 8) | b[t + 7]!) >>> 0;
  out.ack = ((b[t + 8]! << 24) | (b[t + 9]! << 16) | (b[t + 10]! << 8) | b[t + 11]!) >>> 0;
  out.flags = b[t + 13]!;
  out.window = (b[t + 14]! << 8) | b[t + 15]!;
  out.payloadLength = total - ihl - dataOffset;
  out.timestamps = dataOffset >= TCP_HEADER_LEN_TIMESTAMPS && b[t + 22] === 8;
  out.tsVal = out.timestamps
    ? ((b[t + 24]! << 24) | (b[t + 25]! << 16) | (b[t + 26]! << 8) | b[t + 27]!) >>> 0
    : 0;
  out.tsEcr = out.timestamps
    ? ((b[t + 28]! << 24) | (b[t + 29]! << 16) | (b[t + 30]! << 8) | b[t + 31]!) >>> 0
    : 0;
  return true;
}

/** Fields of an IPv4 + UDP datagram header. */
export interface UdpDatagramFields {
  /** Destination MAC address. */
  dstMac: Mac;
  /** Source MAC address. */
  srcMac: Mac;
  /** Source IPv4 address. */
  srcIp: number;
  /** Destination IPv4 address. */
  dstIp: number;
  /** Source UDP port. */
  srcPort: number;
  /** Destination UDP port. */
  dstPort: number;
  /** Payload bytes after the headers. */
  payloadLength: number;
  /** IPv4 identification. */
  ipId: number;
}

/** A zeroed UdpDatagramFields (reuse one per sender on hot paths). */
export function makeUdpDatagramFields(): UdpDatagramFields {
  return { dstMac: 0, srcMac: 0, srcIp: 0, dstIp: 0, srcPort: 0, dstPort: 0, payloadLength: 0, ipId: 0 };
}

/** Length of the Ethernet + IPv4 + UDP headers. */
export const UDP_HEADERS_LEN: number = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN;

/** Writes Ethernet, IPv4 and UDP headers; returns the frame length without FCS (padded to the minimum). */
export function writeUdpDatagram(b: Uint8Array, f: UdpDatagramFields): number {
  writeMac(b, OFFSET.ETH_DST, f.dstMac);
  writeMac(b, OFFSET.ETH_SRC, f.srcMac);
  writeU16(b, OFFSET.ETH_TYPE, ETHERTYPE_IPV4);
  writeIpv4(b, IPV4_HEADER_LEN + UDP_HEADER_LEN + f.payloadLength, IP_PROTO.UDP, f.srcIp, f.dstIp, f.ipId);
  const u = OFFSET.L4;
  writeU16(b, u, f.srcPort);
  writeU16(b, u + 2, f.dstPort);
  writeU16(b, u + 4, UDP_HEADER_LEN + f.payloadLength);
  writeU16(b, u + 6, 0); // checksum optional in IPv4 (RFC 768)
  return Math.max(UDP_HEADERS_LEN + f.payloadLength, ETH_MIN_FRAME - ETH_FCS_LEN);
}

/** Reads a UDP datagram's fields; returns false if it is not IPv4/UDP. */
export function readUdpDatagram(b: Uint8Array, length: number, out: UdpDatagramFields): boolean {
  if (length < UDP_HEADERS_LEN) return false;
  if (readU16(b, OFFSET.ETH_TYPE) !== ETHERTYPE_IPV4) return false;
  const ip = OFFSET.IP;
  if (b[ip]! >>> 4 !== 4 || b[ip + 9] !== IP_PROTO.UDP) return false;
  const u = ip + (b[ip]! & 0xf) * 4;
  out.dstMac = readMac(b, OFFSET.ETH_DST);
  out.srcMac = readMac(b, OFFSET.ETH_SRC);
  out.srcIp = readU32(b, ip + 12);
  out.dstIp = readU32(b, ip + 16);
  out.ipId = readU16(b, ip + 4);
  out.srcPort = readU16(b, u);
  out.dstPort = readU16(b, u + 2);
  out.payloadLength = readU16(b, u + 4) - UDP_HEADER_LEN;
  return true;
}

/** True if the IPv4 header checksum of the frame verifies. */
export function ipv4ChecksumOk(b: Uint8Array): boolean {
  return ipv4HeaderSum(b, OFFSET.IP) === 0xffff;
}

/** Sequence-number comparison modulo 2^32 (RFC 9293 §3.4): a < b. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a ≤ b modulo 2^32. */
export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** Bytes a frame of `length` (without FCS) occupies on the wire: + FCS, padded to 64, + 20 preamble/SFD/IFG. */
export function wireBytes(length: number): number {
  return Math.max(length + ETH_FCS_LEN, ETH_MIN_FRAME) + 20;
}

/** IPv4 address from dotted parts. */
export function ipv4(a: number, b: number, c: number, d: number): number {
  return (((a & 0xff) << 24) | ((b & 0xff) << 16) | ((c & 0xff) << 8) | (d & 0xff)) >>> 0;
}
