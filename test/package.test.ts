/**
 * The package's public entry points, imported by name from the built output (dist/, which `npm test` builds
 * first) as a user would. What is checked is what the modules really export, enumerated at run time.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { projectRoot } from "./utils/vectors.js"

/** Runs an ES module script in the project root (where the package can import itself by name) and parses its JSON output. */
const runScript = (script: string): any =>
  JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: projectRoot, encoding: "utf8" }))

const manifest = JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8"))

describe("package exports", () => {
  it("the entry points are the layers docs/ARCHITECTURE.md names, each with types and an import target", () => {
    expect(Object.keys(manifest.exports).sort()).toEqual([".", "./backend", "./crypto", "./store", "./testing"])
    for (const [entry, targets] of Object.entries<Record<string, string>>(manifest.exports)) {
      const base = entry === "." ? "./dist/index" : `./dist/${entry.slice(2)}/index`
      expect(targets, entry).toEqual({ types: `${base}.d.ts`, import: `${base}.js` })
    }
  })

  it("every entry point imports by package name and holds what the README says it does", () => {
    const entries = Object.keys(manifest.exports).map((entry) => entry === "." ? manifest.name : `${manifest.name}/${entry.slice(2)}`)
    const out = runScript(`
      const names = ${JSON.stringify(entries)}
      const modules = {}
      for (const name of names) modules[name] = await import(name)
      const root = modules["effect-agent-identity"], backend = modules["effect-agent-identity/backend"]
      const testing = modules["effect-agent-identity/testing"], crypto = modules["effect-agent-identity/crypto"]
      console.log(JSON.stringify({
        exported: Object.fromEntries(names.map((name) => [name, Object.keys(modules[name]).length])),
        tags: [root.KeyStore.KeyStore, root.BiscuitMinter.BiscuitMinter, root.AgentRegistry.AgentRegistry, root.TaskRegistry.TaskRegistry,
          root.AssertionSigner.AssertionSigner, root.AuthManager.AuthManager, backend.AssertionVerifier.AssertionVerifier,
          backend.ReferenceBackend.ReferenceBackend].map((t) => t.key),
        rootHasVerifier: "AssertionVerifier" in root,
        kinds: {
          layerAuthManager: typeof testing.layerAuthManager, layerMemory: typeof testing.KeyStore?.layerMemory,
          buildAgentAssertion: typeof crypto.buildAgentAssertion, verifierMake: typeof backend.AssertionVerifier.make,
          authenticate: typeof backend.AssertionVerifier.authenticate, backendLayer: typeof backend.ReferenceBackend.layer,
          start: typeof backend.Server.start
        }
      }))`)
    for (const name of entries) expect(out.exported[name], name).toBeGreaterThan(0)
    expect(out.tags).toEqual([
      "effect-agent-identity/KeyStore",
      "effect-agent-identity/BiscuitMinter",
      "effect-agent-identity/AgentRegistry",
      "effect-agent-identity/TaskRegistry",
      "effect-agent-identity/AssertionSigner",
      "effect-agent-identity/AuthManager",
      "effect-agent-identity/AssertionVerifier",
      "effect-agent-identity/ReferenceBackend"
    ])
    // docs/ARCHITECTURE.md: the root may not import `backend`, so the verifier is reachable through /backend only.
    expect(out.rootHasVerifier).toBe(false)
    expect(Object.values(out.kinds)).toEqual(Object.values(out.kinds).map(() => "function"))
  })

  it("every tagged error the package exports is in the AuthError union, except the verifier's AssertionRejectedError", () => {
    // Tagged error classes are found by enumerating each entry point's exports, namespaces one level down included.
    const out = runScript(`
      const names = ${JSON.stringify(Object.keys(manifest.exports).map((e) => e === "." ? manifest.name : `${manifest.name}/${e.slice(2)}`))}
      const root = await import("effect-agent-identity")
      const isTaggedError = (v) => typeof v === "function" && typeof v._tag === "string" && v.prototype instanceof Error
      const found = new Map()
      for (const name of names) {
        const module = await import(name)
        for (const [key, value] of Object.entries(module)) {
          const candidates = isTaggedError(value) ? [[key, value]] : value !== null && typeof value === "object" ? Object.entries(value) : []
          for (const [k, v] of candidates) if (isTaggedError(v)) found.set(v, name + ":" + k)
        }
      }
      const union = root.AuthError.members
      console.log(JSON.stringify({
        found: [...found.entries()].map(([cls, where]) => ({ tag: cls._tag, where, atRoot: root[cls._tag] === cls })),
        union: union.map((m) => m._tag),
        unionAtRoot: union.every((m) => root[m._tag] === m)
      }))`)
    const tags = out.found.map((e: { tag: string }) => e.tag).sort()
    expect(tags.length).toBeGreaterThan(0)
    expect(new Set(tags).size).toBe(tags.length)
    expect(tags).toEqual([...out.union, "AssertionRejectedError"].sort())
    expect(out.union).not.toContain("AssertionRejectedError")
    expect(out.unionAtRoot).toBe(true)
    for (const entry of out.found) expect(entry.atRoot, entry.where).toBe(true)
    // The README's error list names each of them.
    const readme = readFileSync(path.join(projectRoot, "README.md"), "utf8")
    expect(tags.filter((tag: string) => !readme.includes(`\`${tag}\``))).toEqual([])
  })
})
