import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TIME_PS, SimEvent, SimulationError, Simulator } from '../src/index.js';

function recorder(sim: Simulator, log: string[]) {
  return (name: string, priority = 0) => new SimEvent(name, () => log.push(`${name}@${sim.now}`), priority);
}

describe('Simulator ordering', () => {
  it('fires events in time order', () => {
    const sim = new Simulator();
    const log: string[] = [];
    const ev = recorder(sim, log);
    sim.schedule(ev('c'), 300);
    sim.schedule(ev('a'), 100);
    sim.schedule(ev('b'), 200);
    sim.runUntilEmpty();
    expect(log).toEqual(['a@100', 'b@200', 'c@300']);
  });

  it('breaks time ties by priority, then by insertion order', () => {
    const sim = new Simulator();
    const log: string[] = [];
    const ev = recorder(sim, log);
    sim.schedule(ev('late-low', 5), 10);
    sim.schedule(ev('first-0'), 10);
    sim.schedule(ev('urgent', -3), 10);
    sim.schedule(ev('second-0'), 10);
    sim.schedule(ev('early', 100), 9);
    sim.runUntilEmpty();
    expect(log).toEqual(['early@9', 'urgent@10', 'first-0@10', 'second-0@10', 'late-low@10']);
  });

  it('orders a rescheduled event after events already waiting at the same time', () => {
    const sim = new Simulator();
    const log: string[] = [];
    const ev = recorder(sim, log);
    const a = ev('a');
    sim.schedule(a, 50);
    sim.schedule(ev('b'), 50);
    sim.reschedule(a, 50);
    sim.runUntilEmpty();
    expect(log).toEqual(['b@50', 'a@50']);
  });

  it('lets an event reschedule itself from its own callback', () => {
    const sim = new Simulator();
    let count = 0;
    const tick: SimEvent = new SimEvent('tick', () => {
      count++;
      if (count < 5) sim.scheduleIn(tick, 1000);
    });
    sim.schedule(tick, 0);
    sim.runUntilEmpty();
    expect(count).toBe(5);
    expect(sim.now).toBe(4000);
    expect(tick.scheduled).toBe(false);
  });

  it('runs an event scheduled for now by a callback, after the current one, and before later ones', () => {
    const sim = new Simulator();
    const log: string[] = [];
    const ev = recorder(sim, log);
    const later = ev('later');
    const same = ev('same');
    sim.schedule(
      new SimEvent('first', () => {
        log.push(`first@${sim.now}`);
        sim.schedule(same, sim.now);
      }),
      10,
    );
    sim.schedule(later, 11);
    sim.runUntilEmpty();
    expect(log).toEqual(['first@10', 'same@10', 'later@11']);
  });
});

describe('Simulator cancellation and rescheduling', () => {
  it('a cancelled event never fires', () => {
    const sim = new Simulator();
    const log: string[] = [];
    const ev = recorder(sim, log);
    const a = ev('a');
    const b = ev('b');
    sim.schedule(a, 10);
    sim.schedule(b, 20);
    expect(sim.cancel(a)).toBe(true);
    expect(sim.cancel(a)).toBe(false);
    expect(sim.pending).toBe(1);
    sim.runUntilEmpty();
    expect(log).toEqual(['b@20']);
  });

  it('an event can cancel another scheduled for the same time', () => {
    const sim = new Simulator();
    const log: string[] = [];
    const ev = recorder(sim, log);
    const victim = ev('victim');
    sim.schedule(new SimEvent('killer', () => sim.cancel(victim), -1), 10);
    sim.schedule(victim, 10);
    sim.runUntilEmpty();
    expect(log).toEqual([]);
  });

  it('reschedule moves an event earlier or later', () => {
    const sim = new Simulator();
    const log: string[] = [];
    const ev = recorder(sim, log);
    const a = ev('a');
    const b = ev('b');
    sim.schedule(a, 100);
    sim.schedule(b, 50);
    sim.reschedule(a, 10);
    sim.reschedule(b, 200);
    sim.runUntilEmpty();
    expect(log).toEqual(['a@10', 'b@200']);
  });

  it('schedule refuses an event that is already scheduled', () => {
    const sim = new Simulator();
    const a = new SimEvent('a', () => {});
    sim.schedule(a, 1);
    expect(() => sim.schedule(a, 2)).toThrow(SimulationError);
  });

  it('rejects times in the past, fractional times and times beyond 2^53 ps', () => {
    const sim = new Simulator();
    sim.runUntil(100);
    const a = new SimEvent('a', () => {});
    expect(() => sim.schedule(a, 99)).toThrow(/before now/);
    expect(() => sim.schedule(a, 100.5)).toThrow(/integer/);
    expect(() => sim.schedule(a, MAX_TIME_PS + 2)).toThrow(/2\^53/);
    expect(() => new SimEvent('p', () => {}, 200)).toThrow(/priority/);
  });

  it('refuses to run re-entrantly', () => {
    const sim = new Simulator();
    sim.schedule(new SimEvent('bad', () => sim.runUntilEmpty()), 1);
    expect(() => sim.runUntilEmpty()).toThrow(/already running/);
    expect(sim.pending).toBe(0);
  });
});

describe('Simulator run control', () => {
  it('runUntil fires events up to and including the limit, then sets the clock to it', () => {
    const sim = new Simulator();
    const log: string[] = [];
    const ev = recorder(sim, log);
    sim.schedule(ev('a'), 100);
    sim.schedule(ev('b'), 200);
    expect(sim.runUntil(100)).toBe(1);
    expect(sim.now).toBe(100);
    expect(sim.runUntil(150)).toBe(0);
    expect(sim.now).toBe(150);
    expect(sim.nextTime()).toBe(200);
    sim.runUntil(1000);
    expect(log).toEqual(['a@100', 'b@200']);
    expect(sim.now).toBe(1000);
  });

  it('runWhile stops when the condition fails, and stop() stops after the current event', () => {
    const sim = new Simulator();
    let n = 0;
    const tick: SimEvent = new SimEvent('tick', () => {
      n++;
      if (n === 7) sim.stop();
      sim.scheduleIn(tick, 10);
    });
    sim.schedule(tick, 0);
    sim.runWhile(() => n < 3);
    expect(n).toBe(3);
    sim.runUntilEmpty();
    expect(n).toBe(7);
    expect(sim.pending).toBe(1);
  });

  it('keeps the queue consistent when a callback throws', () => {
    const sim = new Simulator();
    const boom = new SimEvent('boom', () => {
      throw new Error('x');
    });
    const ok = new SimEvent('ok', () => {});
    sim.schedule(boom, 1);
    sim.schedule(ok, 2);
    expect(() => sim.runUntilEmpty()).toThrow('x');
    expect(boom.scheduled).toBe(false);
    expect(sim.pending).toBe(1);
    sim.runUntilEmpty();
    expect(sim.pending).toBe(0);
  });
});

describe('Simulator properties', () => {
  it('fires any set of events in (time, priority, sequence) order, cancelled ones never', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            t: fc.integer({ min: 0, max: 50 }),
            p: fc.integer({ min: -3, max: 3 }),
            cancel: fc.boolean(),
          }),
          { maxLength: 200 },
        ),
        (specs) => {
          const sim = new Simulator(16);
          const fired: number[] = [];
          const events = specs.map(
            (s, i) =>
              new SimEvent(
                `e${i}`,
                () => {
                  fired.push(i);
                },
                s.p,
              ),
          );
          for (const [i, e] of events.entries()) sim.schedule(e, specs[i]!.t);
          for (const [i, e] of events.entries()) {
            if (specs[i]!.cancel) sim.cancel(e);
          }
          sim.runUntilEmpty();
          const expected = specs
            .map((s, i) => ({ ...s, i }))
            .filter((s) => !s.cancel)
            .sort((a, b) => a.t - b.t || a.p - b.p || a.i - b.i)
            .map((s) => s.i);
          expect(fired).toEqual(expected);
        },
      ),
    );
  });

  it('is deterministic: the same schedule gives the same trace', () => {
    const run = () => {
      const sim = new Simulator();
      const trace: number[] = [];
      const events: SimEvent[] = [];
      for (let i = 0; i < 50; i++) {
        const e: SimEvent = new SimEvent(`e${i}`, () => {
          trace.push(i, sim.now);
          if (sim.now < 10_000) sim.scheduleIn(e, ((i * 7919) % 97) + 1);
        });
        events.push(e);
        sim.schedule(e, i % 5);
      }
      sim.runUntilEmpty();
      return trace;
    };
    expect(run()).toEqual(run());
  });
});

describe('Simulator.tryAdvanceTo', () => {
  it('moves the clock inside a callback only when no event is due first and within the run limit', () => {
    const sim = new Simulator();
    const seen: Array<[string, number]> = [];
    const other = new SimEvent('other', () => seen.push(['other', sim.now]));
    const me = new SimEvent('me', () => {
      expect(sim.tryAdvanceTo(150)).toBe(true); // nothing due before 150
      seen.push(['me@', sim.now]);
      expect(sim.tryAdvanceTo(200)).toBe(false); // 'other' is due at 200: not strictly before
      expect(sim.tryAdvanceTo(100)).toBe(false); // backwards
      expect(sim.tryAdvanceTo(199)).toBe(true);
      seen.push(['me@', sim.now]);
    });
    sim.schedule(me, 100);
    sim.schedule(other, 200);
    sim.runUntil(1000);
    expect(seen).toEqual([
      ['me@', 150],
      ['me@', 199],
      ['other', 200],
    ]);
  });

  it('never passes the limit of runUntil, refuses inside runWhile and outside a run', () => {
    const sim = new Simulator();
    let advanced = true;
    const ev = new SimEvent('e', () => {
      advanced = sim.tryAdvanceTo(sim.now + 500);
    });
    sim.schedule(ev, 100);
    sim.runUntil(300);
    expect(advanced).toBe(false);
    expect(sim.now).toBe(300);
    sim.schedule(ev, 400);
    sim.runWhile(() => true);
    expect(advanced).toBe(false);
    expect(sim.tryAdvanceTo(10_000)).toBe(false);
  });
});

describe('SimEvent state seen from outside the kernel', () => {
  it('scheduled and when follow the event through schedule, firing, reschedule and cancel', () => {
    const sim = new Simulator();
    const seen: string[] = [];
    const ev: SimEvent = sim.event('e', () => {
      seen.push(`fire ${sim.now} scheduled=${ev.scheduled} when=${ev.when}`);
      if (sim.now === 10) sim.reschedule(ev, 25);
    });
    expect([ev.scheduled, ev.when]).toEqual([false, 0]);
    sim.schedule(ev, 10);
    expect([ev.scheduled, ev.when]).toEqual([true, 10]);
    sim.runUntil(30);
    // While its callback runs the event is not scheduled; it is again once it reschedules itself.
    expect(seen).toEqual(['fire 10 scheduled=false when=10', 'fire 25 scheduled=false when=25']);
    expect([ev.scheduled, ev.when]).toEqual([false, 25]);
    sim.schedule(ev, 40);
    expect(sim.cancel(ev)).toBe(true);
    expect([ev.scheduled, sim.pending]).toEqual([false, 0]);
  });

  it('a callback replaced while the event waits is the one that fires', () => {
    const sim = new Simulator();
    const seen: string[] = [];
    const ev = sim.event('e', () => seen.push('old'));
    sim.schedule(ev, 5);
    ev.callback = () => seen.push('new');
    sim.runUntilEmpty();
    expect(seen).toEqual(['new']);
  });

  it('an event of another simulator is refused without being read as this one’s', () => {
    const a = new Simulator();
    const b = new Simulator();
    const ev = a.event('e', () => {});
    a.schedule(ev, 1);
    expect(() => b.schedule(ev, 1)).toThrow(SimulationError);
    expect(b.cancel(ev)).toBe(false);
    expect([ev.scheduled, a.pending, b.pending]).toEqual([true, 1, 0]);
  });
});
