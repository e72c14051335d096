import type { Command } from "commander";
import type { RuntimeSpec } from "../../api/index.js";
import { humanBytes, runtimeVersion } from "../columns.js";
import { conditions, events, quote } from "../describe.js";
import { humanDuration } from "../duration.js";
import { type CliIo, processIo, runVerb } from "../io.js";
import type { ShownObject } from "../objects.js";
import { withBackend } from "../backend.js";
import { type StateOptions, verb } from "../options.js";
import { findRuntime, runtimeStatus, seconds } from "./common.js";

const EXAMPLE = `joblet runtime info python-3.11-ml
joblet runtime info python-3.11-ml@1.3.1`;

/** Who installed a Runtime from a registry (set by `runtime install`). */
export const INSTALLED_FROM = "joblet/installed-from";

/** `joblet runtime info`: one runtime in full, for a human. */
export function runtimeInfoCommand(io: CliIo = processIo()): Command {
  return verb(io, "info", "Show one runtime: version, source, installed build, mounts, environment, test command, progress or failure", EXAMPLE)
    .argument("<name>", "NAME or NAME@VERSION (NAME alone: the Runtime called so, else its highest installed version)")
    .action((ref: string, options: StateOptions) =>
      runVerb(io, async () => {
        const found = await withBackend(options, io, (backend) => findRuntime(backend, ref));
        if (found.name !== ref) io.out.write(`(${ref} is ${found.name})\n`);
        io.out.write(runtimeInfo(found.shown, io.now()));
      }),
    );
}

type Field = [label: string, value: string | undefined];

/** Label: value lines; a value of several lines continues under the first one. */
function fields(list: Field[]): string {
  const shown = list.filter((f): f is [string, string] => f[1] !== undefined && f[1] !== "");
  const width = Math.max(0, ...shown.map(([label]) => label.length)) + 2;
  return shown.map(([label, value]) => `${`${label}:`.padEnd(width)}${value.split("\n").join(`\n${" ".repeat(width)}`)}\n`).join("");
}

function when(timestamp: string | undefined, now: Date): string | undefined {
  const t = timestamp === undefined ? NaN : Date.parse(timestamp);
  return Number.isNaN(t) ? timestamp : `${timestamp} (${humanDuration(now.getTime() - t)} ago)`;
}

/** The spec's source, as the manifest gives it: which kind, and its settings one per line. */
export function sourceLines(source: RuntimeSpec["source"] | undefined): string | undefined {
  if (source === undefined || source === null) return undefined;
  if (source.debian) return [`debian`, `suite: ${source.debian.suite}`, `packages: ${(source.debian.packages ?? []).join(", ") || "(none)"}`].join("\n  ");
  if (source.host) return [`host`, `binaries: ${source.host.binaries.join(", ")}`, ...(source.host.paths?.length ? [`paths: ${source.host.paths.join(", ")}`] : [])].join("\n  ");
  if (source.package) {
    const where = source.package.url !== undefined ? `url: ${source.package.url}` : `path: ${source.package.path ?? "-"}`;
    return [`package`, where, `sha256: ${source.package.sha256}`].join("\n  ");
  }
  if (source.directory) return [`directory`, `path: ${source.directory.path}`].join("\n  ");
  return Object.keys(source).join(", ") || undefined;
}

/** The whole page: what the spec asks for, the installed build, and what the controller last said. */
export function runtimeInfo(shown: ShownObject, now: Date): string {
  const object = shown.object;
  const spec = (object.spec ?? {}) as Partial<RuntimeSpec>;
  const status = runtimeStatus(object);
  const current = status.current;
  const config = current?.config;
  const mounts = (config?.mounts ?? spec.mounts ?? []).map((m) => `${m.source} -> ${m.target}${"readOnly" in m && m.readOnly === false ? " (writable)" : ""}`);
  const environment = Object.entries(config?.environment ?? spec.environment ?? {}).map(([k, v]) => `${k}=${v}`);
  const architectures = config?.requirements?.architectures ?? spec.requirements?.architectures;
  const minMemory = config?.requirements?.minMemoryBytes !== undefined ? humanBytes(config.requirements.minMemoryBytes) : spec.requirements?.minMemory?.toString();
  const requirements = [architectures?.length ? `architectures: ${architectures.join(", ")}` : undefined, minMemory !== undefined ? `memory: at least ${minMemory}` : undefined].filter(Boolean).join("; ");
  const test = config?.test?.command ?? spec.test?.command;
  const progress = status.phase === "Building" ? status.progress : undefined;
  let progressText: string | undefined;
  if (progress !== undefined) {
    const percent = typeof progress.percent === "number" ? ` ${Math.floor(progress.percent)}%` : "";
    const bytes =
      typeof progress.bytes === "number" ? ` (${humanBytes(progress.bytes)}${typeof progress.totalBytes === "number" ? ` of ${humanBytes(progress.totalBytes)}` : ""})` : "";
    progressText = `${progress.phase}${percent}${bytes}, started ${when(progress.startedAt, now) ?? "-"}`;
  }
  let out = fields([
    ["Name", object.metadata.name],
    ["Version", runtimeVersion(object)],
    ["Description", config?.description ?? spec.description],
    ["Phase", shown.hasStatus ? status.phase : "Pending (the daemon has not reported on this runtime yet)"],
    ["Source", sourceLines(spec.source)],
    ["Installed from", object.metadata.annotations?.[INSTALLED_FROM]],
    ["Path", current?.path],
    ["Build", current === undefined ? (shown.hasStatus ? "none installed" : undefined) : `${current.id} (from ${current.source}, generation ${current.generation})`],
    ["Size", current === undefined ? undefined : `${humanBytes(current.sizeBytes)} (${current.sizeBytes} bytes)`],
    ["Files", current?.files?.toString()],
    ["Built at", when(current?.builtAt, now)],
    ["Build time", current === undefined ? undefined : seconds(current.durationMs)],
    ["Mounts", mounts.join("\n")],
    ["Environment", environment.join("\n")],
    ["Requirements", requirements],
    ["Test command", test?.map(quote).join(" ")],
    ["Progress", progressText],
    ["Reason", status.reason],
    ["Message", status.message],
    ["Build log", status.buildLog],
    ["Next attempt", when(status.nextAttemptAt, now)],
  ]);
  out += conditions(object.status, now);
  out += events(object.status, now);
  return out;
}
