/**
 * The same seed flows through the testing kit's layers (memory KeyStore, scripted fakes): no HTTP,
 * proving the layers are swappable, plus the seed tests that never touched the network.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as AssertionSigner from "../../src/services/AssertionSigner.js"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as C from "../../src/crypto/index.js"
import {
  apiKeyAuthDocument,
  chatgptAuthDocument,
  FakeBackend
} from "../../src/testing/index.js"
import { layerAuthManager2604 } from "../utils/protocol.js"
import { KeyStore } from "../../src/services/KeyStore.js"

const SEED7 = new Uint8Array(32).fill(7)
const KEY7 = C.encodePrivateKeyBase64(C.keyFromSeed(SEED7))
const document = chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })
const withTask = {
  ...chatgptAuthDocument({ accountId: "account_id", userId: null, accessToken: "Access Token" }),
  agent_identity: {
    workspace_id: "account_id",
    agent_runtime_id: "agent_123",
    agent_private_key: KEY7,
    registered_at: "2026-04-13T12:00:00Z",
    background_task_id: "task_123"
  }
}
const trusted = { baseUrl: "https://chatgpt.com/backend-api" }

describe("AssertionSigner (seed tests 1, 2)", () => {
  it.effect("1: the header is a signed AgentAssertion over runtime, task and timestamp", () =>
    Effect.gen(function*() {
      const signer = yield* AssertionSigner.make()
      const key = yield* signer.parse(Redacted.make(KEY7))
      const header = Redacted.value(yield* signer.agentAssertion(
        { agentRuntimeId: "agent-123", key },
        { agentRuntimeId: "agent-123", taskId: "task-123" }
      ))
      expect(header.startsWith("AgentAssertion ")).toBe(true)
      const envelope = JSON.parse(
        new TextDecoder().decode(Either.getOrThrow(C.decodeBase64Url(header.slice("AgentAssertion ".length))))
      ) as Record<string, string>
      expect(envelope["agent_runtime_id"]).toBe("agent-123")
      expect(envelope["task_id"]).toBe("task-123")
      // it.effect runs on the TestClock, which starts at 0.
      expect(envelope["timestamp"]).toBe("1970-01-01T00:00:00Z")
      const payload = new TextEncoder().encode(`agent-123:task-123:${envelope["timestamp"]}`)
      expect(C.verify(key.publicKey, payload, Either.getOrThrow(C.decodeBase64(envelope["signature"]!)))).toBe(true)
    }))

  it.effect("2: a runtime mismatch is refused with Codex's message", () =>
    Effect.gen(function*() {
      const signer = yield* AssertionSigner.make()
      const key = yield* signer.parse(Redacted.make(KEY7))
      const error = yield* Effect.flip(signer.agentAssertion(
        { agentRuntimeId: "agent-123", key },
        { agentRuntimeId: "agent-456", taskId: "task-123" }
      ))
      expect(error._tag).toBe("BindingMismatchError")
      expect(error.message).toBe("agent task runtime agent-456 does not match stored agent identity agent-123")
    }))

  it.effect("parses a key once and keeps it", () =>
    Effect.gen(function*() {
      const signer = yield* AssertionSigner.make()
      const a = yield* signer.parse(Redacted.make(KEY7))
      const b = yield* signer.parse(Redacted.make(KEY7))
      expect(a).toBe(b)
      expect(String(a)).toBe(`AgentKey(${C.encodeSshPublicKey(C.keyFromSeed(SEED7).publicKey)})`)
      expect(JSON.stringify(a)).not.toContain(KEY7)
      const bad = yield* Effect.flip(signer.parse(Redacted.make("not-valid-base64")))
      expect(bad._tag).toBe("InvalidKeyError")
      expect(bad.message).toBe("stored agent identity private key is not valid base64")
    }))

  it("12: the ssh blob has Codex's wire shape", () => {
    const blob = C.sshPublicKeyBlob(C.keyFromSeed(SEED7).publicKey)
    expect(blob.length).toBe(51)
    expect([...blob.subarray(0, 4)]).toEqual([0, 0, 0, 11])
    expect(new TextDecoder().decode(blob.subarray(4, 15))).toBe("ssh-ed25519")
    expect([...blob.subarray(15, 19)]).toEqual([0, 0, 0, 32])
  })
})

describe("header path (seed tests 3, 4, 5)", () => {
  it.effect("3: disabled mode gives no assertion for a supported host", () =>
    Effect.gen(function*() {
      const auth = yield* AuthManager
      expect(Option.isNone(yield* auth.authorizationHeader)).toBe(true)
      const fallback = yield* auth.authorizationHeaderOrBearer
      expect(Option.map(fallback, (h) => [h.scheme, Redacted.value(h.value), Option.getOrNull(h.accountId)]))
        .toEqual(Option.some(["Bearer", "Bearer Access Token", "account_id"]))
    }).pipe(Effect.provide(layerAuthManager2604({ document: withTask, settings: { ...trusted, mode: "disabled" } }))))

  it.effect("a stored token with CR/LF or another control character is never sent as Bearer (a warning instead)", () =>
    Effect.gen(function*() {
      for (const accessToken of ["Access\r\nX-Injected: 1", "tok\u0000en", "tok\u007fen"]) {
        const logs: Array<string> = []
        const logger = Logger.make(({ message }) => logs.push(String(message)))
        const fallback = yield* Effect.flatMap(AuthManager, (a) => a.authorizationHeaderOrBearer).pipe(
          Effect.provide(layerAuthManager2604({
            document: { ...chatgptAuthDocument({ accountId: "account_id", userId: null, accessToken }), agent_identity: withTask.agent_identity },
            settings: { ...trusted, mode: "disabled" }
          })),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
        expect(Option.isNone(fallback)).toBe(true)
        expect(logs.join("\n")).toContain("no bearer authorization")
        expect(logs.join("\n")).not.toContain("X-Injected")
      }
    }))

  it.effect("5: enabled mode signs the stored task; no account id beside it", () =>
    Effect.gen(function*() {
      const auth = yield* AuthManager
      const header = yield* auth.authorizationHeader
      expect(Option.isSome(header)).toBe(true)
      if (Option.isSome(header)) {
        expect(header.value.scheme).toBe("AgentAssertion")
        expect(Option.isNone(header.value.accountId)).toBe(true)
        const verified = C.verifyAgentAssertion(Redacted.value(header.value.value), C.keyFromSeed(SEED7).publicKey)
        expect(Either.map(verified, (v) => [v.agentRuntimeId, v.taskId])).toEqual(Either.right(["agent_123", "task_123"]))
      }
      expect((yield* (yield* FakeBackend).calls).biscuits.length).toBe(0)
    }).pipe(Effect.provide(layerAuthManager2604({ document: withTask, settings: trusted }))))

  it.effect("no assertion for an untrusted base URL, or with no stored task: Bearer instead", () =>
    Effect.gen(function*() {
      for (const settings of [{ baseUrl: "https://chatgpt.com.evil.example" }, { baseUrl: "http://127.0.0.1:9" }]) {
        const header = yield* Effect.flatMap(AuthManager, (a) => a.authorizationHeaderOrBearer).pipe(
          Effect.provide(layerAuthManager2604({ document: withTask, settings }))
        )
        expect(Option.map(header, (h) => h.scheme)).toEqual(Option.some("Bearer"))
      }
      const noTask = { ...withTask, agent_identity: { ...withTask.agent_identity, background_task_id: null } }
      const [header, orBearer] = yield* Effect.flatMap(AuthManager, (a) => Effect.all([a.authorizationHeader, a.authorizationHeaderOrBearer])).pipe(
        Effect.provide(layerAuthManager2604({ document: noTask, settings: trusted }))
      )
      expect(Option.isNone(header)).toBe(true)
      expect(Option.map(orBearer, (h) => h.scheme)).toEqual(Option.some("Bearer"))
    }))

  it.effect("an invalid stored key falls back to Bearer with a warning, and deletes nothing", () =>
    Effect.gen(function*() {
      const broken = { ...withTask, agent_identity: { ...withTask.agent_identity, agent_private_key: "not-valid-base64" } }
      const warnings: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      const result = yield* Effect.gen(function*() {
        const auth = yield* AuthManager
        const error = yield* Effect.flip(auth.authorizationHeader)
        const fallback = yield* auth.authorizationHeaderOrBearer
        const state = yield* (yield* KeyStore).read
        return { error, fallback, state }
      }).pipe(Effect.provide(layerAuthManager2604({ document: broken, settings: trusted })), Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
      expect(result.error._tag).toBe("InvalidKeyError")
      expect(Option.map(result.fallback, (h) => h.scheme)).toEqual(Option.some("Bearer"))
      expect(warnings.length).toBe(1)
      expect(warnings[0]).toContain("InvalidKeyError")
      expect(warnings[0]).not.toContain(KEY7.slice(0, 16))
      expect(result.state.identity._tag).toBe("Record")
    }))
})

describe("ensure flows through mocked layers (seed tests 6-10, 13-15, 18)", () => {
  it.effect("6, 13: disabled mode registers nothing", () =>
    Effect.gen(function*() {
      const auth = yield* AuthManager
      expect((yield* Effect.flip(auth.ensureIdentity))._tag).toBe("AgentIdentityDisabledError")
      expect((yield* Effect.flip(auth.ensureTask))._tag).toBe("AgentIdentityDisabledError")
      expect(yield* auth.taskMatchesCurrentIdentity({ agentRuntimeId: "agent_123" as never })).toBe(false)
      expect(yield* (yield* FakeBackend).calls).toEqual({ biscuits: [], registrations: [], tasks: [] })
    }).pipe(Effect.provide(layerAuthManager2604({ document, settings: { mode: "disabled" } }))))

  it.effect("7, 14: an API-key login registers nothing", () =>
    Effect.gen(function*() {
      const auth = yield* AuthManager
      const error = yield* Effect.flip(auth.ensureIdentity)
      expect(error._tag === "LoginUnavailableError" && error.reason).toBe("ApiKey")
      expect((yield* Effect.flip(auth.ensureTask))._tag).toBe("LoginUnavailableError")
      expect(yield* (yield* FakeBackend).calls).toEqual({ biscuits: [], registrations: [], tasks: [] })
    }).pipe(Effect.provide(layerAuthManager2604({ document: apiKeyAuthDocument() }))))

  it.effect("no login, a login without account: typed reasons", () =>
    Effect.gen(function*() {
      const reasons: Array<string> = []
      for (const doc of [undefined, chatgptAuthDocument({ accountId: null }), chatgptAuthDocument({ accountId: "a", accessToken: "" })]) {
        const error = yield* Effect.flip(Effect.flatMap(AuthManager, (a) => a.ensureIdentity)).pipe(
          Effect.provide(layerAuthManager2604(doc === undefined ? {} : { document: doc }))
        )
        reasons.push(error._tag === "LoginUnavailableError" ? error.reason : error._tag)
      }
      expect(reasons).toEqual(["NoLogin", "MissingAccount", "MissingToken"])
    }))

  it.effect("the forced workspace wins over tokens.account_id; an empty one is ignored", () =>
    Effect.gen(function*() {
      const forced = yield* Effect.flatMap(AuthManager, (a) => a.binding).pipe(
        Effect.provide(layerAuthManager2604({ document, settings: { forcedWorkspaceId: "ws-forced" } }))
      )
      expect(forced).toMatchObject({ bindingId: "chatgpt-account-ws-forced", accountId: "ws-forced", userId: Option.some("user-123") })
      const empty = yield* Effect.flatMap(AuthManager, (a) => a.binding).pipe(
        Effect.provide(layerAuthManager2604({ document, settings: { forcedWorkspaceId: "" } }))
      )
      expect(empty.bindingId).toBe("chatgpt-account-account-123")
    }))

  it.effect("8, 15: register, reuse, task; one biscuit per registration", () =>
    Effect.gen(function*() {
      const auth = yield* AuthManager
      const identity = yield* auth.ensureIdentity
      expect((yield* auth.ensureIdentity).reused).toBe(true)
      const task = yield* auth.ensureTask
      expect(task).toEqual({ agentRuntimeId: identity.agentRuntimeId, taskId: "task_123", reused: false })
      expect((yield* auth.ensureTask).reused).toBe(true)
      const calls = yield* (yield* FakeBackend).calls
      expect([calls.biscuits.length, calls.registrations.length, calls.tasks.length]).toEqual([2, 1, 1])
      expect(calls.biscuits.every((b) => Redacted.value(b.accessToken) === "access-token-account-123")).toBe(true)
    }).pipe(Effect.provide(layerAuthManager2604({ document, script: { task: () => Effect.succeed("task_123") } }))))

  it.effect("9, 10: an undecodable key or another user's identity is replaced", () =>
    Effect.gen(function*() {
      const stale = [
        { agent_private_key: "not-valid-base64", chatgpt_user_id: "user-123" },
        { agent_private_key: KEY7, chatgpt_user_id: "user-old" },
        { agent_private_key: KEY7 } // no stored user, binding has one: no match
      ]
      for (const fields of stale) {
        const doc = {
          ...document,
          agent_identity: { workspace_id: "account-123", agent_runtime_id: "agent_old", registered_at: "2026-04-13T12:00:00Z", ...fields }
        }
        const identity = yield* Effect.flatMap(AuthManager, (a) => a.ensureIdentity).pipe(
          Effect.provide(layerAuthManager2604({ document: doc, script: { register: () => Effect.succeed("agent_new") } }))
        )
        expect([identity.agentRuntimeId, identity.reused, Option.getOrNull(identity.userId)]).toEqual(["agent_new", false, "user-123"])
      }
    }))

  it.effect("a foreign (JWT) identity is never overwritten; forget removes it", () =>
    Effect.gen(function*() {
      const auth = yield* AuthManager
      const store = yield* KeyStore
      const error = yield* Effect.flip(auth.ensureIdentity)
      expect(error._tag).toBe("ForeignIdentityFormatError")
      expect((yield* store.read).identity._tag).toBe("Jwt")
      expect(yield* auth.forget).toBe(true)
      expect((yield* auth.ensureIdentity).reused).toBe(false)
    }).pipe(Effect.provide(layerAuthManager2604({ document: { ...document, agent_identity: "eyJ.a.b" } }))))
})
