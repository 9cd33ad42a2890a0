import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Session, type SessionKind, SessionStore } from "./session_store.ts";

class FakeSession implements Session {
  endedWith: ConnectError | undefined;
  constructor(
    readonly id: string,
    readonly kind: SessionKind,
    readonly user: string,
    readonly cluster: string,
    public lastActivityAt = 0,
  ) {}
  end(error: ConnectError): void {
    this.endedWith = error;
  }
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return Code[ConnectError.from(error).code];
  }
  return undefined;
}

Deno.test("only the owner finds a session, on its cluster; others get the unknown-id answer", () => {
  const store = new SessionStore();
  const session = new FakeSession("id-1", "exec-session", "alice", "alpha");
  store.add(session);
  assert.equal(store.find("exec-session", "id-1", "alice"), session);
  assert.equal(store.find("exec-session", "id-1", "alice", "alpha"), session);
  const messageFor = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      return ConnectError.from(error).rawMessage;
    }
  };
  const unknown = messageFor(() => store.find("exec-session", "id-2", "alice"));
  assert.equal(unknown, 'exec-session "id-2" not found');
  for (
    const attempt of [
      () => store.find("exec-session", "id-1", "bob"),
      () => store.find("exec-session", "id-1", "alice", "beta"),
      () => store.find("portforward-session", "id-1", "alice"),
    ]
  ) {
    assert.equal(codeOf(attempt), "NotFound");
  }
  assert.equal(messageFor(() => store.find("exec-session", "id-1", "bob")), 'exec-session "id-1" not found');
  store.delete(session);
  assert.equal(codeOf(() => store.find("exec-session", "id-1", "alice")), "NotFound");
});

Deno.test("per-user and total limits count each kind apart, and reservations count", () => {
  const store = new SessionStore({ perUser: 2, total: 3 });
  store.add(new FakeSession("a1", "exec-session", "alice", "alpha"));
  const reservation = store.reserve("exec-session", "alice", "alpha");
  assert.equal(
    codeOf(() => store.find("exec-session", reservation.id, "alice")),
    "NotFound",
    "not usable yet",
  );
  assert.equal(codeOf(() => store.reserve("exec-session", "alice", "beta")), "ResourceExhausted");
  // Another kind, and another user, have their own room.
  store.add(new FakeSession("p1", "portforward-session", "alice", "alpha"));
  store.add(new FakeSession("b1", "exec-session", "bob", "alpha"));
  assert.equal(
    codeOf(() => store.add(new FakeSession("c1", "exec-session", "carol", "alpha"))),
    "ResourceExhausted",
  );
  // Filling the reservation makes the session findable; cancelling one frees its place.
  const filled = new FakeSession(reservation.id, "exec-session", "alice", "alpha");
  assert.equal(store.fill(reservation, filled), true);
  assert.equal(store.find("exec-session", reservation.id, "alice"), filled);
  assert.equal(store.count("exec-session"), 3);
  store.delete(filled);
  const second = store.reserve("exec-session", "alice", "alpha");
  second.cancel();
  assert.equal(store.count("exec-session"), 2);
  assert.equal(store.fill(second, new FakeSession(second.id, "exec-session", "alice", "alpha")), false);
});

Deno.test("the reaper ends sessions idle past the limit with deadline_exceeded", () => {
  let now = 1_000_000;
  const store = new SessionStore({ idleMs: 60_000 }, () => now);
  const quiet = new FakeSession("q", "exec-session", "alice", "alpha", now);
  const busy = new FakeSession("b", "portforward-session", "alice", "alpha", now);
  store.add(quiet);
  store.add(busy);
  now += 59_000;
  busy.lastActivityAt = now;
  assert.equal(store.reapIdle(), 0);
  now += 2_000;
  assert.equal(store.reapIdle(), 1);
  assert.equal(quiet.endedWith?.code, Code.DeadlineExceeded);
  assert.match(quiet.endedWith?.rawMessage ?? "", /without input or output/);
  assert.equal(busy.endedWith, undefined);
  assert.equal(codeOf(() => store.find("exec-session", "q", "alice")), "NotFound");
});

Deno.test("closing the store ends every session and aborts reservations still opening", () => {
  const store = new SessionStore();
  const session = new FakeSession("s", "exec-session", "alice", "alpha");
  store.add(session);
  const reservation = store.reserve("portforward-session", "alice", "alpha");
  store.startReaper(10);
  const shutdown = new ConnectError("shutting down", Code.Unavailable);
  store.close(shutdown);
  assert.equal(session.endedWith, shutdown);
  assert.equal(reservation.signal.reason, shutdown);
  assert.equal(store.count("exec-session") + store.count("portforward-session"), 0);
});
