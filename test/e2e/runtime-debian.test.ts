/**
 * The shipped Debian runtimes, built for real from manifests/runtimes/ with
 * the host's apt sources, and the README's seed examples run on them as Jobs.
 * `npm test` builds python-3.11-ml; `npm run test:runtimes` sets
 * JOBLET_DEBIAN_RUNTIMES=java-17,node-18 for the other two.
 */
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/package-root.js";
import { DaemonLab, job } from "../helpers/daemon-lab.js";
import { requireRoot } from "../helpers/root.js";

const RUNTIMES = (process.env.JOBLET_DEBIAN_RUNTIMES ?? "python-3.11-ml").split(",").filter(Boolean);
const BUILD_TIMEOUT_MS = 15 * 60 * 1000;

/** What each runtime's seed example uploads and runs, and what it must print. */
const EXAMPLES: Record<string, { file: string; text: string; command: string; expect: RegExp }> = {
  "python-3.11-ml": {
    file: "analysis.py",
    text: "import sys, numpy, pandas, sklearn\nfrom sklearn.linear_model import LinearRegression\nx = numpy.arange(10).reshape(-1, 1)\nm = LinearRegression().fit(x, 2 * x.ravel() + 1)\nprint(sys.version_info[:2], round(float(m.coef_[0]), 3), pandas.DataFrame({'a': [1, 2]}).a.sum())\n",
    command: "[python, analysis.py]",
    expect: /^\(3, 11\) 2\.0 3\n$/,
  },
  "java-17": {
    file: "App.java",
    text: 'public class App { public static void main(String[] a) { System.out.println("hello from java " + Runtime.version().feature()); } }\n',
    command: '[bash, -c, "javac App.java && java App"]',
    expect: /^hello from java 17\n$/,
  },
  "node-18": {
    file: "app.js",
    text: "console.log('hello from node', process.versions.node.split('.')[0]);\n",
    command: "[node, app.js]",
    expect: /^hello from node 18\n$/,
  },
};

describe.each(RUNTIMES)("the shipped %s runtime", (name) => {
  const lab = new DaemonLab();
  const example = EXAMPLES[name];

  beforeAll(async () => {
    requireRoot(`the ${name} runtime`);
    if (!example) throw new Error(`JOBLET_DEBIAN_RUNTIMES names '${name}', which has no example here (known: ${Object.keys(EXAMPLES).join(", ")})`);
    await lab.start();
  });
  afterAll(() => lab.cleanup());

  it("builds from Debian packages", async () => {
    copyFileSync(join(packageRoot, "manifests/runtimes", `${name}.yaml`), join(lab.manifests, `${name}.yaml`));
    const started = Date.now();
    const ready = await lab.waitForRuntime(name, (o) => o.status.phase === "Ready" || o.status.phase === "Failed", BUILD_TIMEOUT_MS);
    expect(ready.status.phase, ready.status.message).toBe("Ready");
    const build = ready.status.current!;
    console.log(`${name}: built in ${((Date.now() - started) / 1000).toFixed(1)} s, ${(build.sizeBytes / 1024 ** 2).toFixed(0)} MiB in ${build.files} files`);
    expect(readFileSync(join(build.path, "runtime.yml"), "utf8")).toContain(`name: ${name}`);
  }, BUILD_TIMEOUT_MS + 10_000);

  it("passes its own test command as a job", async () => {
    const test = lab.runtime(name)!.status.current!.config.test!.command;
    lab.write("test.yaml", job("runtime-test", `runtime: ${name}\ncommand: ${JSON.stringify(test)}`));
    const done = await lab.waitFor("runtime-test", (o) => o.status.phase === "Succeeded" || o.status.phase === "Failed", 120_000);
    expect(done.status.phase, lab.log("runtime-test", done.status.run!, "stderr")).toBe("Succeeded");
  }, 130_000);

  it("runs the README's example with an uploaded file", async () => {
    writeFileSync(join(lab.manifests, example!.file), example!.text);
    lab.write("example.yaml", job("example", `runtime: ${name}\nfiles: [{path: ${example!.file}}]\ncommand: ${example!.command}\nresources: {memory: 1Gi}`));
    const done = await lab.waitFor("example", (o) => o.status.phase === "Succeeded" || o.status.phase === "Failed", 120_000);
    expect(done.status.phase, lab.log("example", done.status.run!, "stderr")).toBe("Succeeded");
    expect(lab.log("example", done.status.run!)).toMatch(example!.expect);
  }, 130_000);
});
