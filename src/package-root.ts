import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** joblet's package root, found from here whether running from src/ (vitest) or dist/src/. */
export const packageRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "binding.gyp"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`Cannot find joblet's package root (binding.gyp) above ${import.meta.url}`);
    dir = parent;
  }
  return dir;
})();
