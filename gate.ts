/**
 * A fairness gate for one event loop: every connection of a server passes it
 * after each write, and it opens for all of them together once every socket
 * that was ready before the round started has been served.
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
 * How it works. The gate owns a private loopback TCP socket pair. A round
 * issues a 1-byte read on one end and then writes 1 byte on the other, so the
 * read cannot complete when it is issued (Deno polls every op once at once)
 * and has to wait for its socket's readiness like any connection's read.
 * When it completes, every connection that was waiting is released together.
 * Rounds are generations: a connection that arrives while a round is in
 * flight waits for the next round, never for the one in flight. When a
 * connection is accepted during a round ({@linkcode Gate.arrived}), the
 * release waits for one more round, so that a burst of connects is accepted
 * at once instead of one per round.
 *
 * What was measured (BENCHMARKS.md, "Fairness"; C epoll client, 1000
 * connections playing games, server and client pinned to one core each, 4
 * interleaved runs per variant):
 * - without the gate: Jain's index of per-connection round trips 0.20 to
 *   0.75, 256 to 662 connections first answered after 1 s or never;
 * - this gate: in half the runs Jain 0.96 to 0.99, every connection served,
 *   max 288 to 700 ms; in the other half a fixed set of ~635 connections is
 *   served evenly while the rest (365 of 1000) are never answered;
 * - writing the byte before issuing the read: the same split, but the failing
 *   half is ungated (the read completes at once when its byte is there);
 * - releasing arrivals with the round in flight (no generations): Jain 0.20
 *   to 0.96, 0.48 typical.
 * So the gate is not yet the fix the issue asks for: see the report in
 * BENCHMARKS.md. One read and one write of one byte per round, shared by
 * every waiter.
 *
 * @module
 */

/**
 * One round of the gate: its promise and how to open it.
 */
interface Round {
  readonly promise: Promise<void>;
  readonly open: () => void;
}

/**
 * How many rounds in a row the gate may hold its waiters while connections are
 * being accepted; it bounds how long a flood of connects delays everyone else.
 */
const MAX_HOLDS = 16;

function newRound(): Round {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { promise, open: resolve };
}

/**
 * A shared gate for one event loop. Create one per server (per thread), pass
 * it after each write, close it when the server is done. `pass()` never
 * rejects: if the gate's sockets fail, it opens for good (fair no longer, but
 * never stuck).
 *
 * @example The first caller starts a round; one arriving while it is in flight waits for the next
 * ```ts
 * import assert from "node:assert/strict";
 * import { Gate } from "./gate.ts";
 * await using gate = await Gate.open();
 * const order: string[] = [];
 * await Promise.all([
 *   gate.pass().then(() => order.push(`a after round ${gate.rounds}`)),
 *   gate.pass().then(() => order.push(`b after round ${gate.rounds}`)),
 * ]);
 * assert.deepEqual(order, ["a after round 1", "b after round 2"]);
 * ```
 */
export class Gate implements AsyncDisposable {
  readonly #reader: Deno.TcpConn;
  readonly #writer: Deno.TcpConn;
  readonly #byte = new Uint8Array(1);
  readonly #sink = new Uint8Array(1);
  /** The round in flight, if any: it releases only those who came before it started. */
  #current: Round | undefined;
  /** The round the next arrivals wait for. */
  #next: Round = newRound();
  /** Whether anyone waits for `#next`. */
  #wanted = false;
  /** The in-flight round's read, settled or not. */
  #reading: Promise<unknown> = Promise.resolve();
  /** The in-flight round's write, settled or not. */
  #writing: Promise<unknown> = Promise.resolve();
  #closed = false;
  #rounds = 0;
  /** Connections accepted since the in-flight round's read was issued. */
  #arrivals = 0;
  /** How many times in a row the in-flight round was extended for arrivals. */
  #holds = 0;

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
   * Waits until every socket that was ready before the next round started has
   * been served. Resolves at once when the gate is closed. Never rejects.
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
    this.#wanted = true;
    const waiting = this.#next.promise;
    if (this.#current === undefined) this.#start();
    return waiting;
  }

  /**
   * Tells the gate a connection was just accepted. The release of the round in
   * flight then waits for one more round (at most {@linkcode MAX_HOLDS} in a
   * row): the listener's next accept queues behind every ready socket like the
   * gate's read does, so without this a burst of 1000 connects is accepted one
   * per round, and the last ones wait seconds for their first reply. While the
   * waiters are held, nothing but the accepts is ready, and they go fast.
   *
   * @example
   * ```ts
   * import { Gate } from "./gate.ts";
   * await using gate = await Gate.open();
   * gate.arrived();
   * await gate.pass();
   * ```
   */
  arrived(): void {
    this.#arrivals++;
  }

  /** Starts the next round. */
  #start(): void {
    const round = this.#next;
    this.#current = round;
    this.#next = newRound();
    this.#wanted = false;
    this.#holds = 0;
    this.#issue(round);
  }

  /** Read first, then write the round's byte, so that the read waits for epoll. */
  #issue(round: Round): void {
    this.#arrivals = 0;
    this.#reading = this.#reader.read(this.#sink).then((n) => {
      if (n === null) throw new Error("Gate socket closed");
      this.#finish(round);
    }).catch(() => this.#failOpen());
    this.#writing = this.#writer.write(this.#byte).catch(() => this.#failOpen());
  }

  #finish(round: Round): void {
    this.#rounds++;
    if (this.#arrivals > 0 && this.#holds < MAX_HOLDS && !this.#closed) {
      this.#holds++;
      this.#issue(round);
      return;
    }
    this.#current = undefined;
    round.open();
    if (this.#wanted && !this.#closed) this.#start();
  }

  /** The sockets failed or were closed: let everyone through from now on. */
  #failOpen(): void {
    const wasOpen = !this.#closed;
    this.#closed = true;
    this.#current?.open();
    this.#current = undefined;
    this.#next.open();
    if (wasOpen) this.#closeSockets();
  }

  #closeSockets(): void {
    for (const conn of [this.#reader, this.#writer]) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
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
      this.#current?.open();
      this.#current = undefined;
      this.#next.open();
    }
    await Promise.all([this.#reading, this.#writing]);
  }

  /** Same as {@linkcode Gate.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
