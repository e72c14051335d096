import { closeSync, readSync } from "node:fs";
import { native } from "./native.js";

/**
 * The pipe a supervisor talks back on: first one line, "ok INIT_PID START" or
 * "error MESSAGE"; then, when the job has ended and its cgroup is gone, the
 * exit record; then EOF. Read without blocking the event loop.
 */
export class SupervisorChannel {
  /** The first line, trimmed; "" when the supervisor died before saying anything. */
  readonly ready: Promise<string>;
  /** Everything after the first line; "" when the supervisor died before the job ended. */
  readonly exitRecord: Promise<string>;

  constructor(fd: number) {
    let text = "";
    let resolveReady!: (line: string) => void;
    this.ready = new Promise((r) => (resolveReady = r));
    this.exitRecord = new Promise((resolveExit) => {
      const buf = Buffer.alloc(65536);
      const onReadable = () => {
        let eof = false;
        for (;;) {
          let n: number;
          try {
            n = readSync(fd, buf, 0, buf.length, null);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "EAGAIN") break;
            n = 0; // a broken pipe ends the conversation like EOF
          }
          if (n === 0) {
            eof = true;
            break;
          }
          text += buf.toString("utf8", 0, n);
        }
        const newline = text.indexOf("\n");
        if (newline >= 0 || eof) resolveReady(newline >= 0 ? text.slice(0, newline).trim() : text.trim());
        if (!eof) {
          new native.ReadableWatch(fd, onReadable);
          return;
        }
        closeSync(fd);
        resolveExit(newline >= 0 ? text.slice(newline + 1) : "");
      };
      new native.ReadableWatch(fd, onReadable);
    });
  }
}
