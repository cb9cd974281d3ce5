// Bundles the app into dist/, which the Go binary embeds (//go:embed all:web/dist).
import { build } from "esbuild";
import { cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";

// Empty dist/ but for its tracked .gitignore, which keeps the directory (and the Go build) in a fresh clone.
mkdirSync("dist", { recursive: true });
for (const name of readdirSync("dist")) {
  if (name !== ".gitignore") rmSync(`dist/${name}`, { recursive: true, force: true });
}
cpSync("public", "dist", { recursive: true });
await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: "es2022",
  outfile: "dist/app.js",
  logLevel: "warning",
});
