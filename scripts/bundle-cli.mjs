// Bundles the CLI into dist/cli.js (+ lazily loaded chunks): one file to load instead of hundreds of
// ESM modules, which is most of a command's start-up time (STACK.md, gotcha 5).
import { build } from "esbuild"
import { rmSync } from "node:fs"

rmSync("dist/cli-chunks", { recursive: true, force: true })
await build({
  entryPoints: { cli: "dist/cli/entry.js" },
  outdir: "dist",
  chunkNames: "cli-chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: false,
  minify: true,
  logLevel: "warning",
  // Native drivers of the optional database stores (`--store`) stay outside: they load their compiled addon
  // from their own folder. pg's optional native binding is never used.
  external: ["better-sqlite3", "pg-native"],
  // Bundled CommonJS dependencies may call require().
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" }
})
