// SSE streams end to end: a real daemon runs real jobs, and clients read, drop and resume
// its watch and log streams as remote CLIs do. Twice: through the HTTPS API server (mutual
// TLS, certificates from `joblet certs init`, a `joblet daemon --listen` process, Jobs put
// by the operator and streams read by the viewer), and with the handlers alone on loopback
// HTTP beside an in-process daemon, where the test can also see the handlers' timers.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { JobObject } from "../helpers/daemon-lab.js";
import { resolveLayout } from "../../src/store/index.js";
import { ApiLab } from "../helpers/api-lab.js";
import { DaemonLab, job } from "../helpers/daemon-lab.js";
import { requireRoot } from "../helpers/root.js";
import { openSse, type SseEvent, type SseOptions, type SseResponse, streamServer } from "../helpers/sse.js";

interface Transport {
  stateDir: string;
  url: string;
  options: SseOptions;
  /** The process serving the streams. */
  serverPid: number;
  /** Puts a Job manifest (spec as YAML lines) where the daemon takes it from. */
  apply(name: string, spec: string): Promise<void>;
  remove(name: string): Promise<void>;
  /** fs.watch handles and timers of the serving process, when it is this one. */
  handles?(): Record<string, number>;
  stop(): Promise<void>;
}

async function overHttps(): Promise<Transport> {
  const api = new ApiLab();
  await api.certsInit();
  await api.start();
  const file = (path: string) => readFileSync(join(api.tlsDir, path));
  const expectOk = (res: { status: number; text: string }) => {
    if (res.status !== 200) throw new Error(`API answered ${res.status}: ${res.text}`);
  };
  return {
    stateDir: api.stateDir,
    url: `https://localhost:${api.port}`,
    options: { tls: { ca: file("ca.crt"), cert: file("clients/viewer.crt"), key: file("clients/viewer.key") } },
    serverPid: pidServing(api.stateDir),
    apply: async (name, spec) => expectOk(await api.put("operator", `/apis/joblet/v1/jobs/${name}`, job(name, spec))),
    remove: async (name) => expectOk(await api.request("operator", "DELETE", `/apis/joblet/v1/jobs/${name}`)),
    stop: () => api.cleanup(),
  };
}

async function inProcess(): Promise<Transport> {
  const lab = new DaemonLab();
  await lab.start();
  const server = await streamServer(resolveLayout({ stateDir: lab.stateDir, manifestsDir: lab.manifests }));
  return {
    stateDir: lab.stateDir,
    url: server.url,
    options: {},
    serverPid: process.pid,
    apply: async (name, spec) => lab.write(`${name}.yaml`, job(name, spec)),
    remove: async (name) => lab.remove(`${name}.yaml`),
    handles: handleCounts,
    stop: async () => {
      await server.close();
      await lab.cleanup();
    },
  };
}

interface Received {
  stdout: Buffer[];
  stderr: Buffer[];
  lastId?: string;
  end?: Record<string, unknown>;
  eof?: boolean;
  ids: string[];
}

/** Reads a log stream's events into `into` until it ends, or until `stopAfter` chunks (then drops the connection). */
async function collect(stream: SseResponse, into: Received, stopAfter = Infinity): Promise<"ended" | "dropped"> {
  let chunks = 0;
  for await (const event of stream.events) {
    if (event.event === "stdout" || event.event === "stderr") {
      into[event.event].push(Buffer.from(event.data, "base64"));
      into.lastId = event.id;
      into.ids.push(event.id!);
      if (++chunks >= stopAfter) {
        stream.close();
        return "dropped";
      }
    } else if (event.event === "end") {
      into.end = JSON.parse(event.data) as Record<string, unknown>;
    } else if (event.event === "eof") {
      into.eof = true;
    }
  }
  return "ended";
}

const received = (): Received => ({ stdout: [], stderr: [], ids: [] });

describe.each([
  ["through the HTTPS API server", overHttps],
  ["on loopback HTTP", inProcess],
])("SSE streams %s", (_, make) => {
  let t: Transport;
  const open: SseResponse[] = [];

  beforeAll(async () => {
    requireRoot("the daemon behind the streams");
    const transport = await make();
    // A run's cgroup is named after its Job and spec, host-wide: a variable of our own makes
    // these specs (and cgroups) differ from those of the other transport and of any other
    // run of this file on the host.
    const token = `${process.pid}-${transport.url}`;
    t = { ...transport, apply: (name, spec) => transport.apply(name, `${spec}\nenv:\n  - name: STREAM_TEST\n    value: "${token}"`) };
  });
  afterEach(() => {
    for (const stream of open.splice(0)) stream.close();
  });
  afterAll(async () => {
    if (t === undefined) return;
    // A stopped daemon leaves its jobs running (by design): stop them first, so no job (or
    // its cgroup, named after Job and run) outlives the test.
    try {
      for (const name of jobNames()) await t.remove(name).catch(() => undefined);
      await until(() => jobNames().length === 0 && runRecords().length === 0);
    } finally {
      await t.stop();
    }
  });

  /** Runs whose records are still there: removal takes them after the run is stopped. */
  function runRecords(): string[] {
    try {
      return readdirSync(join(t.stateDir, "run/jobs"));
    } catch {
      return [];
    }
  }

  function jobNames(): string[] {
    try {
      return readdirSync(join(t.stateDir, "status/jobs")).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));
    } catch {
      return [];
    }
  }

  const finished = (o: { status: { phase: string } }) => o.status.phase === "Succeeded" || o.status.phase === "Failed";
  const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

  async function sse(path: string, headers: Record<string, string> = {}): Promise<SseResponse> {
    const stream = await openSse(`${t.url}${path}`, { ...t.options, headers });
    open.push(stream);
    return stream;
  }

  function status(name: string): JobObject | undefined {
    try {
      return JSON.parse(readFileSync(join(t.stateDir, "status/jobs", `${name}.json`), "utf8")) as JobObject;
    } catch {
      return undefined;
    }
  }

  async function waitFor(name: string, done: (o: JobObject) => boolean): Promise<JobObject> {
    await until(() => {
      const o = status(name);
      return o !== undefined && done(o);
    });
    return status(name)!;
  }

  /** A python Job, once the daemon runs it (or has run it): its run. */
  async function started(name: string, script: string): Promise<string> {
    await t.apply(name, `command: ["python3", "-c", ${JSON.stringify(script)}]`);
    const object = await waitFor(name, (o) => typeof o.status.run === "string");
    return object.status.run!;
  }

  function logPath(name: string, run: string, stream: "stdout" | "stderr"): string {
    return join(t.stateDir, "logs/jobs", name, run, `${stream}.log`);
  }

  function log(name: string, run: string, stream: "stdout" | "stderr" = "stdout"): string {
    return readFileSync(logPath(name, run, stream), "utf8");
  }

  function logSize(name: string, run: string, stream: "stdout" | "stderr"): number {
    try {
      return readFileSync(logPath(name, run, stream)).length;
    } catch {
      return 0;
    }
  }

  describe("log streams", () => {
    it("resumes with Last-Event-ID across dropped connections: exactly the bytes a 10 MB job wrote, history and live", async () => {
      // 10 MB of random bytes in 100 kB writes over about a second, and some stderr between them.
      const run = await started(
        "ten-mb",
        "import os, sys, time\nfor i in range(100):\n  sys.stdout.buffer.write(os.urandom(100000)); sys.stdout.flush()\n  if i % 10 == 0: sys.stderr.write('at %d\\n' % i); sys.stderr.flush()\n  time.sleep(0.01)",
      );
      // Start once there is history to send, then keep dropping: in history, at the switch to live, in live output.
      await until(() => logSize("ten-mb", run, "stdout") > 3_000_000);
      const got = received();
      let connections = 0;
      for (let outcome: string = "dropped"; outcome === "dropped"; ) {
        const stream = await sse(`/apis/joblet/v1/jobs/ten-mb/log?follow=true`, got.lastId ? { "last-event-id": got.lastId } : {});
        expect(stream.status).toBe(200);
        expect(stream.headers["x-joblet-run"]).toBe(run);
        connections++;
        outcome = await collect(stream, got, connections <= 6 ? 7 : Infinity);
      }
      expect(connections).toBe(7);
      const stdout = Buffer.concat(got.stdout);
      const stderr = Buffer.concat(got.stderr);
      expect(stdout.length).toBe(10_000_000);
      expect(sha256(stdout)).toBe(sha256(readFileSync(logPath("ten-mb", run, "stdout"))));
      expect(stderr.toString()).toBe(log("ten-mb", run, "stderr"));
      expect(got.lastId).toBe(`10000000,${stderr.length}`);
      expect(got.end).toEqual({ run, phase: "Succeeded", exitCode: 0 });
      // Every id is the pair of offsets after its chunk: strictly growing, never repeating.
      const totals = got.ids.map((id) => id.split(",").map(Number).reduce((a, b) => a + b));
      expect(totals).toEqual([...totals].sort((a, b) => a - b));
      expect(new Set(totals).size).toBe(totals.length);
    });

    it("gives each of 100 concurrent followers of a chatty job every byte", async () => {
      const run = await started(
        "chatty",
        "import sys, time\ntime.sleep(0.5)\nfor i in range(30000):\n  print('line %d of a chatty job, with some padding to make it longer' % i, flush=(i % 50 == 0))\n  if i % 1000 == 0: time.sleep(0.02)",
      );
      const followers = await Promise.all(Array.from({ length: 100 }, () => sse(`/apis/joblet/v1/jobs/chatty/log?follow=true&stream=stdout`)));
      const results = await Promise.all(
        followers.map(async (stream) => {
          const got = received();
          await collect(stream, got);
          return got;
        }),
      );
      const expected = sha256(readFileSync(logPath("chatty", run, "stdout")));
      for (const got of results) {
        expect(sha256(Buffer.concat(got.stdout))).toBe(expected);
        expect(got.end).toMatchObject({ run, phase: "Succeeded" });
      }
      expect(Buffer.concat(results[0]!.stdout).toString().split("\n")).toHaveLength(30001);
    });

    it("sends the last N lines with tail on a first connect, and ignores tail when resuming", async () => {
      const run = await started("lines", "for i in range(1, 101): print(i)");
      await waitFor("lines", finished);
      const tailed = received();
      await collect(await sse(`/apis/joblet/v1/jobs/lines/log?tail=3&stream=stdout`), tailed);
      expect(Buffer.concat(tailed.stdout).toString()).toBe("98\n99\n100\n");
      expect(tailed.lastId).toBe(String(log("lines", run).length));
      const resumed = received();
      await collect(await sse(`/apis/joblet/v1/jobs/lines/log?tail=3&stream=stdout`, { "last-event-id": "5" }), resumed);
      expect(Buffer.concat(resumed.stdout).toString()).toBe(log("lines", run).slice(5));
      const none = received();
      await collect(await sse(`/apis/joblet/v1/jobs/lines/log?tail=0`), none);
      expect(none.stdout).toEqual([]);
      expect(none.end).toMatchObject({ run, phase: "Succeeded" });
    });

    it("sends one stream alone with stream=stdout or stream=stderr, its ids single offsets", async () => {
      const run = await started("both", "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)");
      await waitFor("both", finished);
      const out = received();
      await collect(await sse(`/apis/joblet/v1/jobs/both/log?stream=stdout`), out);
      expect(Buffer.concat(out.stdout).toString()).toBe("to stdout\n");
      expect(out.stderr).toEqual([]);
      expect(out.ids).toEqual(["10"]);
      const err = received();
      await collect(await sse(`/apis/joblet/v1/jobs/both/log?stream=stderr&run=${run}`), err);
      expect(Buffer.concat(err.stderr).toString()).toBe("to stderr\n");
      expect(err.stdout).toEqual([]);
      expect(err.ids).toEqual(["10"]);
    });

    it("ends with the run's outcome, and without follow ends a running job's history with eof", async () => {
      await started("fails", "import sys\nprint('bye')\nsys.exit(3)");
      const failed = await waitFor("fails", finished);
      const got = received();
      await collect(await sse(`/apis/joblet/v1/jobs/fails/log`), got);
      expect(got.end).toEqual({ run: failed.status.run, phase: "Failed", exitCode: 3, reason: "Error" });

      const run = await started("sleeper", "import time\nprint('awake', flush=True)\ntime.sleep(30)");
      await until(() => logSize("sleeper", run, "stdout") > 0);
      const history = received();
      await collect(await sse(`/apis/joblet/v1/jobs/sleeper/log?follow=false`), history);
      expect(Buffer.concat(history.stdout).toString()).toBe("awake\n");
      expect(history.eof).toBe(true);
      expect(history.end).toBeUndefined();
      // Following it: the run is stopped when the Job is suspended, and the stream ends with that.
      const follower = await sse(`/apis/joblet/v1/jobs/sleeper/log?follow=true`, { "last-event-id": history.lastId! });
      const live = received();
      const ending = collect(follower, live);
      await t.apply("sleeper", `command: ["python3", "-c", "import time; time.sleep(30)"]\nsuspend: true`);
      await ending;
      expect(live.stdout).toEqual([]);
      expect(live.end).toMatchObject({ run, phase: "Failed", signal: "SIGTERM" });
      await t.remove("sleeper");
    });

    it("ends a follower's stream when its Job is deleted, after everything the run wrote", async () => {
      const run = await started("doomed", "import time\nprint('last words', flush=True)\ntime.sleep(30)");
      await until(() => logSize("doomed", run, "stdout") > 0);
      const got = received();
      const ending = collect(await sse(`/apis/joblet/v1/jobs/doomed/log?follow=true`), got);
      await until(() => got.stdout.length > 0);
      await t.remove("doomed");
      await ending;
      expect(Buffer.concat(got.stdout).toString()).toBe("last words\n");
      // The exit record goes with the Job: whether the stream saw it first is a race.
      expect([{ run, phase: "Failed", signal: "SIGTERM" }, { run, phase: "Unknown", reason: "JobDeleted" }]).toContainEqual(got.end);
    });

    it("waits with follow for the first run of a Job that has none yet", async () => {
      await t.apply("later", 'command: ["echo", "finally"]\nsuspend: true');
      await waitFor("later", (o) => o.status.conditions.some((c) => c.type === "Suspended"));
      const pending = sse(`/apis/joblet/v1/jobs/later/log?follow=true`);
      await new Promise((r) => setTimeout(r, 300));
      await t.apply("later", 'command: ["echo", "finally"]');
      const stream = await pending;
      const got = received();
      await collect(stream, got);
      const run = status("later")!.status.run!;
      expect(stream.headers["x-joblet-run"]).toBe(run);
      expect(Buffer.concat(got.stdout).toString()).toBe("finally\n");
      expect(got.end).toMatchObject({ run, phase: "Succeeded", exitCode: 0 });
    });

    it("answers 404 for an unknown Job or run and 400 for a bad query or Last-Event-ID, as JSON", async () => {
      await started("known", "print('x')");
      await waitFor("known", finished);
      const cases: [string, Record<string, string>, number, RegExp][] = [
        ["/apis/joblet/v1/jobs/nobody/log", {}, 404, /^Job 'nobody' not found$/],
        ["/apis/joblet/v1/jobs/known/log?run=g1-9", {}, 404, /^Job 'known' has no run 'g1-9'$/],
        ["/apis/joblet/v1/jobs/known/log?stream=both", {}, 400, /stream 'both'/],
        ["/apis/joblet/v1/jobs/known/log?follow=yes", {}, 400, /follow 'yes'/],
        ["/apis/joblet/v1/jobs/known/log?tail=ten", {}, 400, /tail 'ten'/],
        ["/apis/joblet/v1/jobs/known/log?run=..", {}, 400, /Run '\.\.'/],
        ["/apis/joblet/v1/jobs/known/log?lines=5", {}, 400, /^Unknown query parameter 'lines' \(known: follow, tail, stream, run\)$/],
        ["/apis/joblet/v1/jobs/known/log", { "last-event-id": "5" }, 400, /Last-Event-ID '5'.*stream=all/],
        ["/apis/joblet/v1/jobs/known/log?stream=stdout", { "last-event-id": "99" }, 400, /past the end of stdout \(2 bytes\)/],
        ["/apis/joblet/v1/jobs/nobody?watch=true", {}, 404, /^Job 'nobody' not found$/],
        ["/apis/joblet/v1/jobs/.hidden/log", {}, 400, /'\.hidden'/],
        ["/apis/joblet/v1/jobs/.hidden?watch=true", {}, 400, /'\.hidden'/],
      ];
      for (const [path, headers, code, message] of cases) {
        const answer = await sse(path, headers);
        expect({ path, code: answer.status }).toEqual({ path, code });
        expect(answer.headers["content-type"]).toBe("application/json");
        expect(JSON.parse(answer.body!).error).toMatch(message);
      }
      const pending = await waitFor("known", finished);
      expect(pending.status.run).toBeDefined();
    });
  });

  describe("watch streams", () => {
    it("sees a Job created, modified and deleted, in order, with no event for an unchanged object", async () => {
      const stream = await sse(`/apis/joblet/v1/jobs?watch=true`);
      const events: SseEvent[] = [];
      const reading = (async () => {
        for await (const event of stream.events) if (event.event !== ":") events.push(event);
      })();
      await until(() => events.length >= 1); // the jobs of the tests before
      const before = events.length;
      const names = events.map((e) => (JSON.parse(e.data) as { metadata: { name: string } }).metadata.name);
      expect(names).toEqual([...names].sort());
      expect(events.every((e) => e.event === "ADDED")).toBe(true);

      await t.apply("watched", 'command: ["sleep", "0.5"]');
      await waitFor("watched", finished);
      await t.remove("watched");
      await until(() => events.some((e) => e.event === "DELETED" && e.data.includes('"name":"watched"')));
      stream.close();
      await reading;
      const mine = events.slice(before).map((e) => ({ event: e.event, object: JSON.parse(e.data) as { metadata: { name: string }; status: { phase: string }; seen?: string } }));
      expect(mine.every((e) => e.object.metadata.name === "watched")).toBe(true);
      expect(mine[0]).toMatchObject({ event: "ADDED" });
      expect(mine.at(-1)!.event).toBe("DELETED");
      // Pending (the manifest, not yet reported) may be over before the stream looks: the phases move forward.
      const order = ["Pending", "Running", "Succeeded"];
      const phases = mine.map((e) => order.indexOf(e.object.status.phase));
      expect(phases.every((p) => p >= 0)).toBe(true);
      expect(phases).toEqual([...phases].sort());
      expect(mine.map((e) => e.event)).toContain("MODIFIED");
      expect(mine.at(-2)).toMatchObject({ event: "MODIFIED", object: { status: { phase: "Succeeded" } } });
      expect(mine.slice(1, -1).every((e) => e.event === "MODIFIED")).toBe(true);
      // Content differs from each event to the next (seen aside): no duplicate MODIFIED.
      const bodies = mine.map((e) => JSON.stringify({ ...e.object, seen: undefined }));
      for (let i = 1; i < bodies.length - 1; i++) expect(bodies[i]).not.toBe(bodies[i - 1]);
      expect(typeof mine[0]!.object.seen).toBe("string");
    });

    it("watches one object by name, first as it is, then its changes only", async () => {
      await t.apply("one", 'command: ["sleep", "0.2"]');
      await t.apply("other", 'command: ["sleep", "0.2"]');
      await waitFor("one", finished);
      const stream = await sse(`/apis/joblet/v1/jobs/one?watch=true`);
      const events: SseEvent[] = [];
      const reading = (async () => {
        for await (const event of stream.events) if (event.event !== ":") events.push(event);
      })();
      await until(() => events.length >= 1);
      await t.remove("one");
      await t.remove("other");
      await until(() => events.some((e) => e.event === "DELETED"));
      stream.close();
      await reading;
      expect(events[0]!.event).toBe("ADDED");
      expect(events.every((e) => e.data.includes('"name":"one"'))).toBe(true);
    });
  });

  describe("resources", () => {
    it("leaves no file descriptor, watcher or timer behind when followers and watchers disconnect", async () => {
      const run = await started("idle", "import time\nprint('idle', flush=True)\ntime.sleep(60)");
      await until(() => logSize("idle", run, "stdout") > 0);
      await settleDown();
      const fds = fdCount(t.serverPid);
      const watches = inotifyWatches(t.serverPid);
      const resources = t.handles?.();
      const streams = await Promise.all([
        ...Array.from({ length: 20 }, () => sse(`/apis/joblet/v1/jobs/idle/log?follow=true`)),
        ...Array.from({ length: 5 }, () => sse(`/apis/joblet/v1/jobs?watch=true`)),
      ]);
      await new Promise((r) => setTimeout(r, 300)); // all streaming, files open and watched
      expect(fdCount(t.serverPid)).toBeGreaterThan(fds + 20);
      expect(inotifyWatches(t.serverPid)).toBeGreaterThan(watches);
      for (const stream of streams) stream.close();
      await until(() => fdCount(t.serverPid) <= fds);
      await settleDown();
      expect(fdCount(t.serverPid)).toBe(fds);
      expect(inotifyWatches(t.serverPid)).toBe(watches);
      expect(t.handles?.()).toEqual(resources);
      await t.remove("idle");
    });

    it("sends a keepalive comment every 15 s while following a quiet run, and streams past the request timeout", async () => {
      // Over HTTPS, quiet past the server's 30 s request timeout: the stream is not cut.
      const quietSeconds = t.options.tls ? 32 : 16;
      const run = await started("quiet", `import time\ntime.sleep(${quietSeconds})\nprint('late')`);
      const stream = await sse(`/apis/joblet/v1/jobs/quiet/log?follow=true`);
      const began = Date.now();
      const events: (SseEvent & { at: number })[] = [];
      for await (const event of stream.events) {
        events.push({ ...event, at: Date.now() - began });
        if (event.event === "end") break;
      }
      const comments = events.filter((e) => e.event === ":");
      expect(comments.length).toBe(Math.floor(quietSeconds / 15));
      comments.forEach((c, i) => {
        expect(c.data).toBe("keepalive");
        expect(c.at).toBeGreaterThan((i + 1) * 15_000 - 1_000);
      });
      expect(events.filter((e) => e.event === "stdout").map((e) => Buffer.from(e.data, "base64").toString())).toEqual(["late\n"]);
      expect(events.at(-1)!.data).toContain(run);
    }, 50_000);
  });
});

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** fs.watch watches of a process: libuv's inotify instance lists one line per watch. */
function inotifyWatches(pid: number): number {
  let watches = 0;
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      watches += readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8").split("\n").filter((l) => l.startsWith("inotify wd:")).length;
    } catch {
      // closed meanwhile
    }
  }
  return watches;
}

/** The `joblet daemon` process started over `stateDir`. */
function pidServing(stateDir: string): number {
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (argv.includes("daemon") && argv.includes(stateDir)) return Number(pid);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`No joblet daemon process over ${stateDir}`);
}

/** fs.watch handles, timers and sockets of this process, by type. */
function handleCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) if (type !== "FSReqPromise" && type !== "FSReqCallback") counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

async function settleDown(): Promise<void> {
  await new Promise((r) => setTimeout(r, 500));
}

async function until(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${check.toString()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
