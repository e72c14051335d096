/**
 * kind: Runtime (issue 5): a language environment built once and given to jobs
 * as their root. The source says where the tree comes from; exactly one kind
 * of source is allowed so that a manifest never means two builds at once.
 */
import { z } from "zod";
import { absolutePath, bytes, checked, envName, nonEmpty, relativePath } from "./fields.js";
import { manifestSchema } from "./meta.js";

const SHA256 = /^[0-9a-f]{64}$/;

const debianSource = z.strictObject({
  suite: nonEmpty("Debian suite, e.g. bookworm; packages come from the host's configured apt sources."),
  packages: z.array(nonEmpty("Debian package name.")).default([]).meta({ description: "Packages installed into the root." }),
});

const hostSource = z.strictObject({
  binaries: z.array(nonEmpty("Host binary (name on PATH or absolute path).")).min(1).meta({
    description: "Host binaries copied with every shared library they load.",
  }),
  paths: z.array(absolutePath("Host file or directory copied as is.")).optional(),
});

const packageSource = checked(
  z.strictObject({
    path: nonEmpty("Package file (.tar.gz or .zip) on this host.").optional(),
    url: checked(z.string(), (url) => (/^https?:\/\/\S+$/.test(url) ? undefined : "must be an http:// or https:// URL"))
      .optional()
      .meta({ description: "HTTP(S) URL of the package; streamed and checked before unpacking." }),
    sha256: checked(z.string(), (sum) => (SHA256.test(sum) ? undefined : "must be 64 lowercase hex digits"))
      .meta({ description: "sha256 of the package file.", pattern: SHA256.source }),
  }),
  (source) => ((source.path === undefined) === (source.url === undefined) ? "must set exactly one of path, url" : undefined),
);

const directorySource = z.strictObject({
  path: absolutePath("Existing runtime directory (runtime.yml + isolated/)."),
});

export const RUNTIME_SOURCES = ["debian", "host", "package", "directory"] as const;

const source = checked(
  z.strictObject({
    debian: debianSource.optional(),
    host: hostSource.optional(),
    package: packageSource.optional(),
    directory: directorySource.optional(),
  }),
  (src) => {
    const set = RUNTIME_SOURCES.filter((key) => src[key] !== undefined);
    if (set.length === 1) return undefined;
    const found = set.length === 0 ? "none" : set.join(", ");
    return `must set exactly one of ${RUNTIME_SOURCES.join(", ")} (found ${found})`;
  },
).meta({ description: "Where the runtime's tree comes from: exactly one of debian, host, package, directory." });

const mount = z.strictObject({
  source: relativePath("Path inside the runtime's isolated/ tree; never a host path."),
  target: absolutePath("Where it appears inside the job."),
  readOnly: z.boolean().default(true).meta({ description: "Runtime files are read-only to jobs unless said otherwise." }),
});

export const runtimeSpecSchema = z.strictObject({
  version: nonEmpty("Version; versions install side by side as NAME@VERSION.").optional(),
  description: z.string().optional(),
  source,
  mounts: z.array(mount).optional(),
  environment: checked(z.record(z.string(), z.string()), (env) => {
    const bad = Object.keys(env).find((key) => envName("").safeParse(key).success === false);
    return bad === undefined ? undefined : `key '${bad}' is not a variable name`;
  })
    .optional()
    .meta({ description: "Variables given to jobs; PATH_PREPEND is put in front of the job's PATH." }),
  requirements: z
    .strictObject({
      architectures: z.array(nonEmpty("Debian architecture name, e.g. amd64, arm64.")).optional(),
      minMemory: bytes("Least memory a job on this runtime needs.").optional(),
    })
    .optional(),
  test: z
    .strictObject({
      command: z.array(z.string()).min(1).meta({ description: "argv run as an isolated job by `joblet runtime test`; exit 0 passes." }),
    })
    .optional(),
});

// Runtime names carry versions and dots (python-3.11-ml), unlike other kinds.
export const runtimeSchema = manifestSchema("Runtime", runtimeSpecSchema, "runtime");

export type RuntimeManifest = z.input<typeof runtimeSchema>;
export type RuntimeManifestWithDefaults = z.output<typeof runtimeSchema>;
export type RuntimeSpec = RuntimeManifest["spec"];
