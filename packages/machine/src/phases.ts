import { RandomStreams } from '@exitless/sim';

/**
 * How a machine starts its periodic sources (the host's tick on each core, each guest's
 * LAPIC timer tick, each load generator's start): `seeded` draws each start phase from the
 * run's seed, `aligned` starts every one at phase 0 (what the machine did before phases
 * were drawn; for tests that follow one event's timing by hand).
 */
export type PhaseMode = 'seeded' | 'aligned';

/** The phase modes, in MachineConfig's `phases`. */
export const PHASE_MODES: readonly PhaseMode[] = ['seeded', 'aligned'];

/**
 * Where a machine's periodic sources start in their periods. In a real system nothing
 * aligns the host's tick, the guest's tick and the moment the load generator starts, so a
 * simulation that starts them all in phase measures one alignment only. Each source's phase
 * is drawn uniformly over its period from its own random stream, named `phase.<source>`
 * (`phase.host-tick.cpu0`, `phase.guest-tick.guest0`, `phase.load-generator.peer0`): a
 * stream depends only on the seed and its name, so adding a source never moves another's
 * phase. The components take the values through their options and stay seed-agnostic.
 */
export class StartPhases {
  /** 'seeded' (each phase drawn from the seed) or 'aligned' (every phase 0). */
  readonly mode: PhaseMode;
  private readonly random: RandomStreams;

  constructor(seed: number, mode: PhaseMode) {
    this.mode = mode;
    this.random = new RandomStreams(seed);
  }

  /**
   * The phase of `source` in a period of `periodPs`: an integer number of ps uniform over
   * [0, periodPs) from the stream `phase.<source>` (0 when aligned). Each source is drawn once.
   */
  draw(source: string, periodPs: number): number {
    if (this.mode === 'aligned') return 0;
    const stream = this.random.stream(`phase.${source}`);
    const period = Math.floor(periodPs);
    return period > 1 ? stream.nextInt(0, period - 1) : 0;
  }

  /** The names of the streams drawn so far, sorted. */
  names(): string[] {
    return this.random.names();
  }
}
