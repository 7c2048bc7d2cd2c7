import { SimulationError } from './errors.js';

// 32-bit FNV-1a over the UTF-16 code units of a name.
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// splitmix32 finaliser (a well-mixed 32-bit bijection), used to derive stream state.
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x21f0aaad);
  x ^= x >>> 15;
  x = Math.imul(x, 0x735a2d97);
  x ^= x >>> 15;
  return x >>> 0;
}

const TWO_POW_32 = 4294967296;

/**
 * One independent stream of pseudo-random numbers: xoshiro128** (Blackman & Vigna), a
 * small, fast generator with a 2^128 − 1 period and good statistical quality, computed
 * with 32-bit integer arithmetic only. No method allocates.
 */
export class RandomStream {
  /** The stream's name (its numbers depend on it and the root seed). */
  readonly name: string;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(name: string, seedWords: readonly [number, number, number, number]) {
    this.name = name;
    this.s0 = seedWords[0] | 0;
    this.s1 = seedWords[1] | 0;
    this.s2 = seedWords[2] | 0;
    this.s3 = seedWords[3] | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in [min, max] (both inclusive), without modulo bias. */
  nextInt(min: number, max: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
      throw new SimulationError('bad-argument', `nextInt(${min}, ${max}): need integers with min ≤ max`);
    }
    const range = max - min + 1;
    if (range <= TWO_POW_32) {
      // Lemire-style rejection on 32-bit draws.
      const limit = TWO_POW_32 - (TWO_POW_32 % range);
      let x = this.nextUint32();
      while (x >= limit) x = this.nextUint32();
      return min + (x % range);
    }
    return min + Math.floor(this.nextFloat() * range);
  }

  /** A uniform double in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.nextFloat();
  }

  /** An exponentially distributed double with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.nextFloat());
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.nextFloat() < p;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * The seeded source of every random number in a run. Each component asks for a stream
 * by a stable name; a stream's numbers depend only on the root seed and its name, so
 * adding a component (a new stream) never changes another component's numbers.
 */
export class RandomStreams {
  /** The root seed. */
  readonly seed: number;
  private readonly streams = new Map<string, RandomStream>();

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new SimulationError('bad-argument', `seed must be a non-negative safe integer, got ${seed}`);
    }
    this.seed = seed;
  }

  /** Creates the stream `name`. Each name may be taken once, so no two users share a stream. */
  stream(name: string): RandomStream {
    if (name.length === 0) throw new SimulationError('bad-name', 'a random stream needs a non-empty name');
    if (this.streams.has(name)) {
      throw new SimulationError(
        'duplicate-name',
        `random stream '${name}' already exists: give each component its own stream name`,
      );
    }
    const lo = (this.seed % TWO_POW_32) >>> 0;
    const hi = Math.floor(this.seed / TWO_POW_32) >>> 0;
    const h1 = fnv1a(name);
    const h2 = fnv1a(`${name}\u0000${name.length}`);
    let x = mix32(lo ^ mix32(hi ^ mix32(h1)));
    const words: [number, number, number, number] = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) {
      x = mix32(x ^ h2 ^ Math.imul(i + 1, 0x9e3779b9));
      words[i] = x;
    }
    const s = new RandomStream(name, words);
    this.streams.set(name, s);
    return s;
  }

  /** The names of the streams created so far, sorted. */
  names(): string[] {
    return [...this.streams.keys()].sort();
  }
}
