/**
 * A gzip'd tar read as PackageEntry values. tar-stream parses the headers
 * (ustar, GNU long names, pax); every parser or gzip failure becomes
 * "corrupt package: ...", and a read error of the file itself stays as is.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { extract, type Extract } from "tar-stream";
import { corrupt, unsupportedEntry, type PackageEntry, type ReadOptions } from "./entries.js";

export async function* tarEntries(file: string, options: ReadOptions): AsyncGenerator<PackageEntry> {
  const input = createReadStream(file);
  const gunzip = createGunzip();
  const tar = extract();
  let ioError: Error | undefined;
  input.on("error", (e) => {
    ioError = e;
    tar.destroy(e);
  });
  gunzip.on("error", (e) => tar.destroy(corrupt(new Error(`gzip: ${e.message}`))));
  input.pipe(gunzip);
  let read = 0;
  input.on("data", (chunk) => {
    read += chunk.length;
    options.onArchiveBytes?.(read);
  });
  // tar-stream's extract is a streamx stream: feed it by hand, with backpressure.
  gunzip.on("data", (chunk: Buffer) => {
    if (!tar.write(chunk)) gunzip.pause();
  });
  tar.on("drain", () => gunzip.resume());
  gunzip.on("end", () => tar.end(undefined));

  try {
    for await (const entry of tar) {
      const h = entry.header;
      const path = h.name;
      const base = { path, mode: (h.mode ?? 0o644) & 0o7777, mtime: h.mtime };
      if (h.type === "file" || h.type === "contiguous-file") {
        const body = readable(entry);
        yield { ...base, type: "file", size: h.size ?? 0, body };
        // A body the consumer left alone still has to pass before the next header.
        if (!body.readableEnded) for await (const _ of body);
        continue;
      }
      // Links and directories have no content, but a hostile header may claim some.
      for await (const _ of entry);
      switch (h.type) {
        case "directory":
          yield { ...base, type: "directory", size: 0 };
          break;
        case "symlink":
          yield { ...base, type: "symlink", size: 0, linkTarget: h.linkname ?? "" };
          break;
        case "link":
          yield { ...base, type: "hardlink", size: 0, linkTarget: h.linkname ?? "" };
          break;
        default:
          throw unsupportedEntry(path, h.type ?? "tar entry of an unsupported type");
      }
    }
  } catch (e) {
    throw ioError ?? corrupt(e);
  } finally {
    input.destroy();
    gunzip.destroy();
    tar.destroy();
  }
}

/** A node Readable over a tar-stream (streamx) entry, whose failures read as a corrupt package. */
type TarEntry = Extract extends AsyncIterable<infer E> ? E : never;

function readable(entry: TarEntry): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of entry) yield chunk as Buffer;
    } catch (e) {
      throw corrupt(e);
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}
