/**
 * Every auth.json this library writes, under either protocol, is read by both Codex readers (the strict
 * models of test/utils/codexReaders.ts), and no field outside `agent_identity` changes: registration, a
 * task, a renewed task, a stale record replaced, a Codex record given a task, and forget.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as C from "../../src/crypto/index.js"
import type { AuthDocument } from "../../src/Domain/AuthDocument.js"
import * as Settings from "../../src/Domain/Settings.js"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as AuthManagerModule from "../../src/manager/AuthManager.js"
import * as Identity from "../../src/manager/Identity.js"
import * as AssertionSigner from "../../src/services/AssertionSigner.js"
import * as KeyStore from "../../src/services/KeyStore.js"
import { chatgptAuthDocument, layerFakeBackend } from "../../src/testing/index.js"
import { codexReaders } from "../utils/codexReaders.js"

const homes: Array<string> = []
afterEach(() => {
  for (const home of homes.splice(0)) fs.rmSync(home, { recursive: true, force: true })
})

/** A CODEX_HOME holding `document`, and an AuthManager on it (fake backend, the given protocol). */
const onFile = (document: AuthDocument, protocol: Settings.Protocol) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-readers-"))
  homes.push(home)
  fs.writeFileSync(path.join(home, "auth.json"), JSON.stringify(document, null, 2), { mode: 0o600 })
  const layer = AuthManagerModule.layer.pipe(
    Layer.provideMerge(Identity.layer),
    Layer.provideMerge(layerFakeBackend()),
    Layer.provideMerge(Layer.mergeAll(
      AssertionSigner.layer,
      Settings.layer({ protocol, authApiBaseUrl: "https://auth.openai.com/api/accounts" }),
      KeyStore.layerFile({ codexHome: home }).pipe(Layer.provide(NodeFileSystem.layer))
    )),
    Layer.orDie
  )
  const read = () => JSON.parse(fs.readFileSync(path.join(home, "auth.json"), "utf8")) as Record<string, unknown>
  return { layer, read }
}

const logins: Record<string, AuthDocument> = {
  plain: chatgptAuthDocument({ accountId: "account-1", userId: "user-1" }),
  profile: chatgptAuthDocument({ accountId: "account-2", userId: "user-2", email: "a@b.test", planType: "hc", isFedramp: true }),
  "no user": chatgptAuthDocument({ accountId: "account-3", userId: null }),
  "unknown fields": { ...chatgptAuthDocument({ accountId: "account-4", userId: "user-4" }), future: { nested: [1, "x"] } }
}

describe("every write is read by both Codex generations", () => {
  for (const protocol of Settings.PROTOCOLS) {
    for (const [name, login] of Object.entries(logins)) {
      it.live(`${protocol}, ${name}: register, task, renew, forget`, () =>
        Effect.gen(function*() {
          const { layer, read } = onFile(login, protocol)
          const outside = (doc: Record<string, unknown>) => {
            const { agent_identity: _, ...rest } = doc
            return rest
          }
          yield* Effect.gen(function*() {
            const auth = yield* AuthManager
            yield* auth.ensureIdentity
            expect(codexReaders(read())).toEqual({ seed: null, current: null })
            const task = yield* auth.ensureTask
            const afterTask = read()
            expect(codexReaders(afterTask)).toEqual({ seed: null, current: null })
            const identity = afterTask["agent_identity"] as Record<string, unknown>
            expect(identity[protocol === "2026-04" ? "background_task_id" : "task_id"]).toBe(task.taskId)
            expect(identity[protocol === "2026-04" ? "task_id" : "background_task_id"]).toBeUndefined()
            yield* auth.renewTask(task)
            const renewed = read()
            expect(codexReaders(renewed)).toEqual({ seed: null, current: null })
            // Only the task changed.
            const { background_task_id: _a, task_id: _b, ...kept } = renewed["agent_identity"] as Record<string, unknown>
            const { background_task_id: _c, task_id: _d, ...before } = identity
            expect(kept).toEqual(before)
            expect(yield* auth.forget).toBe(true)
            expect(codexReaders(read())).toEqual({ seed: null, current: null })
          }).pipe(Effect.provide(layer))
          expect(outside(read())).toEqual(login)
        }))
    }

    it.live(`${protocol}: a stale record (another user) is replaced by one both read; a Codex record gets its task, nothing else changes`, () =>
      Effect.gen(function*() {
        const key = C.encodeBase64(C.encodePkcs8V1({ seed: new Uint8Array(32).fill(3) }))
        const codexRecord = {
          agent_runtime_id: "agent-codex",
          agent_private_key: key,
          account_id: "account-1",
          chatgpt_user_id: "user-1",
          email: "",
          plan_type: "plus",
          chatgpt_account_is_fedramp: false,
          unknown_field: "kept"
        }
        const reused = onFile({ ...logins["plain"]!, agent_identity: codexRecord }, protocol)
        const task = yield* Effect.flatMap(AuthManager, (a) => a.ensureTask).pipe(Effect.provide(reused.layer))
        expect(task.agentRuntimeId).toBe("agent-codex")
        const written = reused.read()
        expect(codexReaders(written)).toEqual({ seed: null, current: null })
        expect(written["agent_identity"]).toMatchObject(codexRecord)

        const stale = onFile({ ...logins["plain"]!, agent_identity: { ...codexRecord, chatgpt_user_id: "someone-else" } }, protocol)
        const fresh = yield* Effect.flatMap(AuthManager, (a) => a.ensureTask).pipe(Effect.provide(stale.layer))
        expect(fresh.agentRuntimeId).not.toBe("agent-codex")
        expect(codexReaders(stale.read())).toEqual({ seed: null, current: null })
      }))
  }
})
