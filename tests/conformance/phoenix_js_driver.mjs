#!/usr/bin/env node
// Drives the official phoenix.js client (npm "phoenix", over "ws") against a Phoenix
// server and prints ONE JSON object to stdout: what phoenix.js surfaced per scenario.
//
//   node phoenix_js_driver.mjs <ws://host:port/socket> [scenario,scenario,...]
//
// The URL is the socket endpoint WITHOUT the "/websocket" suffix (phoenix.js appends
// it, and "?vsn=2.0.0"). Used by tests/test_conformance_phoenix_js.py and
// tests/test_conformance_compare.py against PhoenixServer.with_defaults(); set up with
// `npm ci --prefix tests/conformance`.
// Every scenario uses its own Socket(s), and they run concurrently.
// Each socket connects with the extra param `scenario=<name>`, so that the server's
// "connect" events tell which connection (and so which recorded frames) belongs to
// which scenario.
//
// Besides its own fields, every scenario's result has a "trace": the ordered list of
// what phoenix.js surfaced, one JSON array per callback, in a vocabulary that
// tests/test_conformance_compare.py also produces for phoenix_actor:
//   ["open"]                                  socket onOpen
//   ["socket_error", message]                 socket onError
//   ["socket_close", code]                    socket onClose
//   ["join", topic, status, payload]          a join push's receive(status): ok, error,
//                                             timeout (payload null); again on rejoins
//   ["reply", topic, event, status, payload]  any other push's receive(status)
//   ["message", topic, event, payload]        channel.on(event) for watched events
//   ["close", topic, payload]                 channel onClose
//   ["error", topic, payload]                 channel onError
//   ["presence_join", key, current, joined]   Presence onJoin (current null if absent)
//   ["presence_leave", key, current, left]    Presence onLeave
//   ["presence_sync", list]                   Presence onSync, with list()
//   ["state", topic, state]                   the channel's state at the end
// Exits 1 (message on stderr) if anything throws or a scenario misses its deadline,
// 2 on bad usage; a global timeout makes sure it never hangs.

import { Presence, Socket } from "phoenix";
import WebSocket from "ws";
import { readFileSync } from "node:fs";

const PHOENIX_VERSION = JSON.parse(
  readFileSync(new URL("./node_modules/phoenix/package.json", import.meta.url), "utf8"),
).version;

const GLOBAL_TIMEOUT_MS = Number(process.env.DRIVER_TIMEOUT_MS || 20000);
const WAIT_MS = 5000; // for one expected happening inside a scenario
const PUSH_TIMEOUT_MS = 300; // short, so that "timeout" is observed quickly
const SLOW_MS = 1000; // holds the server's work for a socket up, past PUSH_TIMEOUT_MS

const fail = (message) => {
  process.stderr.write(`phoenix_js_driver: ${message}\n`);
  process.exit(1);
};
const globalTimer = setTimeout(
  () => fail(`global timeout of ${GLOBAL_TIMEOUT_MS} ms reached`),
  GLOBAL_TIMEOUT_MS,
);
process.on("uncaughtException", (err) => fail(`uncaught: ${err && err.stack ? err.stack : err}`));
process.on("unhandledRejection", (err) => fail(`unhandled: ${err && err.stack ? err.stack : err}`));

// ---------------------------------------------------------------------------- helpers

/** The trace of each Socket (see the header): what its callbacks surfaced, in order. */
const TRACES = new WeakMap();
const traceOf = (socket) => TRACES.get(socket);
/** Waiters of each trace: {test, count, done}, see untilTraced. */
const TRACE_WAITERS = new WeakMap();

/** Appends `entry` to `trace` and resolves the waiters it satisfies. */
function record(trace, entry) {
  trace.push(entry);
  const waiters = TRACE_WAITERS.get(trace) || [];
  const pending = waiters.filter((w) => trace.filter(w.test).length < w.count);
  waiters.filter((w) => !pending.includes(w)).forEach((w) => w.done.resolve());
  TRACE_WAITERS.set(trace, pending);
}

/** Resolves once `trace` holds `count` entries passing `test`. */
function untilTraced(trace, what, test, count = 1) {
  const done = deferred(what);
  if (trace.filter(test).length >= count) {
    done.resolve();
  } else {
    TRACE_WAITERS.set(trace, [...(TRACE_WAITERS.get(trace) || []), { test, count, done }]);
  }
  return done;
}
const isJoinOk = (entry) => entry[0] === "join" && entry[2] === "ok";
/** A backoff whose first retry comes at once and the next ones not during a scenario. */
const oneQuickRetry = (tries) => (tries === 1 ? 20 : 60000);

/** JSON-friendly copy: ArrayBuffers (and views) become {"$binary": [bytes...]}. */
function plain(value) {
  if (value instanceof ArrayBuffer) return { $binary: Array.from(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) {
    return { $binary: Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value === undefined ? null : value;
}

/** A promise with its resolver, rejected after `ms` with a message naming `what`. */
function deferred(what, ms = WAIT_MS) {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  promise.resolve = (value) => {
    clearTimeout(timer);
    resolve(value);
  };
  promise.catch(() => {}); // awaited later; never "unhandled" in between
  return promise;
}

/** Resolves with {status, payload} for the first of ok / error / timeout of a Push;
 * every outcome (a join's again on each rejoin) goes to the socket's trace. */
function outcome(push, what) {
  const done = deferred(what, WAIT_MS + PUSH_TIMEOUT_MS);
  const { topic } = push.channel;
  for (const status of ["ok", "error", "timeout"]) {
    push.receive(status, (payload) => {
      const shown = status === "timeout" ? null : plain(payload);
      const entry = push.event === "phx_join"
        ? ["join", topic, status, shown]
        : ["reply", topic, push.event, status, shown];
      record(traceOf(push.channel.socket), entry);
      done.resolve({ status, payload: plain(payload) });
    });
  }
  return done;
}

/** A Socket wired to record what phoenix.js reports; `opened` resolves on open.
 * `endpoint` is {url, scenario}: the scenario's name is sent as a connect param. */
function makeSocket(endpoint, params = {}, opts = {}) {
  const log = { opens: 0, errors: [], closes: [], messages: [], trace: [] };
  const socket = new Socket(endpoint.url, {
    transport: WebSocket,
    params: { ...params, scenario: endpoint.scenario },
    timeout: PUSH_TIMEOUT_MS,
    reconnectAfterMs: () => 60000, // no reconnect noise unless a scenario asks
    rejoinAfterMs: () => 60000, // refused joins are retried forever otherwise
    ...opts,
  });
  TRACES.set(socket, log.trace);
  const opened = deferred("socket open");
  socket.onOpen(() => {
    log.opens += 1;
    record(log.trace, ["open"]);
    opened.resolve();
  });
  socket.onError((error) => {
    const message = error && error.message ? String(error.message) : String(error);
    log.errors.push({ type: error && error.type ? error.type : null, message });
    record(log.trace, ["socket_error", message]);
  });
  socket.onClose((event) => {
    log.closes.push({ code: event.code, reason: String(event.reason || ""), wasClean: !!event.wasClean });
    record(log.trace, ["socket_close", event.code]);
  });
  socket.onMessage((msg) => {
    // record() also wakes untilTraced(log.messages, ...) waiters.
    record(log.messages, {
      join_ref: msg.join_ref ?? null,
      ref: msg.ref ?? null,
      topic: msg.topic,
      event: msg.event,
      payload: plain(msg.payload),
    });
  });
  socket.connect();
  return { socket, log, opened };
}

/** Records a channel's onClose / onError and the given events (also in the trace). */
function watchChannel(channel, events = []) {
  const seen = { closes: [], errors: [], events: [] };
  const trace = traceOf(channel.socket);
  const waiters = new Map();
  const note = (name, entry) => {
    const waiter = waiters.get(name);
    if (waiter) waiter.resolve(entry);
  };
  channel.onClose((payload, ref, joinRef) => {
    const entry = { payload: plain(payload), ref: ref ?? null, join_ref: joinRef ?? null };
    seen.closes.push(entry);
    record(trace, ["close", channel.topic, entry.payload]);
    note("close", entry);
  });
  channel.onError((reason) => {
    const entry = { payload: plain(reason) };
    seen.errors.push(entry);
    record(trace, ["error", channel.topic, entry.payload]);
    note("error", entry);
  });
  for (const name of events) {
    channel.on(name, (payload, ref, joinRef) => {
      const entry = { event: name, payload: plain(payload), ref: ref ?? null, join_ref: joinRef ?? null };
      seen.events.push(entry);
      record(trace, ["message", channel.topic, name, entry.payload]);
      note(name, entry);
    });
  }
  /** Resolves on the next `name` ("close", "error" or an event name). */
  seen.next = (name) => {
    const d = deferred(`channel ${channel.topic} ${name}`);
    waiters.set(name, d);
    return d;
  };
  return seen;
}

/** A heartbeat round trip: everything the server sent before its reply has arrived. */
function roundTrip(socket) {
  const d = deferred("ping reply");
  if (!socket.ping((rtt) => d.resolve(rtt))) d.resolve(null);
  return d;
}

/** disconnect() and wait for its callback. */
function disconnect(socket) {
  const d = deferred("disconnect");
  socket.disconnect(() => d.resolve());
  return d;
}

/** The outcome of joining `topic` (on an already opened socket). */
async function join(socket, topic, params = {}, events = []) {
  const channel = socket.channel(topic, params);
  const watch = watchChannel(channel, events);
  const joined = await outcome(channel.join(), `join ${topic}`);
  return { channel, watch, joined };
}

/** Deep copies: taken before disconnect(), which errors every channel. */
const snapshot = (value) => JSON.parse(JSON.stringify(value));
const channelView = (channel, watch) => snapshot({
  state: channel.state,
  join_ref: channel.joinRef() ?? null,
  on_close: watch.closes,
  on_error: watch.errors,
  events: watch.events,
});
const socketView = (log) => snapshot({ opens: log.opens, on_error: log.errors, on_close: log.closes });
/** The trace so far, ended by the state of each of `channels`. */
const traced = (log, ...channels) => snapshot([
  ...log.trace,
  ...channels.map((channel) => ["state", channel.topic, channel.state]),
]);

// -------------------------------------------------------------------------- scenarios

const SCENARIOS = {
  async join_ok(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:a", { hello: "world" });
    await roundTrip(socket);
    const result = {
      join: joined,
      channel: channelView(channel, watch),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async join_refused(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:refuse", { hello: "no" });
    await roundTrip(socket);
    const result = {
      join: joined,
      channel: channelView(channel, watch),
      messages: log.messages.filter((m) => m.topic === "echo:refuse"),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async unmatched_topic(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "nope:x");
    await roundTrip(socket);
    const result = {
      join: joined,
      channel: channelView(channel, watch),
      messages: log.messages.filter((m) => m.topic === "nope:x"),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async push_replies(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:replies");
    const ok = await outcome(channel.push("echo", { a: 1, nested: { b: [1, "two"] } }), "echo reply");
    const error = await outcome(channel.push("error", { b: 2 }), "error reply");
    const noreply = await outcome(channel.push("noreply", { c: 3 }, PUSH_TIMEOUT_MS), "noreply timeout");
    await roundTrip(socket);
    const result = {
      join: joined,
      ok,
      error,
      noreply,
      channel: channelView(channel, watch),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async channel_push(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:push", {}, ["pushed"]);
    const pushed = watch.next("pushed");
    const reply = outcome(channel.push("push", { x: 1 }), "push (noreply)");
    const event = await pushed;
    const result = {
      join: joined,
      event,
      frame: log.messages.find((m) => m.event === "pushed") ?? null,
      reply: await reply,
      channel: channelView(channel, watch),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async broadcast(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:bcast", {}, ["broadcasted"]);
    const broadcasted = watch.next("broadcasted");
    const reply = await outcome(channel.push("broadcast", { y: 2 }), "broadcast reply");
    const event = await broadcasted;
    const result = {
      join: joined,
      reply,
      event,
      frame: log.messages.find((m) => m.event === "broadcasted") ?? null,
      channel: channelView(channel, watch),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async stop(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:stop");
    const closed = watch.next("close");
    const reply = outcome(channel.push("stop", {}), "stop push");
    await closed;
    await roundTrip(socket);
    const result = {
      join: joined,
      reply: await reply,
      channel: channelView(channel, watch),
      frames: log.messages.filter((m) => m.topic === "echo:stop" && m.event !== "phx_reply"),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async crash(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:crash");
    const errored = watch.next("error");
    const reply = outcome(channel.push("crash", {}), "crash push");
    await errored;
    await roundTrip(socket);
    const result = {
      join: joined,
      reply: await reply,
      channel: channelView(channel, watch),
      frames: log.messages.filter((m) => m.topic === "echo:crash" && m.event !== "phx_reply"),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async leave(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:leave");
    const left = await outcome(channel.leave(), "leave reply");
    // The server answers pings on another thread than the channel's: wait for its
    // phx_close itself rather than for a ping's reply.
    const isClose = (m) => m.topic === "echo:leave" && m.event === "phx_close";
    await untilTraced(log.messages, "the server's phx_close", isClose);
    const result = {
      join: joined,
      leave: left,
      channel: channelView(channel, watch),
      frames: log.messages.filter((m) => m.topic === "echo:leave"),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async heartbeat(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint, {}, { heartbeatIntervalMs: 50 });
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:hb");
    const rtt = await roundTrip(socket);
    // Wait for three automatic heartbeat replies (each is scheduled after the last).
    const replies = deferred("three heartbeat replies");
    const heartbeatReplies = () => log.messages.filter((m) => m.topic === "phoenix" && m.event === "phx_reply");
    socket.onMessage(() => {
      if (heartbeatReplies().length >= 4) replies.resolve();
    });
    await replies;
    const result = {
      join: joined,
      ping_rtt_is_number: typeof rtt === "number",
      replies: heartbeatReplies().slice(0, 4),
      channel: channelView(channel, watch),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async refused_connect(endpoint) {
    const { socket, log } = makeSocket(endpoint, { token: "bad" });
    const closed = deferred("close after refused connect");
    socket.onClose(() => closed.resolve());
    await closed;
    const result = {
      connected: socket.isConnected(),
      socket: socketView(log),
      messages: log.messages,
      trace: traced(log),
    };
    await disconnect(socket);
    return result;
  },

  async binary(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:bin", {}, ["bin_pushed"]);
    const bytes = new Uint8Array([0, 1, 2, 127, 128, 255]);
    const echoed = await outcome(channel.push("bin_echo", bytes.buffer), "bin_echo reply");
    const binaryReply = await outcome(channel.push("binary", { bytes: [9, 8, 7] }), "binary reply");
    const pushed = watch.next("bin_pushed");
    channel.push("binary_push", { bytes: [5, 4, 3] });
    await pushed;
    const result = {
      join: joined,
      bin_echo: echoed,
      binary: binaryReply,
      channel: channelView(channel, watch),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async server_disconnect(endpoint) {
    // Forced disconnect (close 1000 by default): does phoenix.js reconnect?
    const { socket, log, opened } = makeSocket(endpoint, { user: "js" }, { reconnectAfterMs: () => 20 });
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:dc");
    const closed = deferred("server close");
    socket.onClose(() => closed.resolve());
    const reopened = deferred("reopen after server close");
    socket.onOpen(() => reopened.resolve());
    channel.push("disconnect_me", {});
    await closed;
    const state = { closes: log.closes.slice(), chan_errors: watch.errors.slice() };
    let reconnected = true;
    try {
      await reopened;
    } catch {
      reconnected = false;
    }
    if (reconnected) await untilTraced(log.trace, "rejoin after reconnect", isJoinOk, 2);
    const result = {
      join: joined,
      after_close: state,
      reconnected,
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async crash_rejoin(endpoint) {
    // phx_error, then the rejoin that rejoinAfterMs (20 ms here) schedules.
    const { socket, log, opened } = makeSocket(endpoint, {}, { rejoinAfterMs: () => 20 });
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:rejoin", { again: true });
    const errored = watch.next("error");
    channel.push("crash", {});
    await errored;
    await untilTraced(log.trace, "rejoin after crash", isJoinOk, 2);
    await roundTrip(socket);
    const result = {
      join: joined,
      channel: channelView(channel, watch),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async duplicate_join(endpoint) {
    // A second Channel of a topic that is joined: phoenix.js leaves the first itself.
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const first = await join(socket, "echo:dup");
    const second = await join(socket, "echo:dup");
    await roundTrip(socket);
    const result = {
      first: first.joined,
      second: second.joined,
      first_channel: channelView(first.channel, first.watch),
      second_channel: channelView(second.channel, second.watch),
      socket: socketView(log),
      trace: traced(log, second.channel),
    };
    await disconnect(socket);
    return result;
  },

  async join_refused_rejoin(endpoint) {
    // As join_refused, but the rejoin timer's first retry comes after 20 ms.
    const { socket, log, opened } = makeSocket(endpoint, {}, { rejoinAfterMs: oneQuickRetry });
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:refuse", { hello: "again" });
    const isRefusal = (entry) => entry[0] === "join" && entry[2] === "error";
    await untilTraced(log.trace, "the refusal of the retried join", isRefusal, 2);
    await roundTrip(socket);
    const result = {
      join: joined,
      channel: channelView(channel, watch),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async refused_connect_reconnect(endpoint) {
    // As refused_connect, but the reconnect timer's first retry comes after 20 ms.
    const { socket, log } = makeSocket(endpoint, { token: "bad" }, { reconnectAfterMs: oneQuickRetry });
    await untilTraced(log.trace, "two refused connects", (entry) => entry[0] === "socket_close", 2);
    const result = { socket: socketView(log), trace: traced(log) };
    await disconnect(socket);
    return result;
  },

  async push_while_joining(endpoint) {
    // A push made before the join is answered waits in the channel, sent once joined.
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const channel = socket.channel("echo:early");
    const watch = watchChannel(channel);
    const joined = outcome(channel.join(), "join echo:early");
    const early = outcome(channel.push("echo", { early: true }), "early push");
    const result = {
      join: await joined,
      early: await early,
      channel: channelView(channel, watch),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async join_timeout(endpoint) {
    // A slow push holds the server's work for this socket up, so the join of echo:late
    // times out; phoenix.js then leaves it (phx_leave with the join's join_ref) and
    // drops the late join reply, leave reply and phx_close.
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const busy = await join(socket, "echo:busy");
    const slow = outcome(busy.channel.push("slow", { ms: SLOW_MS }, WAIT_MS), "slow reply");
    const late = socket.channel("echo:late");
    const watch = watchChannel(late);
    const timedOut = await outcome(late.join(), "join timeout");
    const slowReply = await slow;
    // Through the same server worker: the late join and the leave were handled.
    const after = await outcome(busy.channel.push("echo", {}), "echo after");
    const result = {
      join: timedOut,
      slow: slowReply,
      after,
      channel: channelView(late, watch),
      socket: socketView(log),
      trace: traced(log, late),
    };
    await disconnect(socket);
    return result;
  },

  async binary_broadcast(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:binb", {}, ["bin_broadcasted"]);
    const broadcasted = watch.next("bin_broadcasted");
    const reply = await outcome(
      channel.push("binary_broadcast", { bytes: [1, 2, 254, 255] }),
      "binary_broadcast reply",
    );
    const event = await broadcasted;
    const result = {
      join: joined,
      reply,
      event,
      channel: channelView(channel, watch),
      socket: socketView(log),
      trace: traced(log, channel),
    };
    await disconnect(socket);
    return result;
  },

  async presence(endpoint) {
    // alice keeps a Presence of room:conformance while bob joins it, then leaves it.
    const alice = makeSocket(endpoint);
    await alice.opened;
    const channel = alice.socket.channel("room:conformance", { user: "alice" });
    const watch = watchChannel(channel, ["presence_state", "presence_diff"]);
    const presence = new Presence(channel);
    const trace = alice.log.trace;
    presence.onJoin((key, current, joined) => {
      record(trace, ["presence_join", key, current === undefined ? null : plain(current), plain(joined)]);
    });
    presence.onLeave((key, current, left) => {
      record(trace, ["presence_leave", key, plain(current), plain(left)]);
    });
    presence.onSync(() => record(trace, ["presence_sync", plain(presence.list())]));
    const synced = (n) => untilTraced(trace, `${n} presence syncs`, (e) => e[0] === "presence_sync", n);
    const joined = await outcome(channel.join(), "join room:conformance");
    await synced(1);
    const bob = makeSocket(endpoint);
    await bob.opened;
    const bobs = await join(bob.socket, "room:conformance", { user: "bob" });
    await synced(2);
    const left = await outcome(bobs.channel.leave(), "bob's leave");
    await synced(3);
    const result = {
      join: joined,
      bob_leave: left,
      list: plain(presence.list()),
      channel: channelView(channel, watch),
      socket: socketView(alice.log),
      trace: traced(alice.log, channel),
      bob_trace: traced(bob.log, bobs.channel),
    };
    await disconnect(bob.socket);
    await disconnect(alice.socket);
    return result;
  },
};

// ------------------------------------------------------------------------------- main

async function main() {
  const [endpoint, list] = process.argv.slice(2);
  if (!endpoint) {
    process.stderr.write(`usage: node phoenix_js_driver.mjs <ws://host:port/socket> [${Object.keys(SCENARIOS).join(",")}]\n`);
    process.exit(2);
  }
  const names = list ? list.split(",").filter(Boolean) : Object.keys(SCENARIOS);
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length) {
    process.stderr.write(`phoenix_js_driver: unknown scenario(s): ${unknown.join(", ")}\n`);
    process.exit(2);
  }
  const results = await Promise.all(
    names.map((name) =>
      SCENARIOS[name]({ url: endpoint, scenario: name }).catch((err) => {
        throw new Error(`scenario ${name}: ${err && err.stack ? err.stack : err}`);
      }),
    ),
  );
  const out = { phoenix_js: PHOENIX_VERSION, scenarios: Object.fromEntries(names.map((n, i) => [n, results[i]])) };
  process.stdout.write(JSON.stringify(out) + "\n", () => {
    clearTimeout(globalTimer);
    process.exit(0);
  });
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
