#!/usr/bin/env node
// Drives the official phoenix.js client (npm "phoenix", over "ws") against a Phoenix
// server and prints ONE JSON object to stdout: what phoenix.js surfaced per scenario.
//
//   node phoenix_js_driver.mjs <ws://host:port/socket> [scenario,scenario,...]
//
// The URL is the socket endpoint WITHOUT the "/websocket" suffix (phoenix.js appends
// it, and "?vsn=2.0.0"). Used by tests/test_conformance_phoenix_js.py against
// PhoenixServer.with_defaults(); set up with `npm ci --prefix tests/conformance`.
// Every scenario uses its own Socket and its own topic, and they run concurrently.
// Exits 1 (message on stderr) if anything throws or a scenario misses its deadline,
// 2 on bad usage; a global timeout makes sure it never hangs.

import { Socket } from "phoenix";
import WebSocket from "ws";
import { readFileSync } from "node:fs";

const PHOENIX_VERSION = JSON.parse(
  readFileSync(new URL("./node_modules/phoenix/package.json", import.meta.url), "utf8"),
).version;

const GLOBAL_TIMEOUT_MS = Number(process.env.DRIVER_TIMEOUT_MS || 20000);
const WAIT_MS = 5000; // for one expected happening inside a scenario
const PUSH_TIMEOUT_MS = 300; // short, so that "timeout" is observed quickly

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

/** Resolves with {status, payload} for the first of ok / error / timeout of a Push. */
function outcome(push, what) {
  const done = deferred(what, WAIT_MS + PUSH_TIMEOUT_MS);
  for (const status of ["ok", "error", "timeout"]) {
    push.receive(status, (payload) => done.resolve({ status, payload: plain(payload) }));
  }
  return done;
}

/** A Socket wired to record what phoenix.js reports; `opened` resolves on open. */
function makeSocket(endpoint, params = {}, opts = {}) {
  const log = { opens: 0, errors: [], closes: [], messages: [] };
  const socket = new Socket(endpoint, {
    transport: WebSocket,
    params,
    timeout: PUSH_TIMEOUT_MS,
    reconnectAfterMs: () => 60000, // no reconnect noise unless a scenario asks
    rejoinAfterMs: () => 60000, // refused joins are retried forever otherwise
    ...opts,
  });
  const opened = deferred("socket open");
  socket.onOpen(() => {
    log.opens += 1;
    opened.resolve();
  });
  socket.onError((error) => {
    log.errors.push({
      type: error && error.type ? error.type : null,
      message: error && error.message ? String(error.message) : String(error),
    });
  });
  socket.onClose((event) => {
    log.closes.push({ code: event.code, reason: String(event.reason || ""), wasClean: !!event.wasClean });
  });
  socket.onMessage((msg) => {
    log.messages.push({
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

/** Records a channel's onClose / onError and the given events. */
function watchChannel(channel, events = []) {
  const seen = { closes: [], errors: [], events: [] };
  const waiters = new Map();
  const note = (name, entry) => {
    const waiter = waiters.get(name);
    if (waiter) waiter.resolve(entry);
  };
  channel.onClose((payload, ref, joinRef) => {
    const entry = { payload: plain(payload), ref: ref ?? null, join_ref: joinRef ?? null };
    seen.closes.push(entry);
    note("close", entry);
  });
  channel.onError((reason) => {
    const entry = { payload: plain(reason) };
    seen.errors.push(entry);
    note("error", entry);
  });
  for (const name of events) {
    channel.on(name, (payload, ref, joinRef) => {
      const entry = { event: name, payload: plain(payload), ref: ref ?? null, join_ref: joinRef ?? null };
      seen.events.push(entry);
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

// -------------------------------------------------------------------------- scenarios

const SCENARIOS = {
  async join_ok(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:a", { hello: "world" });
    await roundTrip(socket);
    const result = { join: joined, channel: channelView(channel, watch), socket: socketView(log) };
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
    };
    await disconnect(socket);
    return result;
  },

  async leave(endpoint) {
    const { socket, log, opened } = makeSocket(endpoint);
    await opened;
    const { channel, watch, joined } = await join(socket, "echo:leave");
    const left = await outcome(channel.leave(), "leave reply");
    await roundTrip(socket);
    const result = {
      join: joined,
      leave: left,
      channel: channelView(channel, watch),
      frames: log.messages.filter((m) => m.topic === "echo:leave"),
      socket: socketView(log),
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
    };
    await disconnect(socket);
    return result;
  },

  async refused_connect(endpoint) {
    const { socket, log } = makeSocket(endpoint, { token: "bad" });
    const closed = deferred("close after refused connect");
    socket.onClose(() => closed.resolve());
    await closed;
    const result = { connected: socket.isConnected(), socket: socketView(log), messages: log.messages };
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
    const result = { join: joined, after_close: state, reconnected, socket: socketView(log) };
    await disconnect(socket);
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
      SCENARIOS[name](endpoint).catch((err) => {
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
