/**
 * A PUT's body: one manifest as JSON or YAML, or for a Job with uploads the JSON envelope
 * `{"manifest": {...}, "files": [...]}`. Parse errors come back as 400 with the parser's
 * reason and position; checking the manifest itself is left to the apply path.
 */
import type { IncomingMessage } from "node:http";
import { describeManifestError, isManifestError, readManifestString } from "../store/index.js";
import { HttpError } from "./http.js";

export interface PutBody {
  /** The document, unchecked. */
  doc: unknown;
  /** The envelope's `files`, unchecked; undefined when the body is a bare manifest. */
  files?: unknown;
  envelope: boolean;
}

const FORMATS: Record<string, "json" | "yaml"> = {
  "application/json": "json",
  "application/yaml": "yaml",
  "application/x-yaml": "yaml",
  "text/yaml": "yaml",
};

/** json or yaml from Content-Type; YAML (which reads JSON too) when none is given. */
export function bodyFormat(req: IncomingMessage): "json" | "yaml" {
  const header = req.headers["content-type"];
  if (header === undefined) return "yaml";
  const type = header.split(";")[0]!.trim().toLowerCase();
  const format = FORMATS[type];
  if (format === undefined) throw new HttpError(415, `Content-Type '${type}' is not application/json or application/yaml`);
  return format;
}

export function parsePutBody(body: Buffer, format: "json" | "yaml"): PutBody {
  const text = body.toString("utf8");
  if (text.trim() === "") throw new HttpError(400, "The request body is empty: send one manifest");
  const parsed = readManifestString(text, { file: "request body", format });
  if (isManifestError(parsed)) throw new HttpError(400, `Malformed ${format === "json" ? "JSON" : "YAML"}: ${describeManifestError(parsed)}`);
  if (parsed.documents.length !== 1) throw new HttpError(400, `The request body holds ${parsed.documents.length} documents; PUT takes one manifest`);
  // A List of one is expanded by the reader; PUT names one object, so only a bare document counts.
  if (parsed.documents[0]!.source.prefix.length > 0) throw new HttpError(400, "The request body is a List; PUT takes one manifest");
  const doc = parsed.documents[0]!.doc;
  if (doc !== null && typeof doc === "object" && !Array.isArray(doc) && "manifest" in doc) {
    const { manifest, files, ...rest } = doc as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw new HttpError(400, `${extra} is not a known field of the upload envelope (manifest, files)`);
    return { doc: manifest, files, envelope: true };
  }
  return { doc, envelope: false };
}
