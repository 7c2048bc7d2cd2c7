import { ns } from '@exitless/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RX_DESC, RXD_STAT, VF_REG } from '../src/index.js';
import {
  BROADCAST,
  enableVfMsix,
  enableVfs,
  makeFrame,
  makeRig,
  PEER_MAC,
  setupInterrupts,
  setupRx,
  WindowDmaPort,
} from './helpers.js';

const VFS = 3;
const COUNT = 16;
const ringBase = (vf: number): number => 0x100000 + vf * 0x1000;
const bufBase = (vf: number): number => 0x200000 + vf * 0x10000;

type Action =
  | { kind: 'frame'; dst: number; size: number }
  | { kind: 'tail'; vf: number; k: number }
  | { kind: 'mask'; vf: number; set: boolean; bits: number }
  | { kind: 'run'; ns: number }
  | { kind: 'window'; open: boolean };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    kind: fc.constant('frame' as const),
    dst: fc.integer({ min: 0, max: VFS + 1 }),
    size: fc.integer({ min: 64, max: 1518 }),
  }),
  fc.record({
    kind: fc.constant('tail' as const),
    vf: fc.integer({ min: 0, max: VFS - 1 }),
    k: fc.integer({ min: 0, max: 8 }),
  }),
  fc.record({
    kind: fc.constant('mask' as const),
    vf: fc.integer({ min: 0, max: VFS - 1 }),
    set: fc.boolean(),
    bits: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ kind: fc.constant('run' as const), ns: fc.integer({ min: 0, max: 5000 }) }),
  fc.record({ kind: fc.constant('window' as const), open: fc.boolean() }),
);

describe('conservation', () => {
  it('property: every frame is delivered into a ring buffer or counted as dropped', () => {
    fc.assert(
      fc.property(fc.array(action, { maxLength: 80 }), (actions) => {
        let dma: WindowDmaPort | undefined;
        const rig = makeRig({
          dma: (m) => {
            dma = new WindowDmaPort(m, 0, 0x10000000);
            return dma;
          },
        });
        enableVfs(rig.nic, VFS);
        const next = [0, 0, 0];
        const delivered: Set<number>[] = [new Set(), new Set(), new Set()];
        const offered = [0, 0, 0];
        for (const vf of rig.nic.vfs) {
          enableVfMsix(vf, 0x40);
          setupInterrupts(vf);
          setupRx(
            rig,
            vf,
            { ringBase: ringBase(vf.index), count: COUNT, bufferBase: bufBase(vf.index), bufferBytes: 2048 },
            4,
          );
        }
        /** The driver's clean-up: takes every completed descriptor up to RDH, checks it, clears DD. */
        const clean = (i: number): void => {
          const vf = rig.nic.vfs[i]!;
          const head = vf.registers.mmioRead(VF_REG.VFRDH, 4);
          while (next[i] !== head) {
            const d = ringBase(i) + next[i]! * RX_DESC.SIZE;
            expect(rig.memory.read8(d + RX_DESC.STATUS)).toBe(RXD_STAT.DD | RXD_STAT.EOP);
            const seq = rig.memory.read32(bufBase(i) + next[i]! * 2048 + 14);
            expect(delivered[i]!.has(seq)).toBe(false);
            delivered[i]!.add(seq);
            rig.memory.write8(d + RX_DESC.STATUS, 0);
            next[i] = (next[i]! + 1) % COUNT;
          }
        };
        let seq = 0;
        for (const a of actions) {
          if (a.kind === 'frame') {
            const dst = a.dst < VFS ? rig.nic.vfs[a.dst]!.mac : a.dst === VFS ? BROADCAST : 0x0c0000000077;
            const f = makeFrame(dst, PEER_MAC, a.size);
            new DataView(f.buffer).setUint32(14, seq++, true);
            rig.wire.b.transmit(f, 0, f.length);
            if (a.dst < VFS) offered[a.dst]!++;
            else if (a.dst === VFS) for (let i = 0; i < VFS; i++) offered[i]!++;
          } else if (a.kind === 'tail') {
            clean(a.vf);
            const r = rig.nic.vfs[a.vf]!.registers;
            const tail = r.mmioRead(VF_REG.VFRDT, 4);
            // The driver may give back only descriptors it has cleaned (up to next − 1).
            const room = (next[a.vf]! - 1 - tail + COUNT) % COUNT;
            r.mmioWrite(VF_REG.VFRDT, 4, (tail + Math.min(a.k, room)) % COUNT);
          } else if (a.kind === 'mask') {
            rig.nic.vfs[a.vf]!.registers.mmioWrite(a.set ? VF_REG.VFEIMS : VF_REG.VFEIMC, 4, a.bits);
          } else if (a.kind === 'run') {
            rig.sim.runUntil(rig.sim.now + ns(a.ns));
          } else {
            // Open: everything reachable. Closed: VF 1's buffers are outside the window.
            dma!.hi = a.open ? 0x10000000 : bufBase(1);
          }
        }
        rig.sim.runUntilEmpty();
        for (let i = 0; i < VFS; i++) {
          clean(i);
          const c = (n: string): number => rig.stats.counterValue(`nic.vf${i}.rx.${n}`);
          expect(c('frames')).toBe(delivered[i]!.size);
          expect(c('frames') + c('missed') + c('dma-faults') + c('queue-disabled') + c('no-bus-master')).toBe(
            offered[i],
          );
        }
        expect(rig.stats.counterValue('nic.port.rx.frames')).toBe(seq);
      }),
      { numRuns: 150 },
    );
  });
});
