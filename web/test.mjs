// Unit tests of the pure logic: esbuild compiles test/*.test.ts (node 20 cannot run TypeScript), then Node's
// test runner runs them.
import { build } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";

const outdir = ".test-build";
rmSync(outdir, { recursive: true, force: true });
const entries = readdirSync("test").filter((f) => f.endsWith(".test.ts")).map((f) => `test/${f}`);
await build({
  entryPoints: entries,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outdir,
  outExtension: { ".js": ".mjs" },
  packages: "external",
  logLevel: "warning",
});
const files = entries.map((f) => `${outdir}/${f.slice("test/".length, -".ts".length)}.mjs`);
const res = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
process.exit(res.status ?? 1);
