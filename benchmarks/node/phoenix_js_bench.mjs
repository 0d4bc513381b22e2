#!/usr/bin/env node
// The phoenix.js contender: the official client (npm "phoenix", over "ws") running the
// benchmarks' scenarios against the load server. Reads one JSON job on stdin (the same
// as benchmarks/_worker.py: {"scenario", "context", "counts", "repeats"}) and prints one
// JSON line: {"runs": [metrics, ...]} or {"error": message, "runs": [...]}.
// Metrics have the same names and units as the Python contenders'.

import { Socket } from "phoenix";
import WebSocket from "ws";
import { readdirSync, readFileSync } from "node:fs";

const now = () => performance.now() / 1000; // seconds
const monotonic = () => Number(process.hrtime.bigint()) / 1e9; // CLOCK_MONOTONIC, as Python's

function percentile(values, q) {
  const ordered = [...values].sort((a, b) => a - b);
  return ordered[Math.max(1, Math.ceil((q / 100) * ordered.length)) - 1];
}

function latency(prefix, seconds, scale) {
  return {
    [`${prefix}_p50`]: percentile(seconds, 50) * scale,
    [`${prefix}_p99`]: percentile(seconds, 99) * scale,
    [`${prefix}_max`]: Math.max(...seconds) * scale,
  };
}

function procStatus(field) {
  const line = readFileSync("/proc/self/status", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line.split(/\s+/)[1]);
}
const rssMb = () => process.memoryUsage().rss / 1048576;
const threads = () => procStatus("Threads");
const fds = () => readdirSync("/proc/self/fd").length;

function withTimeout(promise, ctx, what) {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ctx.timeout * 1000);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

async function blast(ctx, topic, count) {
  const response = await fetch(`${ctx.http_url}/blast`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic, count, shape: "plain" }),
  });
  if (!response.ok) throw new Error(`blast answered ${response.status}`);
  return response.json();
}

const topicName = (ctx, name) => `bench:${name}:${ctx.run_id}`;

// The websocket each Socket opens, so that stopping can wait for its close event:
// disconnect(callback) itself calls back only after polling the socket every 150 ms.
let lastWebSocket = null;
class TrackedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    lastWebSocket = this;
  }
}

/** A connected socket with one joined channel that counts "tick" broadcasts. */
class Endpoint {
  constructor(ctx, topic) {
    this.ctx = ctx;
    this.socket = new Socket(ctx.ws_url.replace(/\/websocket$/, ""), {
      transport: TrackedWebSocket,
    });
    this.channel = this.socket.channel(topic, {});
    this.topic = topic;
    this.seen = 0;
    this.target = 0;
    this.resolve = null;
    this.channel.on("tick", () => {
      this.seen += 1;
      if (this.seen === this.target && this.resolve) this.resolve(now());
    });
  }

  open() {
    this.socket.connect();
    this.ws = lastWebSocket;
    const joined = new Promise((resolve, reject) => {
      this.channel
        .join()
        .receive("ok", resolve)
        .receive("error", (reason) => reject(new Error(`join refused: ${JSON.stringify(reason)}`)))
        .receive("timeout", () => reject(new Error("join timed out")));
    });
    return withTimeout(joined, this.ctx, `the join of ${this.topic}`);
  }

  expect(count) {
    this.seen = 0;
    this.target = count;
    return new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  /** Disconnect; resolves when the websocket has closed. */
  close() {
    const ws = this.ws;
    const closed =
      !ws || ws.readyState === WebSocket.CLOSED
        ? Promise.resolve()
        : new Promise((resolve) => ws.once("close", resolve));
    this.socket.disconnect();
    return closed;
  }
}

async function open(ctx, topic) {
  const endpoint = new Endpoint(ctx, topic);
  await endpoint.open();
  return endpoint;
}

async function receive(ctx, endpoint, count) {
  const done = endpoint.expect(count);
  const t0 = now();
  await blast(ctx, endpoint.topic, count);
  return (await withTimeout(done, ctx, `${count} broadcasts`)) - t0;
}

const scenarios = {
  async inbound(ctx, counts) {
    const endpoint = await open(ctx, topicName(ctx, "inbound"));
    try {
      await receive(ctx, endpoint, Math.min(1000, counts.inbound)); // warm-up
      const started = monotonic();
      const seconds = await receive(ctx, endpoint, counts.inbound);
      return { msgs_per_s: counts.inbound / seconds, started, ended: started + seconds };
    } finally {
      await endpoint.close();
    }
  },

  async push_reply(ctx, counts) {
    const endpoint = await open(ctx, topicName(ctx, "push"));
    try {
      const samples = [];
      for (let i = 0; i < counts.push + 10; i += 1) {
        const t0 = now();
        await new Promise((resolve, reject) => {
          endpoint.channel
            .push("echo", { n: i })
            .receive("ok", resolve)
            .receive("error", reject)
            .receive("timeout", () => reject(new Error("push timed out")));
        });
        samples.push(now() - t0);
      }
      return latency("rtt", samples.slice(10), 1e6);
    } finally {
      await endpoint.close();
    }
  },

  async connect_join(ctx, counts) {
    const topic = topicName(ctx, "connect");
    await (await open(ctx, topic)).close(); // warm-up
    const samples = [];
    for (let i = 0; i < counts.connect; i += 1) {
      const t0 = now();
      const endpoint = await open(ctx, topic);
      samples.push(now() - t0);
      await endpoint.close();
    }
    return latency("connect", samples, 1e3);
  },

  async fanout(ctx, counts) {
    const topic = topicName(ctx, "fanout");
    const threads0 = threads();
    let t0 = now();
    const endpoints = [];
    for (let i = 0; i < counts.sockets; i += 1) endpoints.push(new Endpoint(ctx, topic));
    try {
      for (let start = 0; start < endpoints.length; start += 100) {
        await Promise.all(endpoints.slice(start, start + 100).map((e) => e.open()));
      }
      const metrics = { rss_mb: rssMb(), threads: threads() - threads0, connect_s: now() - t0 };
      const waits = endpoints.map((e) => e.expect(counts.fanout));
      t0 = now();
      await blast(ctx, topic, counts.fanout);
      const ends = await withTimeout(Promise.all(waits), ctx, "every socket's broadcasts");
      metrics.msgs_per_s = (counts.sockets * counts.fanout) / (Math.max(...ends) - t0);
      metrics.peak_rss_mb = procStatus("VmHWM") / 1024;
      return metrics;
    } finally {
      await Promise.all(endpoints.map((e) => e.close()));
    }
  },

  async stop(ctx, counts) {
    const topic = topicName(ctx, "stop");
    await (await open(ctx, topic)).close(); // warm-up
    const samples = [];
    for (let i = 0; i < counts.stops; i += 1) {
      const endpoint = await open(ctx, topic);
      const t0 = now();
      await endpoint.close();
      samples.push(now() - t0);
    }
    const threads0 = threads();
    const fds0 = fds();
    const t0 = now();
    for (let i = 0; i < counts.cycles; i += 1) await (await open(ctx, topic)).close();
    const cycleSeconds = now() - t0;
    await new Promise((resolve) => setTimeout(resolve, 800)); // phoenix.js' 150 ms close polls
    return {
      ...latency("stop", samples, 1e3),
      cycles_per_s: counts.cycles / cycleSeconds,
      leaked_threads: threads() - threads0,
      leaked_fds: fds() - fds0,
    };
  },
};

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const job = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const scenario = scenarios[job.scenario];
  if (!scenario) return { skip: `phoenix.js has no ${job.scenario} scenario` };
  const runs = [];
  for (let index = 0; index < job.repeats; index += 1) {
    const ctx = { ...job.context, run_id: `${job.context.run_id}.${index}` };
    try {
      runs.push(await scenario(ctx, job.counts));
    } catch (error) {
      return { error: String(error && error.stack ? error.stack : error), runs };
    }
  }
  return { runs };
}

main().then(
  (answer) => {
    process.stdout.write(`${JSON.stringify(answer)}\n`);
    process.exit(0);
  },
  (error) => {
    process.stdout.write(`${JSON.stringify({ error: String(error), runs: [] })}\n`);
    process.exit(0);
  },
);
