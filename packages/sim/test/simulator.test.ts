import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TIME_PS, RandomStreams, SimEvent, SimulationError, Simulator } from '../src/index.js';

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
    expect(() => sim.scheduleIn(a, 2)).toThrow(/already scheduled for 1 ps; use reschedule/);
    // Refused without a trace: the event still fires once, at 1.
    expect(a.when).toBe(1);
    expect(sim.runUntilEmpty()).toBe(1);
  });

  it('rejects times in the past, fractional times and times beyond 2^53 ps', () => {
    const sim = new Simulator();
    sim.runUntil(100);
    const a = new SimEvent('a', () => {});
    expect(() => sim.schedule(a, 99)).toThrow(/before now/);
    expect(() => sim.schedule(a, 100.5)).toThrow(/integer/);
    expect(() => sim.schedule(a, MAX_TIME_PS + 2)).toThrow(/2\^53/);
    expect(() => sim.scheduleIn(a, -1)).toThrow(/before now/);
    expect(() => sim.reschedule(a, 99)).toThrow(/before now/);
    expect(sim.tryAdvanceTo(200)).toBe(false);
    expect(sim.pending).toBe(0);
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

/** Schedules 2,000 events at random times, cancels 1,500 (the earliest first), fires the rest. */
function cancelMost(seed: number): void {
  const rng = new RandomStreams(seed).stream('cancels');
  const sim = new Simulator();
  const fired: number[] = [];
  const times = Array.from({ length: 2000 }, () => rng.nextInt(0, 1_000_000));
  const events = times.map((t, i) => {
    const e = new SimEvent(`e${i}`, () => fired.push(i));
    sim.schedule(e, t);
    return e;
  });
  const byTime = times.map((t, i) => ({ t, i })).sort((a, b) => a.t - b.t || a.i - b.i);
  const cancelled = new Set<number>([byTime[0]!.i]);
  while (cancelled.size < 1500) cancelled.add(rng.nextInt(0, 1999));
  for (const i of cancelled) expect(sim.cancel(events[i]!)).toBe(true);
  expect(sim.pending).toBe(500);
  expect(sim.nextTime()).toBe(byTime.find((e) => !cancelled.has(e.i))!.t);
  sim.runUntilEmpty();
  expect(fired).toEqual(byTime.filter((e) => !cancelled.has(e.i)).map((e) => e.i));
}

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

  it('matches a reference queue under schedules, reschedules and cancels made from callbacks', () => {
    // Each firing event draws actions from the seed: move itself, move, cancel or schedule
    // another event, read the queue. Moving and cancelling pending events leave entries behind
    // in the kernel's heap; enough of them make it rebuild the heap, which must not change what
    // fires when, nor what the queue reports.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 4, max: 40 }),
        (seed, count) => {
          const rng = new RandomStreams(seed).stream('ops');
          const sim = new Simulator(4);
          // The reference: each event's state and key; the next event is the least (time, key).
          const state: ('idle' | 'scheduled' | 'firing')[] = [];
          const time: number[] = [];
          const key: number[] = [];
          let seq = 0;
          const priority = (i: number) => (i % 5) - 2;
          const put = (i: number, t: number) => {
            state[i] = 'scheduled';
            time[i] = t;
            key[i] = (priority(i) + 128) * 2 ** 45 + seq++;
          };
          const refPending = () => state.filter((s) => s === 'scheduled').length;
          const refNext = () => {
            let best = -1;
            for (let i = 0; i < count; i++) {
              if (state[i] !== 'scheduled') continue;
              if (best < 0 || time[i]! < time[best]! || (time[i] === time[best] && key[i]! < key[best]!))
                best = i;
            }
            return best;
          };
          const got: string[] = [];
          const want: string[] = [];
          const events: SimEvent[] = [];
          let left = 3000;
          for (let i = 0; i < count; i++) {
            events.push(
              new SimEvent(
                `e${i}`,
                () => {
                  got.push(`${i}@${sim.now}`);
                  // The reference fires the same event at the same time, or the trace differs.
                  const r = refNext();
                  want.push(`${r}@${time[r]}`);
                  state[r] = 'firing';
                  if (--left <= 0) {
                    sim.stop();
                    return;
                  }
                  const actions = rng.nextInt(0, 4 - 1);
                  for (let a = 0; a < actions; a++) {
                    const j = rng.nextInt(0, count - 1);
                    const t = sim.now + rng.nextInt(0, 6 - 1) * 10;
                    switch (rng.nextInt(0, 5 - 1)) {
                      case 0:
                        sim.reschedule(events[i]!, t);
                        put(i, t);
                        break;
                      case 1:
                        sim.reschedule(events[j]!, t);
                        put(j, t);
                        break;
                      case 2: {
                        const was = state[j] === 'scheduled';
                        expect(sim.cancel(events[j]!)).toBe(was);
                        if (was) state[j] = 'idle';
                        break;
                      }
                      case 3:
                        if (!events[j]!.scheduled) {
                          sim.schedule(events[j]!, t);
                          put(j, t);
                        }
                        break;
                      default: {
                        got.push(`pending ${sim.pending} next ${sim.nextTime()}`);
                        const n = refNext();
                        want.push(`pending ${refPending()} next ${n < 0 ? Infinity : time[n]}`);
                      }
                    }
                  }
                  if (state[i] === 'firing') state[i] = 'idle';
                },
                priority(i),
              ),
            );
          }
          for (let i = 0; i < count; i++) {
            sim.schedule(events[i]!, i % 3);
            put(i, i % 3);
          }
          sim.runUntilEmpty();
          expect(got).toEqual(want);
          for (let i = 0; i < count; i++) expect(events[i]!.scheduled).toBe(state[i] === 'scheduled');
          expect(sim.pending).toBe(refPending());
        },
      ),
      { numRuns: 40 },
    );
  });

  it('keeps the heap within about twice the pending events however often pending events move', () => {
    // Each move of a pending event leaves an entry behind in the heap; the kernel drops them in
    // bulk (rebuilding the heap) once they outnumber the live ones. What fires, and when, is as
    // if each event had only its last time.
    const rng = new RandomStreams(7).stream('moves');
    const sim = new Simulator();
    const fired: string[] = [];
    const events = Array.from(
      { length: 300 },
      (_, i) => new SimEvent(`e${i}`, () => fired.push(`${i}@${sim.now}`)),
    );
    const last = events.map((_, i) => ({ i, t: 0, k: 0 }));
    for (const [i, e] of events.entries()) sim.schedule(e, 1_000 + i);
    let k = 0;
    let most = 0;
    for (; k < 100_000; k++) {
      const i = rng.nextInt(0, 299);
      const t = rng.nextInt(1_000, 50_000);
      sim.reschedule(events[i]!, t);
      last[i] = { i, t, k: k + 1 };
      most = Math.max(most, (sim as unknown as { size: number }).size);
    }
    expect(sim.pending).toBe(300);
    expect(most).toBeLessThanOrEqual(2 * 300 + 1025);
    sim.runUntilEmpty();
    const want = [...last].sort((a, b) => a.t - b.t || a.k - b.k).map((e) => `${e.i}@${e.t}`);
    expect(fired).toEqual(want);
  });

  it('fires what is left, in order, after cancelling most pending events', () => {
    // 2,000 events at random times; cancelling 1,500 (the earliest first) leaves stale entries
    // that make the kernel rebuild its heap mid-way. Ten seeds.
    for (let seed = 1; seed <= 10; seed++) cancelMost(seed);
  });

  it('fires each event’s own callback in order with thousands pending, callbacks replaced and events moved', () => {
    // Above 4,096 heap entries the loop also reads the next event's tables ahead of time;
    // 6,000 events, each rescheduling itself a few times, half of them given a new callback
    // while waiting, some moved by others: every firing must be the event's own current
    // callback, at the time it was last given.
    const n = 6000;
    const sim = new Simulator();
    const rng = new RandomStreams(17).stream('hold');
    const events: SimEvent[] = [];
    const due: number[] = [];
    const fired: string[] = [];
    const rounds = new Array<number>(n).fill(0);
    const handler = (i: number, tag: string) => () => {
      expect(sim.now).toBe(due[i]);
      fired.push(`${tag}${i}`);
      if (++rounds[i]! < 3) {
        const t = sim.now + 1 + rng.nextInt(0, 10_000);
        due[i] = t;
        sim.reschedule(events[i]!, t);
      }
      // Move another pending event: its old entry goes stale.
      const j = rng.nextInt(0, n - 1);
      if (events[j]!.scheduled) {
        const t = sim.now + rng.nextInt(0, 10_000);
        due[j] = t;
        sim.reschedule(events[j]!, t);
      }
    };
    for (let i = 0; i < n; i++) {
      events.push(new SimEvent(`e${i}`, handler(i, 'a')));
      due[i] = rng.nextInt(0, 10_000);
      sim.schedule(events[i]!, due[i]!);
    }
    for (let i = 0; i < n; i += 2) events[i]!.callback = handler(i, 'b');
    expect(sim.pending).toBe(n);
    sim.runUntilEmpty();
    // Each event fired three times (its own rounds), each time with its own current callback.
    const per = new Map<string, number>();
    for (const f of fired) per.set(f, (per.get(f) ?? 0) + 1);
    for (let i = 0; i < n; i++) expect(per.get(`${i % 2 === 0 ? 'b' : 'a'}${i}`)).toBe(3);
    expect(per.size).toBe(n);
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

  it('looks past a moved event’s old time: only pending events can stop the clock', () => {
    const sim = new Simulator();
    const seen: string[] = [];
    const b = new SimEvent('b', () => seen.push(`b@${sim.now}`));
    const c = new SimEvent('c', () => seen.push(`c@${sim.now}`));
    const a = new SimEvent('a', () => {
      // b was due at 20 but moved to 40: c, at 30, is next.
      expect(sim.nextTime()).toBe(30);
      expect(sim.tryAdvanceTo(25)).toBe(true);
      expect(sim.tryAdvanceTo(30)).toBe(false);
      seen.push(`a@${sim.now}`);
    });
    sim.schedule(a, 10);
    sim.schedule(b, 20);
    sim.schedule(c, 30);
    sim.reschedule(b, 40);
    sim.runUntilEmpty();
    expect(seen).toEqual(['a@25', 'c@30', 'b@40']);
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

describe('Simulator.consumeIfNext', () => {
  it('fires the next event from inside a callback: the clock at its time, no longer scheduled, its callback not called, one event fewer', () => {
    const sim = new Simulator();
    const seen: string[] = [];
    const next = new SimEvent('next', () => seen.push(`next-callback@${sim.now}`));
    const later = new SimEvent('later', () => seen.push(`later@${sim.now}`));
    const me = new SimEvent('me', () => {
      sim.schedule(next, 150);
      expect(sim.consumeIfNext(later)).toBe(false); // 'next' goes first
      expect(sim.consumeIfNext(next)).toBe(true);
      expect(sim.now).toBe(150);
      expect(next.scheduled).toBe(false);
      seen.push(`consumed@${sim.now}`);
      expect(sim.consumeIfNext(next)).toBe(false); // not scheduled any more
    });
    sim.schedule(me, 100);
    sim.schedule(later, 200);
    expect(sim.runUntil(1000)).toBe(2);
    expect(seen).toEqual(['consumed@150', 'later@200']);
    expect(sim.eventsProcessed).toBe(2);
  });

  it('refuses an event that another goes before: an earlier one, or one at the same time scheduled first or with a lower priority', () => {
    for (const [time, priority, first] of [
      [140, 0, true],
      [150, 0, true],
      [150, -1, false],
    ] as const) {
      const sim = new Simulator();
      const seen: string[] = [];
      const other = new SimEvent('other', () => seen.push(`other@${sim.now}`), priority);
      const mine = new SimEvent('mine', () => seen.push(`mine@${sim.now}`));
      const me = new SimEvent('me', () => {
        if (first) sim.schedule(other, time);
        sim.schedule(mine, 150);
        if (!first) sim.schedule(other, time);
        expect(sim.consumeIfNext(mine)).toBe(false);
        expect(sim.now).toBe(100);
      });
      sim.schedule(me, 100);
      sim.runUntilEmpty();
      expect(seen).toEqual([`other@${time}`, 'mine@150']);
    }
  });

  it('takes the running event itself once it has moved it, and leaves it free to be scheduled again', () => {
    const sim = new Simulator();
    const seen: number[] = [];
    let rounds = 0;
    const me: SimEvent = new SimEvent('me', () => {
      seen.push(sim.now);
      if (rounds++ > 0) return;
      sim.reschedule(me, sim.now + 10);
      expect(sim.consumeIfNext(me)).toBe(true);
      seen.push(sim.now);
      expect(me.scheduled).toBe(false);
      sim.schedule(me, sim.now + 5);
    });
    sim.schedule(me, 100);
    sim.runUntilEmpty();
    expect(seen).toEqual([100, 110, 115]);
    expect(sim.pending).toBe(0);
  });

  it('never passes the limit of runUntil, and refuses inside runWhile, after stop() and outside a run', () => {
    const sim = new Simulator();
    const next = new SimEvent('next', () => {});
    let got: boolean[] = [];
    const me = new SimEvent('me', () => {
      sim.schedule(next, sim.now + 500);
      got.push(sim.consumeIfNext(next));
    });
    sim.schedule(me, 100);
    sim.runUntil(300); // 'next' at 600 is past the limit
    expect(got).toEqual([false]);
    expect(sim.now).toBe(300);
    sim.cancel(next);
    got = [];
    sim.schedule(me, 400);
    sim.runWhile(() => true);
    expect(got).toEqual([false]);
    got = [];
    const stopper = new SimEvent('stopper', () => {
      sim.schedule(next, sim.now + 1);
      sim.stop();
      got.push(sim.consumeIfNext(next));
    });
    sim.schedule(stopper, sim.now + 1);
    sim.runUntilEmpty();
    expect(got).toEqual([false]);
    expect(sim.consumeIfNext(next)).toBe(false);
  });

  it('gives the same trace as letting the loop fire the event, with stale and moved entries about', () => {
    // Random hold-like schedules; one event, whenever it is scheduled and a callback ends, is
    // consumed instead of fired if it is next. The trace (name, time, in order) is the same.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), (seed) => {
        const run = (consume: boolean): string[] => {
          const sim = new Simulator();
          const rng = new RandomStreams(seed).stream('c');
          const trace: string[] = [];
          const events: SimEvent[] = [];
          let special: SimEvent;
          const handler = (i: number) => () => {
            trace.push(`${i}@${sim.now}`);
            if (events.length > 200) return;
            const j = rng.nextInt(0, events.length - 1);
            const t = sim.now + rng.nextInt(0, 50);
            if (rng.nextInt(0, 3) === 0) sim.cancel(events[j]!);
            else sim.reschedule(events[j]!, t);
            if (!special.scheduled) sim.schedule(special, sim.now + rng.nextInt(0, 30));
            if (trace.length > 400) return;
            while (consume && sim.consumeIfNext(special)) trace.push(`S@${sim.now}`);
          };
          special = new SimEvent('S', () => trace.push(`S@${sim.now}`), rng.nextInt(-2, 2));
          for (let i = 0; i < 12; i++) {
            const ev = new SimEvent(`e${i}`, handler(i), rng.nextInt(-2, 2));
            events.push(ev);
            sim.schedule(ev, rng.nextInt(0, 40));
          }
          sim.runUntil(600);
          return trace;
        };
        expect(run(true)).toEqual(run(false));
      }),
      { numRuns: 200 },
    );
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
