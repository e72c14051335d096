/**
 * What every runtime source (debian, host, package, directory) is given to
 * fill a build directory, and how it reports. A source writes only below
 * `dir`: the runtime's root tree in `dir/isolated/`, and, for sources that
 * carry one (package, directory), their `runtime.yml` as `dir/runtime.yml`.
 * The controller renames `dir` into place only when the source succeeded, so
 * a source that fails may leave `dir` half-filled: it is thrown away.
 */

export interface BuildProgress {
  /** What the build is doing now, in a few words: "downloading", "unpacking", "installing packages", "copying", "trimming". */
  phase: string;
  /** Bytes done in this phase, when the phase counts bytes. */
  bytes?: number;
  /** Bytes the phase will reach, when known. */
  totalBytes?: number;
  /** 0-100 over this phase, when known. */
  percent?: number;
}

export interface BuildContext {
  /** An empty directory on the state dir's filesystem to fill. */
  dir: string;
  /** One line of the build log (kept with the runtime, shown on failure). */
  log(line: string): void;
  /** Progress of the current phase; called often, the controller throttles what it writes. */
  progress(p: BuildProgress): void;
  /** Aborted when the Runtime changes or is deleted mid-build: stop, kill children, throw. */
  signal: AbortSignal;
}

/**
 * A source failed because of what it was given (an unknown Debian package, a
 * host binary that does not exist, an archive entry with '..', a checksum
 * mismatch): the message names the field and the value, and retrying the
 * same spec cannot help. Anything else thrown is treated as transient.
 */
export class RuntimeSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RuntimeSourceError";
  }
}
