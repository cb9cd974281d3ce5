import { test } from "node:test";
import assert from "node:assert/strict";
import { AutoSaver, type SaveIndicator, type SaveResult, type Timers } from "../src/lib/autosave";

/** Manual clock: timers fire when the test advances time. */
class FakeTimers implements Timers {
  now = 0;
  private next = 1;
  private pending = new Map<number, { at: number; fn: () => void }>();
  set(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }
  clear(h: unknown): void {
    this.pending.delete(h as number);
  }
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await flush();
      const due = [...this.pending].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
      await flush();
    }
    this.now = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

interface Call {
  slice: number;
  base: number;
  mask: number[];
}

function setup(respond: (c: Call) => SaveResult | Error) {
  const timers = new FakeTimers();
  const calls: Call[] = [];
  const indicators: SaveIndicator[] = [];
  const masks = new Map<number, Uint8Array>();
  const saver = new AutoSaver(
    async (slice, mask, base) => {
      const c = { slice, base, mask: [...mask] };
      calls.push(c);
      const r = respond(c);
      if (r instanceof Error) throw r;
      return r;
    },
    {
      snapshot: (z) => (masks.get(z) ?? new Uint8Array(2)).slice(),
      onIndicator: (i) => indicators.push(i),
    },
    { debounceMs: 400, retryBaseMs: 1000, retryMaxMs: 8000, timers },
  );
  return { timers, calls, indicators, masks, saver, last: () => indicators[indicators.length - 1] };
}

test("debounces a burst of changes into one save carrying the base version", async () => {
  let v = 3;
  const t = setup(() => ({ kind: "saved", version: ++v }));
  t.saver.setVersion(5, 3);
  t.masks.set(5, Uint8Array.of(1, 0));
  t.saver.changed(5);
  await t.timers.advance(200);
  t.masks.set(5, Uint8Array.of(1, 2));
  t.saver.changed(5);
  assert.equal(t.last()?.state, "saving");
  assert.ok(t.saver.hasUnsaved);
  await t.timers.advance(399);
  assert.equal(t.calls.length, 0);
  await t.timers.advance(1);
  assert.deepEqual(t.calls, [{ slice: 5, base: 3, mask: [1, 2] }]);
  assert.equal(t.saver.version(5), 4);
  assert.deepEqual(t.last(), { state: "saved" });
  assert.ok(!t.saver.hasUnsaved);
});

test("a change during a save is saved next, on the new version", async () => {
  let release: (() => void) | null = null;
  const timers = new FakeTimers();
  const calls: number[] = [];
  let version = 0;
  const saver = new AutoSaver(
    (_z, _m, base) => {
      calls.push(base);
      return new Promise<SaveResult>((res) => {
        release = () => res({ kind: "saved", version: ++version });
      });
    },
    { snapshot: () => new Uint8Array(1), onIndicator: () => {} },
    { debounceMs: 400, timers },
  );
  saver.changed(0);
  await timers.advance(400);
  saver.changed(0);
  await timers.advance(400);
  assert.deepEqual(calls, [0]);
  (release as unknown as () => void)();
  await timers.advance(0);
  (release as unknown as () => void)();
  await timers.advance(0);
  assert.deepEqual(calls, [0, 1]);
  assert.ok(!saver.hasUnsaved);
});

test("holding during a stroke delays the save until release", async () => {
  const t = setup(() => ({ kind: "saved", version: 1 }));
  t.saver.hold(2, true);
  t.saver.changed(2);
  await t.timers.advance(5000);
  assert.equal(t.calls.length, 0);
  t.saver.hold(2, false);
  await t.timers.advance(400);
  assert.equal(t.calls.length, 1);
});

test("network failures retry with growing backoff and show retrying, then recover", async () => {
  let fail = 3;
  const t = setup(() => (fail-- > 0 ? new Error("offline") : { kind: "saved", version: 1 }));
  t.saver.changed(0);
  await t.timers.advance(400);
  assert.equal(t.calls.length, 1);
  assert.deepEqual(t.last(), { state: "retrying", inMs: 1000, error: "offline" });
  await t.timers.advance(1000);
  assert.equal(t.calls.length, 2);
  assert.equal((t.last() as { inMs: number }).inMs, 2000);
  await t.timers.advance(1999);
  assert.equal(t.calls.length, 2);
  await t.timers.advance(1);
  assert.equal(t.calls.length, 3);
  await t.timers.advance(4000);
  assert.equal(t.calls.length, 4);
  assert.deepEqual(t.last(), { state: "saved" });
});

test("a conflict stops saving that slice; keep mine saves on top of the server's version", async () => {
  let server = 7;
  const t = setup((c) => (c.base === server ? { kind: "saved", version: ++server } : { kind: "conflict", currentVersion: server }));
  t.saver.setVersion(1, 6);
  t.saver.changed(1);
  await t.timers.advance(400);
  assert.deepEqual(t.last(), { state: "conflict", slices: [1] });
  assert.ok(t.saver.inConflict(1) && t.saver.hasUnsaved);
  await t.timers.advance(60000);
  assert.equal(t.calls.length, 1, "no blind retries over the other edit");
  t.saver.keepMine(1);
  await t.timers.advance(0);
  assert.deepEqual(t.calls.map((c) => c.base), [6, 7]);
  assert.equal(t.saver.version(1), 8);
  assert.deepEqual(t.last(), { state: "saved" });
});

test("keep mine builds on a newer version the caller has seen since the conflict", async () => {
  const t = setup((c) => (c.base === 9 ? { kind: "saved", version: 10 } : { kind: "conflict", currentVersion: 7 }));
  t.saver.setVersion(0, 6);
  t.saver.changed(0);
  await t.timers.advance(400);
  t.saver.keepMine(0, 9);
  await t.timers.advance(0);
  assert.deepEqual(t.calls.map((c) => c.base), [6, 9]);
  assert.equal(t.saver.version(0), 10);
});

test("take theirs adopts the server version and leaves nothing to save", async () => {
  const t = setup(() => ({ kind: "conflict", currentVersion: 4 }));
  t.saver.changed(0);
  await t.timers.advance(400);
  t.saver.takeTheirs(0, 4);
  assert.equal(t.saver.version(0), 4);
  assert.ok(!t.saver.hasUnsaved);
  assert.deepEqual(t.last(), { state: "saved" });
});

test("a rejected save is reported and stays unsaved, not retried until the next change", async () => {
  let reject = true;
  const t = setup(() => (reject ? { kind: "rejected", reason: "class 9 out of range" } : { kind: "saved", version: 1 }));
  t.saver.changed(3);
  await t.timers.advance(10000);
  assert.equal(t.calls.length, 1);
  assert.deepEqual(t.last(), { state: "error", reason: "slice 3: class 9 out of range" });
  assert.ok(t.saver.hasUnsaved, "the page still warns before closing");
  reject = false;
  t.saver.changed(3);
  await t.timers.advance(400);
  assert.equal(t.calls.length, 2);
  assert.deepEqual(t.last(), { state: "saved" });
  assert.ok(!t.saver.hasUnsaved);
});

test("whenIdle resolves after pending saves complete", async () => {
  const t = setup(() => ({ kind: "saved", version: 1 }));
  t.saver.changed(0);
  let idle = false;
  void t.saver.whenIdle().then(() => (idle = true));
  await t.timers.advance(100);
  assert.ok(!idle);
  await t.timers.advance(300);
  assert.ok(idle);
});

test("retryNow skips the rest of the backoff once the connection is back", async () => {
  let fail = true;
  const t = setup(() => (fail ? new Error("offline") : { kind: "saved", version: 1 }));
  t.saver.changed(0);
  await t.timers.advance(400);
  await t.timers.advance(1000);
  assert.equal(t.calls.length, 2);
  fail = false;
  t.saver.retryNow();
  await t.timers.advance(0);
  assert.equal(t.calls.length, 3);
  assert.deepEqual(t.last(), { state: "saved" });
  t.saver.retryNow();
  await t.timers.advance(0);
  assert.equal(t.calls.length, 3, "nothing to retry when all is saved");
});
