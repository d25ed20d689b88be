/** The file KeyStore on a real temp folder: what it keeps, how it writes, and how it shares auth.json. */
import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as AuthManager from "../../src/manager/AuthManager.js"
import * as Identity from "../../src/manager/Identity.js"
import * as AssertionSigner from "../../src/services/AssertionSigner.js"
import * as Config from "../../src/Domain/Settings.js"
import * as C from "../../src/crypto/index.js"
import type { AgentIdentityRecord } from "../../src/Domain/AuthDocument.js"
import { AgentRuntimeId, TaskId } from "../../src/Domain/Ids.js"
import * as AuthFile from "../../src/internal/authFile.js"
import { PID_NAMESPACE } from "../../src/internal/files.js"
import * as KeyStore from "../../src/services/KeyStore.js"
import * as Layer from "effect/Layer"
import { chatgptAuthDocument, layerFakeBackend } from "../../src/testing/index.js"

const homes: Array<string> = []
const tempHome = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-"))
  homes.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of homes.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

const authPath = (home: string) => path.join(home, "auth.json")
const record: AgentIdentityRecord = {
  workspace_id: "account-123",
  chatgpt_user_id: "user-123",
  agent_runtime_id: AgentRuntimeId.make("agent-123"),
  agent_private_key: Redacted.make(C.encodePrivateKeyBase64(C.keyFromSeed(new Uint8Array(32).fill(7)))),
  registered_at: "2026-04-15T00:00:00Z"
}
const codexFile: Record<string, unknown> = {
  ...chatgptAuthDocument({ accountId: "account-123", userId: "user-123" }),
  future_field: { nested: [1, { deep: true, text: "ünïcode / slash" }], empty: {} },
  z_last: null
}
const fileStore = (home: string, options: Partial<KeyStore.FileOptions> = {}) =>
  KeyStore.makeFile({ codexHome: home, ...options }).pipe(Effect.provide(NodeFileSystem.layer))
const tempFiles = (home: string) => fs.readdirSync(home).filter((n) => n.endsWith(".tmp"))

describe("KeyStore.layerFile", () => {
  it.effect("keeps every other field, known or unknown, and writes Codex's record format", () =>
    Effect.gen(function*() {
      const home = tempHome()
      fs.writeFileSync(authPath(home), JSON.stringify(codexFile, null, 2), { mode: 0o600 })
      const store = yield* fileStore(home)
      yield* store.saveIdentity(record)
      const text = fs.readFileSync(authPath(home), "utf8")
      const written = JSON.parse(text) as Record<string, unknown>
      const { agent_identity, ...others } = written
      expect(others).toEqual(codexFile)
      expect(Object.keys(written)).toEqual([...Object.keys(codexFile), "agent_identity"])
      // Our record's field order: today's Codex's fields first, then the seed's (both readers ignore order).
      expect(Object.keys(agent_identity as object)).toEqual(["agent_runtime_id", "agent_private_key", "chatgpt_user_id", "workspace_id", "registered_at"])
      expect(text).toBe(JSON.stringify(written, null, 2)) // serde's pretty form, no trailing newline

      // A task id is kept when a record for the same runtime comes without one (C.3), and removal keeps the rest.
      yield* store.saveIdentity({ ...record, background_task_id: TaskId.make("task-1") })
      yield* store.saveIdentity(record)
      const state = yield* store.read
      expect(state.identity._tag === "Record" && state.identity.record.background_task_id).toBe("task-1")
      expect(yield* store.removeIdentity).toBe(true)
      expect(yield* store.removeIdentity).toBe(false)
      expect(JSON.parse(fs.readFileSync(authPath(home), "utf8"))).toEqual(codexFile)
    }))

  it.effect("writes 0600, tightening a looser existing mode, and leaves no temp file", () =>
    Effect.gen(function*() {
      const home = tempHome()
      fs.writeFileSync(authPath(home), JSON.stringify(codexFile, null, 2), { mode: 0o644 })
      fs.chmodSync(authPath(home), 0o644)
      const store = yield* fileStore(home)
      yield* store.saveIdentity(record)
      expect(fs.statSync(authPath(home)).mode & 0o777).toBe(0o600)
      expect(tempFiles(home)).toEqual([])
    }))

  it.live("never writes a file it cannot parse (after retrying briefly, as Codex may be mid-write)", () =>
    Effect.gen(function*() {
      const home = tempHome()
      for (const broken of ["{ \"tokens\": ", "[]", "\uFEFF{}", "", "{\"tokens\": {\"access_token\": 987654321}}"]) {
        fs.writeFileSync(authPath(home), broken)
        const before = fs.readFileSync(authPath(home))
        const store = yield* fileStore(home)
        const error = yield* Effect.flip(store.saveIdentity(record))
        expect(error._tag === "KeyStoreError" && error.reason).toBe("Unparseable")
        expect(error.message).not.toContain("987654321")
        expect(fs.readFileSync(authPath(home)).equals(before)).toBe(true)
        expect(tempFiles(home)).toEqual([])
      }

      // Retried: a file a writer completes in place 40 ms later (within the ~225 ms of retries) is written.
      const whole = JSON.stringify(codexFile, null, 2)
      fs.writeFileSync(authPath(home), whole.slice(0, 40))
      const store = yield* fileStore(home)
      const saving = yield* Effect.fork(store.saveIdentity(record))
      yield* Effect.sleep(Duration.millis(40))
      fs.writeFileSync(authPath(home), whole)
      yield* Fiber.join(saving)
      expect(JSON.parse(fs.readFileSync(authPath(home), "utf8")).agent_identity.agent_runtime_id).toBe("agent-123")
    }))

  it.effect("a foreign writer's change between our read and our pre-rename check is kept (the edit is redone on it)", () =>
    Effect.gen(function*() {
      const home = tempHome()
      fs.writeFileSync(authPath(home), JSON.stringify(codexFile, null, 2))
      let edits = 0
      const fileSystem = yield* Effect.provide(FileSystem.FileSystem, NodeFileSystem.layer)
      yield* AuthFile.modify(fileSystem, authPath(home), (doc) => {
        edits++
        if (edits === 1) {
          // Codex refreshes its tokens in place while we are writing.
          const refreshed = { ...codexFile, tokens: { ...(codexFile["tokens"] as object), access_token: "refreshed" } }
          fs.writeFileSync(authPath(home), JSON.stringify(refreshed, null, 2))
        }
        return Either.right(Option.map(doc, (d) => ({ ...d, agent_identity: { marker: edits } })))
      })
      const final = JSON.parse(fs.readFileSync(authPath(home), "utf8")) as Record<string, any>
      expect(edits).toBe(2)
      expect(final["tokens"]["access_token"]).toBe("refreshed")
      expect(final["agent_identity"]).toEqual({ marker: 2 })
    }))

  it.live("two stores on one CODEX_HOME (as two processes) make exactly one registration", () =>
    Effect.gen(function*() {
      const home = tempHome()
      fs.writeFileSync(authPath(home), JSON.stringify(codexFile, null, 2))
      let registrations = 0
      const manager = Effect.gen(function*() {
        return yield* AuthManager.AuthManager
      }).pipe(
        Effect.provide(
          AuthManager.layer.pipe(
            Layer.provideMerge(Identity.layer),
            Layer.provide(layerFakeBackend({
              register: () => Effect.sleep(Duration.millis(30)).pipe(Effect.as(`agent-${++registrations}`))
            })),
            Layer.provide(Layer.mergeAll(
              AssertionSigner.layer,
              Config.layer(),
              KeyStore.layerFile({ codexHome: home }).pipe(Layer.provide(NodeFileSystem.layer))
            ))
          )
        )
      )
      const [a, b] = [yield* manager, yield* manager]
      const results = yield* Effect.all([a.ensureIdentity, b.ensureIdentity, a.ensureIdentity, b.ensureIdentity], { concurrency: "unbounded" })
      expect(registrations).toBe(1)
      expect(new Set(results.map((r) => r.agentRuntimeId))).toEqual(new Set(["agent-1"]))
      expect(results.filter((r) => !r.reused).length).toBe(1)
      expect(fs.existsSync(path.join(home, KeyStore.LOCK_FILE))).toBe(false)
    }))

  it.live("a lock whose holder died is taken over; a live holder's, or one from another host, only once it is stale; a waiter fails typed, writing nothing", () =>
    Effect.gen(function*() {
      const home = tempHome()
      fs.writeFileSync(authPath(home), JSON.stringify(codexFile, null, 2))
      const lock = path.join(home, KeyStore.LOCK_FILE)
      const dead = spawnSync(process.execPath, ["-e", "0"]).pid!
      // A holder's pid is judged only within its PID namespace, which the lock names.
      fs.writeFileSync(lock, JSON.stringify({ pid: dead, host: os.hostname(), pidNamespace: PID_NAMESPACE, token: "dead" }))
      const store = yield* fileStore(home, { lockTimeout: "2 seconds" })
      yield* store.saveIdentity(record)
      expect((yield* store.read).identity._tag).toBe("Record")

      // A live holder (the test runner's parent process stands in) with a fresh lock.
      const before = fs.readFileSync(authPath(home))
      fs.writeFileSync(lock, JSON.stringify({ pid: process.ppid, host: os.hostname(), pidNamespace: PID_NAMESPACE, token: "alive" }))
      const waiter = yield* fileStore(home, { lockTimeout: "300 millis", staleLockTimeout: "30 seconds" })
      const error = yield* Effect.flip(waiter.removeIdentity)
      expect(error._tag === "KeyStoreError" && error.reason).toBe("Lock")
      expect(fs.readFileSync(authPath(home)).equals(before)).toBe(true)

      // The same lock, once older than the stale timeout, is taken over.
      const old = new Date(Date.now() - 60_000)
      fs.utimesSync(lock, old, old)
      const taker = yield* fileStore(home, { lockTimeout: "2 seconds", staleLockTimeout: "10 seconds" })
      expect(yield* taker.removeIdentity).toBe(true)

      // A pid on another host cannot be checked, even one that is dead here: that lock waits for its age.
      yield* store.saveIdentity(record)
      const saved = fs.readFileSync(authPath(home))
      fs.writeFileSync(lock, JSON.stringify({ pid: dead, host: `not-${os.hostname()}`, token: "elsewhere" }))
      const foreign = yield* Effect.flip(waiter.removeIdentity)
      expect(foreign._tag === "KeyStoreError" && foreign.reason).toBe("Lock")
      expect(fs.readFileSync(authPath(home)).equals(saved)).toBe(true)
      fs.utimesSync(lock, old, old)
      expect(yield* taker.removeIdentity).toBe(true)
      expect(fs.existsSync(lock)).toBe(false)
    }))
})

describe("KeyStore.layerFile reads", () => {
  it.effect("an unchanged file is not read again; any write, even in place with the same size, is seen", () =>
    Effect.gen(function*() {
      const home = tempHome()
      const file = authPath(home)
      fs.writeFileSync(file, JSON.stringify(codexFile, null, 2))
      const store = yield* fileStore(home)
      const first = yield* store.read
      expect(yield* store.read).toBe(first) // the same reading, not a re-parse
      // Codex-style in-place rewrite that keeps the size: one character of the token changes.
      const text = fs.readFileSync(file, "utf8").replace("access-token-account-123", "access-token-account-124")
      fs.writeFileSync(file, text)
      const second = yield* store.read
      expect(second).not.toBe(first)
      expect(second.login._tag === "ChatGpt" && Redacted.value(second.login.accessToken)).toBe("access-token-account-124")
      // Our own write is seen too.
      yield* store.saveIdentity(record)
      expect((yield* store.read).identity._tag).toBe("Record")
    }))
})
