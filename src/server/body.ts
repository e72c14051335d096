/**
 * Request bodies, read whole but never past a cap: a declared Content-Length over the cap
 * is refused before a byte is read, and a body that grows past it (chunked, or lying about
 * its length) is refused as soon as the count passes the cap. Either way the server closes
 * the connection after the 413, so the rest of the body is never read.
 */
import type { IncomingMessage } from "node:http";
import { HttpError } from "./http.js";

export const MIB = 1024 * 1024;

function tooLarge(cap: number, size?: number): HttpError {
  const what = size === undefined ? "The request body is" : `The request body of ${size} bytes is`;
  return new HttpError(413, `${what} larger than the limit of ${cap} bytes`);
}

export async function readBody(req: IncomingMessage, cap: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > cap) throw tooLarge(cap, Number(declared));
  const chunks: Buffer[] = [];
  let total = 0;
  return new Promise<Buffer>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > cap) {
        cleanup();
        // Unread bytes are left to the socket's close; nothing more is buffered.
        req.pause();
        reject(tooLarge(cap));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, total));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    // A client gone before the end of its body: nobody is left to answer.
    const onClose = () => onError(new Error("The client closed the connection before the end of the request body"));
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}
