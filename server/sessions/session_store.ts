/**
 * The live exec and port-forward sessions of this hub process, each owned by the user who opened it on one
 * cluster. Input arrives by unary calls naming the session id (browsers cannot stream requests), so the id
 * is looked up here, and only the owner finds it: for anyone else an existing id answers exactly like an
 * unknown one (not_found), so ids reveal nothing.
 *
 * Limits: sessions per user and kind, and in total; a session without input or output for `idleMs` is
 * ended by the reaper.
 */
import { Code, ConnectError } from "@connectrpc/connect";

export type SessionKind = "exec-session" | "portforward-session";

export interface Session {
  readonly id: string;
  readonly kind: SessionKind;
  /** The owner: the Identity's user and the cluster the session runs on. */
  readonly user: string;
  readonly cluster: string;
  /** Time of the last input or output, in ms since the epoch. */
  readonly lastActivityAt: number;
  /** Ends the session; its stream ends with `error`. */
  end(error: ConnectError): void;
}

export interface SessionLimits {
  /** Sessions of one kind one user may hold at once. */
  perUser: number;
  /** Sessions of one kind in this process. */
  total: number;
  /** A session quiet for this long is ended. */
  idleMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = Object.freeze({
  perUser: 16,
  total: 1024,
  idleMs: 30 * 60_000,
});

const KIND_WORDS: Record<SessionKind, string> = {
  "exec-session": "exec sessions",
  "portforward-session": "port-forward sessions",
};

export class SessionStore {
  readonly limits: SessionLimits;
  readonly #now: () => number;
  readonly #sessions = new Map<string, Session>();
  #reaper: ReturnType<typeof setInterval> | undefined;

  constructor(limits: Partial<SessionLimits> = {}, now: () => number = Date.now) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...limits };
    this.#now = now;
  }

  /**
   * Holds a place for a session while its connection opens, so that the limits count sessions still
   * opening (a burst of requests cannot open more than the limit). Throws resource_exhausted when a limit
   * is reached. The reservation is not found by `find` until filled.
   */
  reserve(kind: SessionKind, user: string, cluster: string): Reservation {
    const reservation = new Reservation(this, crypto.randomUUID(), kind, user, cluster, this.#now());
    this.add(reservation);
    return reservation;
  }

  /** Puts the opened session in its reservation's place; false when the reservation was ended meanwhile. */
  fill(reservation: Reservation, session: Session): boolean {
    if (this.#sessions.get(reservation.id) !== reservation) return false;
    this.#sessions.set(session.id, session);
    return true;
  }

  /** Registers a session, or throws resource_exhausted when a limit is reached. */
  add(session: Session): void {
    let ofKind = 0;
    let ofUser = 0;
    for (const other of this.#sessions.values()) {
      if (other.kind !== session.kind) continue;
      ofKind++;
      if (other.user === session.user) ofUser++;
    }
    const words = KIND_WORDS[session.kind];
    if (ofUser >= this.limits.perUser) {
      throw new ConnectError(
        `you already have ${ofUser} open ${words}, the most one user may hold; close one first`,
        Code.ResourceExhausted,
      );
    }
    if (ofKind >= this.limits.total) {
      throw new ConnectError(`this hub already holds ${ofKind} ${words}, its limit`, Code.ResourceExhausted);
    }
    this.#sessions.set(session.id, session);
  }

  /**
   * The session `id` of `kind` if `user` owns it (and it runs on `cluster`, when given); else not_found,
   * whether the id is unknown or someone else's.
   */
  find(kind: SessionKind, id: string, user: string, cluster?: string): Session {
    const session = this.#sessions.get(id);
    if (
      !session || session instanceof Reservation || session.kind !== kind || session.user !== user ||
      (cluster !== undefined && session.cluster !== cluster)
    ) {
      throw sessionNotFound(kind, id);
    }
    return session;
  }

  /** Forgets the session (it has ended); a no-op for one already removed. */
  delete(session: Session): void {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
  }

  count(kind: SessionKind): number {
    let n = 0;
    for (const session of this.#sessions.values()) if (session.kind === kind) n++;
    return n;
  }

  /** Ends every session idle for longer than the limit; returns how many. */
  reapIdle(): number {
    const cutoff = this.#now() - this.limits.idleMs;
    const idle = [...this.#sessions.values()].filter((session) => session.lastActivityAt <= cutoff);
    for (const session of idle) {
      this.delete(session);
      const minutes = Math.round(this.limits.idleMs / 60_000);
      session.end(
        new ConnectError(
          `${session.kind} "${session.id}" ended after ${minutes} min without input or output`,
          Code.DeadlineExceeded,
        ),
      );
    }
    return idle.length;
  }

  /** Runs reapIdle every `intervalMs` until close(). */
  startReaper(intervalMs: number, onReaped?: (count: number) => void): void {
    clearInterval(this.#reaper);
    this.#reaper = setInterval(() => {
      const count = this.reapIdle();
      if (count > 0) onReaped?.(count);
    }, intervalMs);
  }

  /** Stops the reaper and ends every session with `error` (hub shutdown). */
  close(error: ConnectError): void {
    clearInterval(this.#reaper);
    this.#reaper = undefined;
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const session of all) session.end(error);
  }
}

/** A session still opening: it counts against the limits, and ending it aborts the opening. */
export class Reservation implements Session {
  readonly #store: SessionStore;
  readonly #opening = new AbortController();

  constructor(
    store: SessionStore,
    readonly id: string,
    readonly kind: SessionKind,
    readonly user: string,
    readonly cluster: string,
    readonly lastActivityAt: number,
  ) {
    this.#store = store;
  }

  /** Aborts when the reservation is ended (shutdown) before it is filled. */
  get signal(): AbortSignal {
    return this.#opening.signal;
  }

  end(error: ConnectError): void {
    this.#opening.abort(error);
  }

  /** Gives the place up (the opening failed). */
  cancel(): void {
    this.#store.delete(this);
  }
}

export function sessionNotFound(kind: SessionKind, id: string): ConnectError {
  return new ConnectError(`${kind} ${JSON.stringify(id)} not found`, Code.NotFound);
}
