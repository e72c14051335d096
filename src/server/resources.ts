/**
 * GET, PUT and DELETE of objects, done exactly as the local verbs do them: GET shows what
 * `joblet get -o json` prints (objects.ts), PUT plans and writes what `joblet apply` would
 * (desired.ts: the same checks, the same .NAME.files/<hash> staging), DELETE removes what
 * `joblet delete` removes. The daemon then converges on the manifests dir as it always does.
 */
import type { IncomingMessage } from "node:http";
import { parseManifest, type Kind, type Manifest } from "../api/index.js";
import { plan, removeDesired, write, type Outcome } from "../cli/desired.js";
import { CliError } from "../cli/io.js";
import { named } from "../cli/kinds.js";
import { getObject, listObjects, readDesired } from "../cli/objects.js";
import type { StateLayout } from "../store/index.js";
import { MIB, readBody } from "./body.js";
import { HttpError } from "./http.js";
import { KeyedLock } from "./keyed-lock.js";
import { bodyFormat, parsePutBody } from "./manifest-body.js";
import { apiObject } from "./streams/index.js";
import { decodeEntries, stageEntries, type StagedUploads } from "./uploads.js";

export const APPLIED_BY = "joblet/applied-by";
/** A bare manifest. */
export const MANIFEST_BODY_CAP = 1 * MIB;
/** A Job's envelope: its manifest and up to 64 MiB of files, base64 (4/3) with room for JSON. */
export const UPLOAD_BODY_CAP = 96 * MIB;

export async function listResource(layout: StateLayout, kind: Kind): Promise<unknown> {
  const items = await listObjects(layout, kind);
  return { apiVersion: "joblet/v1", kind: "List", items: items.map(apiObject) };
}

export async function getResource(layout: StateLayout, kind: Kind, name: string): Promise<unknown> {
  const object = await getObject(layout, kind, name);
  if (object === undefined) throw new HttpError(404, `${named(kind, name)} not found`);
  return apiObject(object);
}

export interface PutRequest {
  layout: StateLayout;
  req: IncomingMessage;
  kind: Kind;
  name: string;
  /** The caller's CN, recorded on the manifest. */
  identity: string;
  dryRun: boolean;
}

// One apply or delete of an object at a time: the staging of its files and the outcome
// reported (created, configured) must not interleave with another's.
const objectLocks = new KeyedLock();

export async function putResource(o: PutRequest): Promise<{ kind: Kind; name: string; outcome: Outcome }> {
  const format = bodyFormat(o.req);
  const body = await readBody(o.req, o.kind === "Job" ? UPLOAD_BODY_CAP : MANIFEST_BODY_CAP);
  const put = parsePutBody(body, format);
  if (put.envelope && o.kind !== "Job") throw new HttpError(400, `Only Jobs take uploaded files: send the ${o.kind}'s manifest alone`);
  if (!put.envelope && body.length > MANIFEST_BODY_CAP) {
    throw new HttpError(413, `The manifest of ${body.length} bytes is larger than the limit of ${MANIFEST_BODY_CAP} bytes (uploads travel in the envelope's files)`);
  }
  const manifest = checkManifest(put.doc, o.kind, o.name);
  manifest.metadata.annotations = { ...manifest.metadata.annotations, [APPLIED_BY]: o.identity };
  const entries = decodeEntries(put.files);
  return objectLocks.run(`${o.kind}/${o.name}`, async () => {
    let staged: StagedUploads | undefined;
    try {
      if (manifest.kind === "Job") staged = await stageEntries(manifest.spec.files ?? [], entries);
      const planned = await plan(o.layout, { kind: o.kind, name: o.name, manifest, uploads: staged?.uploads ?? [] }, `Cannot apply ${named(o.kind, o.name)}`);
      const outcome = o.dryRun ? planned.outcome : await write(o.layout, planned);
      return { kind: o.kind, name: o.name, outcome };
    } catch (e) {
      if (e instanceof CliError) throw new HttpError(422, e.message);
      throw e;
    } finally {
      await staged?.remove();
    }
  });
}

/** The body's manifest, checked as `joblet apply` checks it: 400 when it names another object, 422 when invalid. */
function checkManifest(doc: unknown, kind: Kind, name: string): Manifest {
  if (doc !== null && typeof doc === "object" && !Array.isArray(doc)) {
    const { kind: bodyKind, metadata } = doc as { kind?: unknown; metadata?: { name?: unknown } };
    if (typeof bodyKind === "string" && bodyKind !== kind) throw new HttpError(400, `The body's kind '${bodyKind}' is not the URL's ${kind}`);
    const bodyName = metadata !== null && typeof metadata === "object" ? metadata.name : undefined;
    if (typeof bodyName === "string" && bodyName !== name) throw new HttpError(400, `The body's metadata.name '${bodyName}' is not the URL's '${name}'`);
  }
  const parsed = parseManifest(doc);
  if (!parsed.ok) {
    const [first, ...more] = parsed.errors;
    const sentence = `${first?.message ?? "Invalid manifest"}${more.length > 0 ? ` (and ${more.length} more)` : ""}`;
    throw new HttpError(422, sentence, parsed.errors.map((e) => ({ path: e.field, message: e.message })));
  }
  return parsed.object;
}

export async function deleteResource(layout: StateLayout, kind: Kind, name: string): Promise<{ kind: Kind; name: string; outcome: "deleted" }> {
  return objectLocks.run(`${kind}/${name}`, async () => {
    if (await removeDesired(layout, kind, name)) return { kind, name, outcome: "deleted" as const };
    const elsewhere = (await readDesired(layout, kind)).get(name);
    if (elsewhere !== undefined) {
      throw new HttpError(404, `Cannot delete ${named(kind, name)}: it is defined in ${elsewhere.file}, which joblet apply did not write; remove it there`);
    }
    throw new HttpError(404, `${named(kind, name)} not found`);
  });
}
