import { readdir, readFile } from "node:fs/promises";
import yaml from "js-yaml";
import { removeFileDurably, writeFileAtomicSync } from "./atomic-file.js";
import { desiredFile, desiredKindDir, type StateLayout } from "./layout.js";

/**
 * Desired manifests written by `joblet apply`: manifests/<kind-plural>/<name>.yaml.
 *
 * Only the CLI writes here, never the daemon: the manifests dir is the user's (possibly a
 * git checkout that must stay clean), and the daemon only reads it. Files are replaced
 * atomically so the watching daemon never reads half a manifest, and an unchanged manifest
 * is not rewritten so that applying the same file twice wakes nothing.
 */
export class DesiredStore {
  constructor(private readonly layout: StateLayout) {}

  path(kind: string, name: string): string {
    return desiredFile(this.layout, kind, name);
  }

  /** Writes `manifest` as YAML; false when the file already holds exactly that. */
  async write(kind: string, name: string, manifest: unknown): Promise<boolean> {
    return this.writeText(kind, name, toYaml(manifest));
  }

  /** Writes manifest text as given (e.g. to keep the user's comments); false when unchanged. */
  async writeText(kind: string, name: string, text: string): Promise<boolean> {
    const path = this.path(kind, name);
    const current = await readFile(path, "utf8").catch(() => undefined);
    if (current === text) return false;
    writeFileAtomicSync(path, text);
    return true;
  }

  /** Deletes the manifest; false when there was none. */
  async remove(kind: string, name: string): Promise<boolean> {
    return removeFileDurably(this.path(kind, name));
  }

  /** Names that `apply` has written for `kind`, sorted. */
  async list(kind: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(desiredKindDir(this.layout, kind));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    return names
      .filter((n) => n.endsWith(".yaml") && !n.startsWith("."))
      .map((n) => n.slice(0, -".yaml".length))
      .sort();
  }
}

/**
 * YAML that reads back the same under the 1.2 core schema and under 1.1 readers alike:
 * strings such as "yes", "on" or "0755" are quoted, no anchors, no folded long lines.
 */
export function toYaml(value: unknown): string {
  return yaml.dump(value, { schema: yaml.CORE_SCHEMA, noRefs: true, lineWidth: -1, noCompatMode: false });
}
