/** Says what changed, when the watcher knows; absent means "anything may have changed". */
export interface WatchHint {
  path?: string;
}

/** Stops a watch. `ready` resolves once events are being delivered. */
export interface Closer {
  close(): void | Promise<void>;
  ready?: Promise<void>;
}

/**
 * Where an Informer gets objects from: the manifests directory today, perhaps etcd later.
 * Keys are object identities (`kind/name`), never file paths.
 */
export interface ObjectSource<T> {
  /**
   * Returns every object by key. `changed` lists the paths hinted since the previous call, so
   * a source that caches per file may re-read only those; `undefined` asks for a full re-read.
   */
  list(changed?: ReadonlySet<string>): Promise<Map<string, T>>;
  /** Calls `onChange` whenever the objects may have changed. */
  watch(onChange: (hint?: WatchHint) => void): Closer;
}
