/**
 * Server-Sent Event streams of the remote API (api.md): `?watch=true` on a kind or an
 * object, and a Job's run output at `/jobs/NAME/log`. The server core routes, checks roles
 * and hands over the request; these handlers write everything from the status line on.
 */
export type { StreamContext } from "./context.js";
export { handleWatch, apiObject } from "./watch.js";
export { handleLogs, RUN_HEADER } from "./logs.js";
