/**
 * The layering of docs/ARCHITECTURE.md, enforced: every relative import in src/ (static, type-only or
 * dynamic) must stay inside its own layer or go to one the table allows.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(__dirname, "..")
const src = path.join(root, "src")

/** The table of docs/ARCHITECTURE.md: layer → the layers it may import. */
export const readRules = (markdown: string): ReadonlyMap<string, ReadonlySet<string>> => {
  const rules = new Map<string, ReadonlySet<string>>()
  for (const line of markdown.split("\n")) {
    const cells = line.split("|").map((c) => c.trim())
    const name = /^`([^`]+)`$/.exec(cells[1] ?? "")?.[1]
    if (name === undefined || cells.length < 5) continue
    const allowed = cells[3]!
    const named = [...allowed.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)
    const layers = new Set<string>(allowed.includes("everything") ? ["*"] : named)
    if (allowed.includes("excepted")) {
      layers.clear()
      layers.add("*")
      for (const excluded of named) layers.add(`!${excluded}`)
    }
    rules.set(name, layers)
  }
  return rules
}

const walk = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(path.join(dir, entry.name)) : entry.name.endsWith(".ts") ? [path.join(dir, entry.name)] : []
  )

const layerOf = (file: string): string => {
  const relative = path.relative(src, file)
  return relative.includes(path.sep) ? relative.split(path.sep)[0]! : "(root)"
}

/** Relative module specifiers of a source text: `from "…"`, `import "…"` and `import("…")`. */
export const importsOf = (text: string): Array<string> =>
  [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]!)

const allows = (rules: ReadonlySet<string>, target: string) =>
  rules.has(target) || (rules.has("*") && !rules.has(`!${target}`))

/** Every forbidden import in src/, as `file → target`. */
const violations = (rules: ReadonlyMap<string, ReadonlySet<string>>) =>
  walk(src).flatMap((file) => {
    const from = layerOf(file)
    const allowed = rules.get(from)
    if (allowed === undefined) return [`${path.relative(root, file)}: layer ${from} is not in docs/ARCHITECTURE.md`]
    return importsOf(fs.readFileSync(file, "utf8")).flatMap((specifier) => {
      const to = layerOf(path.resolve(path.dirname(file), specifier))
      return to === from || allows(allowed, to) ? [] : [`${path.relative(root, file)} → ${specifier} (${from} may not import ${to})`]
    })
  })

/**
 * Every module specifier a source text loads statically: value imports and re-exports (`import type`,
 * `export type` and `import(…)` left out).
 */
const staticImportsOf = (text: string): Array<string> =>
  [...text.matchAll(/^(?:import\s+["']([^"']+)["']|(?:import|export)\s+(?!type\b)[^"';]*?\bfrom\s*["']([^"']+)["'])/gm)]
    .map((m) => (m[1] ?? m[2])!)

/** The package modules loaded, statically, by a source file and the files of ours it loads. */
const staticClosure = (entry: string): { readonly files: ReadonlySet<string>; readonly packages: ReadonlySet<string> } => {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = (file: string) => {
    if (files.has(file)) return
    files.add(file)
    for (const specifier of staticImportsOf(fs.readFileSync(file, "utf8"))) {
      if (specifier.startsWith(".")) visit(path.resolve(path.dirname(file), specifier).replace(/\.js$/, ".ts"))
      else packages.add(specifier)
    }
  }
  visit(entry)
  return { files, packages }
}

/** What the header fast path may load of `effect` (docs/ARCHITECTURE.md, "The header fast path"). */
const FAST_PATH_EFFECT = new Set(["effect/Either", "effect/Option", "effect/Redacted", "effect/Function"])

describe("architecture", () => {
  const rules = readRules(fs.readFileSync(path.join(root, "docs/ARCHITECTURE.md"), "utf8"))

  it("the table names every folder of src/", () => {
    const folders = fs.readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()
    expect([...rules.keys()].filter((k) => k !== "(root)").sort()).toEqual(folders)
    expect(rules.get("crypto")).toEqual(new Set())
    expect(rules.get("backend")).toEqual(new Set(["Domain", "crypto"]))
  })

  it("no file imports a layer its own may not", () => {
    expect(violations(rules)).toEqual([])
  })

  it("nothing outside the test kit imports it", () => {
    const offenders = walk(src).filter((file) => layerOf(file) !== "testing").filter((file) =>
      importsOf(fs.readFileSync(file, "utf8")).some((s) => layerOf(path.resolve(path.dirname(file), s)) === "testing")
    )
    expect(offenders).toEqual([])
  })

  it("the CLI's entry loads, before the full CLI, no Effect runtime and no Schema", () => {
    const { files, packages } = staticClosure(path.join(src, "cli", "entry.ts"))
    const refused = [...packages].filter((p) =>
      !p.startsWith("node:") && !p.startsWith("@noble/") && !FAST_PATH_EFFECT.has(p)
    )
    expect(refused).toEqual([])
    // The fast path is in it, and the full CLI is not (it is loaded with import(), only when needed).
    expect(files.has(path.join(src, "cli", "fastHeader.ts"))).toBe(true)
    expect(files.has(path.join(src, "cli", "main.ts"))).toBe(false)
    // The walk sees what a module imports: the full CLI would bring the runtime.
    expect([...staticClosure(path.join(src, "cli", "main.ts")).packages]).toContain("effect/Effect")
    expect(staticImportsOf(
      `import type { A } from "effect/Schema"\nimport * as E from "effect/Either"\nimport "./x.js"\n` +
        `export { b } from "./b.js"\nexport type { C } from "./c.js"\nconst m = await import("./m.js")`
    )).toEqual(["effect/Either", "./x.js", "./b.js"])
  })

  it("catches a forbidden import, static or dynamic", () => {
    expect(importsOf(`import { x } from "../services/KeyStore.js"\nconst m = await import("../cli/app.js")\nimport type { Y } from "./a.js"`))
      .toEqual(["../services/KeyStore.js", "../cli/app.js", "./a.js"])
    const strict = new Map([["crypto", new Set<string>()], ["Domain", new Set(["crypto"])]])
    expect(allows(strict.get("Domain")!, "crypto")).toBe(true)
    expect(allows(strict.get("Domain")!, "services")).toBe(false)
    expect(allows(new Set(["*", "!testing"]), "testing")).toBe(false)
    expect(allows(new Set(["*", "!testing"]), "manager")).toBe(true)
  })
})
