/**
 * Promise 6: broken auth.json files (1,000 in the full profile) (truncated JSON, wrong types, huge strings, deep nesting, a
 * BOM, duplicate keys): each gives a tagged error; no crash, no write, no temp file left.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as AssertionSigner from "../../src/services/AssertionSigner.js"
import * as AuthManager from "../../src/manager/AuthManager.js"
import * as Identity from "../../src/manager/Identity.js"
import * as Config from "../../src/Domain/Settings.js"
import * as KeyStore from "../../src/services/KeyStore.js"
import { chatgptAuthDocument, FakeBackend, layerFakeBackend } from "../../src/testing/index.js"
import { counts, report, timeout } from "../utils/profile.js"

const CASES = counts.authFuzzCases
const home = fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-fuzz-"))
afterAll(() => fs.rmSync(home, { recursive: true, force: true }))
const file = path.join(home, "auth.json")

const valid = chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })
const validText = JSON.stringify(valid, null, 2)
const deep = (depth: number, leaf: string) => "[".repeat(depth) + leaf + "]".repeat(depth)

/** Broken files, by kind. Every one must be refused. */
const broken = fc.oneof(
  // Truncated JSON: any proper prefix of a valid file.
  fc.integer({ min: 0, max: validText.length - 1 }).map((n) => ({ kind: "truncated", text: validText.slice(0, n) })),
  // Wrong types at the paths we read.
  fc.tuple(
    fc.constantFrom("tokens", "tokens.access_token", "tokens.id_token", "tokens.account_id"),
    fc.oneof(fc.integer(), fc.boolean(), fc.constant([]), fc.constant({ nested: true }))
  ).map(([at, value]) => {
    const doc = structuredClone(valid) as Record<string, any>
    if (at === "tokens") doc["tokens"] = value
    else doc["tokens"][at.split(".")[1]!] = value
    return { kind: "wrong type", text: JSON.stringify(doc, null, 2) }
  }),
  // Huge strings where a JWT or a JSON object should be.
  fc.integer({ min: 100_000, max: 2_000_000 }).map((n) => {
    const doc = structuredClone(valid) as Record<string, any>
    doc["tokens"]["id_token"] = "x".repeat(n)
    return { kind: "huge string", text: JSON.stringify(doc) }
  }),
  // Deep nesting, as the whole file or inside tokens.
  fc.integer({ min: 1_000, max: 100_000 }).map((n) => ({ kind: "deep nesting", text: `{"tokens": ${deep(n, "1")}}` })),
  fc.integer({ min: 10, max: 200_000 }).map((n) => ({ kind: "deep nesting", text: deep(n, "{}") })),
  // A byte-order mark before a valid file.
  fc.constant({ kind: "BOM", text: "\uFEFF" + validText }),
  // Duplicate keys, at the top or inside tokens.
  fc.constantFrom("tokens", "auth_mode", "OPENAI_API_KEY").map((key) => ({
    kind: "duplicate key",
    text: validText.replace("{", `{\n  "${key}": null,`)
  })),
  fc.constant({ kind: "duplicate key", text: validText.replace('"tokens": {', '"tokens": {\n    "access_token": "x",') }),
  // Not JSON at all, or not an object.
  fc.oneof(fc.string({ maxLength: 50 }), fc.constantFrom("[]", "null", "42", "\"text\"", "true", "{,}", "{'a':1}"))
    .filter((text) => {
      try {
        const v = JSON.parse(text)
        return typeof v !== "object" || v === null || Array.isArray(v)
      } catch {
        return true
      }
    })
    .map((text) => ({ kind: "not an object", text }))
)

const layer = AuthManager.layer.pipe(
  Layer.provideMerge(Identity.layer),
  Layer.provideMerge(layerFakeBackend()),
  Layer.provideMerge(Layer.mergeAll(
    AssertionSigner.layer,
    Config.layer(),
    KeyStore.layerFile({ codexHome: home, unparseableRetries: 0 }).pipe(Layer.provide(NodeFileSystem.layer))
  ))
)

describe("fuzzed auth.json (promise 6)", () => {
  it.effect(`${CASES} broken files: ${CASES} tagged errors, 0 crashes, 0 writes`, () =>
    Effect.gen(function*() {
      const cases = fc.sample(broken, { numRuns: CASES, seed: 6 })
      const kinds: Record<string, number> = {}
      let tagged = 0
      let writes = 0
      let crashes = 0
      const auth = yield* AuthManager.AuthManager
      for (const c of cases) {
        kinds[c.kind] = (kinds[c.kind] ?? 0) + 1
        fs.writeFileSync(file, c.text)
        const before = fs.readFileSync(file)
        const exit = yield* Effect.exit(auth.ensureIdentity)
        if (Exit.isFailure(exit)) {
          const failure = Cause.failureOption(exit.cause)
          if (Option.exists(failure, (f) => f._tag === "KeyStoreError")) tagged++
          else crashes++
        }
        if (!fs.readFileSync(file).equals(before) || fs.readdirSync(home).some((n) => n.endsWith(".tmp"))) writes++
      }
      const calls = yield* (yield* FakeBackend).calls
      report(
        `fuzzed auth.json: ${cases.length} cases (${Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(", ")}) -> ` +
          `${tagged} KeyStoreErrors, ${crashes} other outcomes, ${writes} writes, ${calls.registrations.length} registrations`
      )
      // Every kind of damage was tried, whatever the count.
      expect(Object.keys(kinds).sort()).toEqual(["BOM", "deep nesting", "duplicate key", "huge string", "not an object", "truncated", "wrong type"])
      expect(tagged).toBe(cases.length)
      expect(crashes).toBe(0)
      expect(writes).toBe(0)
      expect(calls.registrations.length).toBe(0)
    }).pipe(Effect.provide(layer)), timeout(120_000, 600_000))
})
