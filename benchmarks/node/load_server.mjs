#!/usr/bin/env node
// The benchmarks' load server: just enough of the Phoenix socket protocol, on `ws`.
//
//   node load_server.mjs [host] [port]     (defaults: 127.0.0.1, 0 = any free port)
//
// Prints one JSON line {"port": N} on stdout once it listens, and exits when its
// stdin closes (so it never outlives the harness that started it).
//
// Websocket at /socket/websocket. The serializer follows `vsn`, as a default Phoenix
// endpoint does: "2.0.0" = V2 (JSON arrays [join_ref, ref, topic, event, payload]),
// "1.0.0" or none = V1 (JSON objects {topic, event, payload, ref, join_ref}).
//   phx_join  -> joins the topic, replies {"status": "ok", "response": {}}
//   phx_leave -> replies ok, then phx_close, and leaves
//   heartbeat (topic "phoenix") -> replies ok
//   any other event on a joined topic -> replies ok with the pushed payload (echo)
//   any other event elsewhere -> replies error "unmatched topic"
//
// HTTP control:
//   POST /blast {"topic", "count", "shape": "plain" | "supabase"} sends `count` small
//     broadcasts to every socket joined to `topic`, as fast as it can, and answers
//     {"subscribers", "count", "queued_ms"} once all are handed to the sockets.
//     plain:    event "tick", payload {"n": i}
//     supabase: event "broadcast", payload {"type": "broadcast", "event": "tick",
//               "payload": {"n": i}} (the only broadcasts the `realtime` client accepts)
//   GET /stats -> {"connections", "topics", "frames_in", "frames_out"}

import http from "node:http";
import { WebSocketServer } from "ws";

const HOST = process.argv[2] || "127.0.0.1";
const PORT = Number(process.argv[3] || 0);
const PATH = "/socket/websocket";

const subscribers = new Map(); // topic -> Set<Conn>
const stats = { connections: 0, frames_in: 0, frames_out: 0 };

class Conn {
  constructor(ws, v2) {
    this.ws = ws;
    this.v2 = v2;
    this.joined = new Map(); // topic -> join_ref
  }

  encode(joinRef, ref, topic, event, payload) {
    if (this.v2) return JSON.stringify([joinRef, ref, topic, event, payload]);
    return JSON.stringify({ topic, event, payload, ref }); // V1 sends no join_ref
  }

  send(joinRef, ref, topic, event, payload) {
    stats.frames_out += 1;
    this.ws.send(this.encode(joinRef, ref, topic, event, payload));
  }

  reply(joinRef, ref, topic, status, response) {
    this.send(joinRef, ref, topic, "phx_reply", { status, response });
  }

  join(topic, joinRef) {
    this.joined.set(topic, joinRef);
    let set = subscribers.get(topic);
    if (!set) {
      set = new Set();
      subscribers.set(topic, set);
    }
    set.add(this);
  }

  leave(topic) {
    this.joined.delete(topic);
    const set = subscribers.get(topic);
    if (set) {
      set.delete(this);
      if (set.size === 0) subscribers.delete(topic);
    }
  }

  leaveAll() {
    for (const topic of [...this.joined.keys()]) this.leave(topic);
  }

  received(data, isBinary) {
    stats.frames_in += 1;
    if (isBinary) return; // the benchmarks send text only
    let message;
    try {
      message = JSON.parse(data.toString("utf8"));
    } catch {
      this.ws.close(1003, "bad json");
      return;
    }
    let joinRef, ref, topic, event, payload;
    if (this.v2 && Array.isArray(message)) {
      [joinRef, ref, topic, event, payload] = message;
    } else if (!this.v2 && message && typeof message === "object") {
      ({ join_ref: joinRef = null, ref = null, topic, event, payload } = message);
    } else {
      this.ws.close(1003, "bad message");
      return;
    }
    joinRef = joinRef ?? null;
    ref = ref ?? null;
    if (topic === "phoenix" && event === "heartbeat") {
      this.reply(null, ref, topic, "ok", {});
    } else if (event === "phx_join") {
      this.leave(topic); // a rejoin replaces the earlier channel
      this.join(topic, joinRef ?? ref);
      this.reply(joinRef, ref, topic, "ok", {});
    } else if (!this.joined.has(topic)) {
      this.reply(null, ref, topic, "error", { reason: "unmatched topic" });
    } else if (event === "phx_leave") {
      const current = this.joined.get(topic);
      this.reply(current, ref, topic, "ok", {});
      this.send(current, current, topic, "phx_close", {});
      this.leave(topic);
    } else {
      this.reply(this.joined.get(topic), ref, topic, "ok", payload ?? {});
    }
  }
}

/** The text of broadcast `i` for a V2 or V1 socket, built from two constant halves. */
function framer(topic, shape, v2) {
  const event = shape === "supabase" ? "broadcast" : "tick";
  const marker = -424242; // stands where the counter goes
  const payload =
    shape === "supabase" ? { type: "broadcast", event: "tick", payload: { n: marker } } : { n: marker };
  const text = v2
    ? JSON.stringify([null, null, topic, event, payload])
    : JSON.stringify({ topic, event, payload, ref: null });
  const [head, tail] = text.split(String(marker));
  return (i) => head + i + tail;
}

function blast(topic, count, shape) {
  const started = performance.now();
  const targets = [...(subscribers.get(topic) || [])];
  const v2 = targets.filter((c) => c.v2);
  const v1 = targets.filter((c) => !c.v2);
  const frame2 = framer(topic, shape, true);
  const frame1 = framer(topic, shape, false);
  const options = { binary: false };
  for (let i = 0; i < count; i += 1) {
    if (v2.length) {
      const data = Buffer.from(frame2(i));
      for (const conn of v2) conn.ws.send(data, options);
    }
    if (v1.length) {
      const data = Buffer.from(frame1(i));
      for (const conn of v1) conn.ws.send(data, options);
    }
  }
  stats.frames_out += count * targets.length;
  return { subscribers: targets.length, count, queued_ms: performance.now() - started };
}

function answer(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/stats") {
    answer(res, 200, { ...stats, topics: subscribers.size });
    return;
  }
  if (req.method !== "POST" || req.url !== "/blast") {
    answer(res, 404, { error: "not found" });
    return;
  }
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      answer(res, 400, { error: "bad json" });
      return;
    }
    const count = Number(body.count);
    if (typeof body.topic !== "string" || !Number.isInteger(count) || count < 0) {
      answer(res, 400, { error: "need topic (string) and count (integer >= 0)" });
      return;
    }
    answer(res, 200, blast(body.topic, count, body.shape === "supabase" ? "supabase" : "plain"));
  });
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://load-server");
  const vsn = url.searchParams.get("vsn") || "1.0.0";
  if (url.pathname !== PATH || (vsn !== "2.0.0" && vsn !== "1.0.0")) {
    socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const conn = new Conn(ws, vsn === "2.0.0");
    stats.connections += 1;
    ws.on("message", (data, isBinary) => conn.received(data, isBinary));
    ws.on("close", () => {
      stats.connections -= 1;
      conn.leaveAll();
    });
    ws.on("error", () => conn.leaveAll());
  });
});

server.listen({ port: PORT, host: HOST, backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});

process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
