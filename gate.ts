/**
 * A fairness gate for one event loop: every connection of a server passes it
 * after each write and is told of every completed read; it releases everyone
 * waiting together once a whole round of its own passes in which no read (or
 * accept) completed, so every connection with a request ready is served once
 * before anyone is served twice.
 *
 * Why it exists. At 1000 busy connections a plain Deno loop starves most of
 * them: a syscall trace of `bench/floor.ts` shows `epoll_wait` every ~5 ms
 * (timeout 0, 128 to 699 sockets ready each time), exactly 128 reads between
 * two `epoll_wait`s (tokio's cooperative budget per task poll) and not one
 * read returning EAGAIN in 32,462. A connection that writes and reads again
 * finds its next request already there and completes without epoll, so a
 * cohort of ~128 to 256 connections keeps the whole budget while 750 to 940
 * others hold unread requests in the kernel (`ss -tn`) for seconds.
 *
 * Why "a round with no activity", not "one round". deno_core polls every op
 * future of an event loop in one tokio task. When that task's budget of 128
 * is spent, each further ready read returns Pending and its wake-up is
 * deferred until after the next `epoll_wait`; the sockets that epoll then
 * reports are woken first, the deferred ones after them. A trace of the
 * earlier gate (release after one round) at 1000 connections showed it: 1000
 * sockets reported ready at once, then every `epoll_wait` served the gate's
 * own read first and 127 reads of the same ~254 connections after it, while
 * a block of 365 accepted connections (the 381st to the 745th accepted) was
 * reported readable once and never read in 4 s. The gate's read, being
 * freshly ready, overtook exactly the connections it was meant to wait for.
 * Counting completions instead does not depend on that order: while anyone
 * with a request ready is still being served, rounds keep seeing reads
 * complete, and the held connections issue no reads of their own meanwhile.
 *
 * How it works. The gate owns a private loopback TCP socket pair. A round
 * issues a 1-byte read on one end and then writes 1 byte on the other, so the
 * read cannot complete when it is issued (Deno polls every op once at once)
 * and has to wait for its socket's readiness like any connection's read. The
 * first {@linkcode Gate.pass} starts a round; later callers join the same
 * wait. When the round's read completes, the gate looks at how many reads and
 * accepts completed since the round was issued ({@linkcode Gate.endRead},
 * {@linkcode Gate.activity}): none, and everyone waiting is released
 * together; some, and another round follows, at most 16 + waiters / 32 in a
 * row, so that activity that never stops (a flood of connects) delays the
 * held connections boundedly. Unless no read is pending any more
 * ({@linkcode Gate.startRead} counts them): then nobody can hold a request
 * that was not served, and one round was enough. At 50 busy connections
 * that is the usual case: every release used to take two rounds (the first
 * saw the reads of its own batch), and most take one now.
 *
 * What was measured (BENCHMARKS.md, "Fairness"; C epoll client, 1000
 * connections playing games over 1..100, server and client pinned to one
 * core each, 8 runs): Jain's index of per-connection round trips 0.965 to
 * 0.995, every connection served, none waiting over 1 s, max reply latency
 * 72 to 222 ms, p99 39 to 74 ms, and every connection served also under
 * `strace` (which slowed the server 8x); without the gate, 754 to 801 of
 * the 1000 never answered in the 3 runs of the table, 237 to 520 first
 * answered after 1 s in 2 others. At 5000 connections: none
 * never answered, Jain 0.98, max 446 to 607 ms. One read
 * and one write of one byte per round, shared by every waiter.
 *
 * @module
 */

import { closeQuietly } from "./net.ts";

/** Everyone who passed the gate since it last opened, and how to let them go. */
interface Epoch {
  readonly promise: Promise<void>;
  readonly open: () => void;
}

/**
 * How many rounds in a row the gate may hold its waiters while sockets keep
 * completing work, at least; it grows with the number of waiters (one round
 * serves about 127 reads, tokio's budget less the gate's own), so that 5000
 * connections still get their turn, and bounds how long activity that never
 * stops (a flood of connects) delays the held connections.
 */
const MIN_HOLDS = 16;

function newEpoch(): Epoch {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { promise, open: resolve };
}

/**
 * A shared gate for one event loop. Create one per server (per thread), pass
 * it after each write, wrap every read in {@linkcode Gate.startRead} and
 * {@linkcode Gate.endRead}, tell it of every accept with
 * {@linkcode Gate.activity}, close it when the server is done. `pass()` never
 * rejects: if the gate's sockets fail, it opens for good (fair no longer, but
 * never stuck).
 *
 * @example Callers wait together; a round with activity in it is followed by another
 * ```ts
 * import assert from "node:assert/strict";
 * import { Gate } from "./gate.ts";
 * await using gate = await Gate.open();
 * gate.startRead(); // an idle connection's read, pending throughout
 * const first = gate.pass();
 * gate.activity(); // a connection was accepted during round 1
 * const second = gate.pass();
 * await Promise.all([first, second]);
 * assert.equal(gate.rounds, 2);
 * ```
 */
export class Gate implements AsyncDisposable {
  readonly #reader: Deno.TcpConn;
  readonly #writer: Deno.TcpConn;
  readonly #byte = new Uint8Array(1);
  readonly #sink = new Uint8Array(1);
  /** Everyone waiting: released together when a round passes with no activity. */
  #epoch: Epoch = newEpoch();
  #waiters = 0;
  /** Whether a round (the gate's read and write) is in flight. */
  #inFlight = false;
  /** The in-flight round's read, settled or not. */
  #reading: Promise<unknown> = Promise.resolve();
  /** The in-flight round's write, settled or not. */
  #writing: Promise<unknown> = Promise.resolve();
  #closed = false;
  #rounds = 0;
  /** Reads and accepts completed since the in-flight round was issued. */
  #activity = 0;
  /** How many rounds in a row the current epoch was held. */
  #holds = 0;
  /** Reads issued and not yet completed ({@linkcode Gate.startRead}). */
  #readers = 0;

  private constructor(reader: Deno.TcpConn, writer: Deno.TcpConn) {
    this.#reader = reader;
    this.#writer = writer;
  }

  /**
   * Opens a gate: listens on 127.0.0.1, port 0, connects, accepts that very
   * connection (checked by its port; a stranger is closed) and closes the
   * listener.
   *
   * @returns The open gate.
   * @throws {Deno.errors.PermissionDenied} Without net permission for 127.0.0.1.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Gate } from "./gate.ts";
   * await using gate = await Gate.open();
   * await gate.pass();
   * assert.equal(gate.rounds, 1);
   * ```
   */
  static async open(): Promise<Gate> {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const writer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    try {
      for (;;) {
        const reader = await listener.accept();
        if (reader.remoteAddr.port === writer.localAddr.port) {
          // One byte per round: never hold it back for Nagle.
          writer.setNoDelay(true);
          return new Gate(reader, writer);
        }
        reader.close();
      }
    } catch (error) {
      writer.close();
      throw error;
    }
  }

  /** How many rounds have completed (for tests and benchmarks). */
  get rounds(): number {
    return this.#rounds;
  }

  /**
   * Waits until a whole round of the gate passes in which no read or accept
   * completed: then every connection that had work ready has been served once
   * since the caller was, and everyone waiting goes on together. Resolves at
   * once when the gate is closed. Never rejects.
   *
   * @returns Resolves when the caller may go on.
   *
   * @example
   * ```ts
   * import { Gate } from "./gate.ts";
   * await using gate = await Gate.open();
   * await gate.pass();
   * ```
   */
  pass(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#waiters++;
    const waiting = this.#epoch.promise;
    if (!this.#inFlight) {
      this.#holds = 0;
      this.#issue();
    }
    return waiting;
  }

  /**
   * Tells the gate that a socket completed work other than a read (an
   * accept; reads are told by {@linkcode Gate.endRead}): the round in flight
   * then does not release anyone while a read is pending, and another round
   * follows. Cheap: a counter.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Gate } from "./gate.ts";
   * await using gate = await Gate.open();
   * gate.startRead(); // a connection waits for its next request
   * const passing = gate.pass();
   * gate.activity(); // an accept completed in round 1: another round
   * await passing;
   * assert.equal(gate.rounds, 2);
   * ```
   */
  activity(): void {
    this.#activity++;
  }

  /**
   * Tells the gate that a connection issued a read: until
   * {@linkcode Gate.endRead}, it may hold a request the event loop has not
   * served yet. Cheap: a counter.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Gate } from "./gate.ts";
   * await using gate = await Gate.open();
   * gate.startRead(); // a connection that waits for its next request
   * gate.startRead(); // and another
   * const passing = gate.pass();
   * gate.endRead(); // one read completed in round 1, one is still pending: another round
   * await passing;
   * assert.equal(gate.rounds, 2);
   * ```
   */
  startRead(): void {
    this.#readers++;
  }

  /**
   * Tells the gate that a read of {@linkcode Gate.startRead} completed (with
   * data, the end, or an error): it is activity, as in
   * {@linkcode Gate.activity}. When a round sees activity but no read is
   * pending any more, nobody can be left behind with a request unread, and
   * the round releases everyone without another.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Gate } from "./gate.ts";
   * await using gate = await Gate.open();
   * gate.startRead();
   * const passing = gate.pass();
   * gate.endRead(); // activity, but no read pending now: one round is enough
   * await passing;
   * assert.equal(gate.rounds, 1);
   * ```
   */
  endRead(): void {
    this.#readers--;
    this.#activity++;
  }

  /** Read first, then write the round's byte, so that the read waits for epoll. */
  #issue(): void {
    this.#inFlight = true;
    this.#activity = 0;
    this.#reading = this.#reader.read(this.#sink).then((n) => {
      if (n === null) throw new Error("Gate socket closed");
      this.#finish();
    }).catch(() => this.#failOpen());
    this.#writing = this.#writer.write(this.#byte).catch(() => this.#failOpen());
  }

  #finish(): void {
    this.#rounds++;
    if (this.#closed) return;
    const limit = MIN_HOLDS + Math.ceil(this.#waiters / 32);
    // Activity, and a read still pending: its request may be ready and not
    // served yet (a read tokio's budget deferred). With none pending, everyone
    // who could want a turn has had it.
    if (this.#activity > 0 && this.#readers > 0 && this.#holds < limit) {
      this.#holds++;
      this.#issue();
      return;
    }
    this.#inFlight = false;
    const epoch = this.#epoch;
    this.#epoch = newEpoch();
    this.#waiters = 0;
    epoch.open();
  }

  /** The sockets failed or were closed: let everyone through from now on. */
  #failOpen(): void {
    const wasOpen = !this.#closed;
    this.#closed = true;
    this.#inFlight = false;
    this.#epoch.open();
    if (wasOpen) this.#closeSockets();
  }

  #closeSockets(): void {
    closeQuietly(this.#reader);
    closeQuietly(this.#writer);
  }

  /**
   * Closes both sockets and releases every waiter; resolves once the pending
   * read has settled, so no op outlives the gate. Idempotent.
   *
   * @returns Resolves when the gate holds nothing any more.
   *
   * @example
   * ```ts
   * import { Gate } from "./gate.ts";
   * const gate = await Gate.open();
   * await gate.close();
   * await gate.pass(); // open for good
   * ```
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#closeSockets();
      this.#inFlight = false;
      this.#epoch.open();
    }
    await Promise.all([this.#reading, this.#writing]);
  }

  /** Same as {@linkcode Gate.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
