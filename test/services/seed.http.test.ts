/**
 * The seed's acceptance tests (spec section E), ported by meaning, over real HTTP against the
 * reference backend on 127.0.0.1: headers, bodies and call counts are checked as the Rust mocks do.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as C from "../../src/crypto/index.js"
import { KeyStore } from "../../src/services/KeyStore.js"
import * as KeyStoreModule from "../../src/services/KeyStore.js"
import { liveAuthLayer, startBackend } from "../utils/backend.js"

const TOKEN = "access-token-account-123"


/** Runs `body` against a fresh backend with the given login and an optional stored identity. */
const withBackend = <A, E>(
  options: {
    readonly runtimeIds?: ReadonlyArray<string>
    readonly taskIds?: ReadonlyArray<string>
    readonly userId?: string
    readonly identity?: Record<string, unknown>
    readonly sealTaskIds?: boolean
  },
  body: (ctx: {
    readonly baseUrl: string
    readonly backend: Effect.Effect.Success<ReturnType<typeof startBackend>>["backend"]
    readonly auth: AuthManager["Type"]
    readonly store: KeyStore["Type"]
  }) => Effect.Effect<A, E, never>
) =>
  Effect.gen(function*() {
    const runtimeIds = [...(options.runtimeIds ?? [])]
    const taskIds = [...(options.taskIds ?? [])]
    const { backend, baseUrl } = yield* startBackend({
      nextRuntimeId: () => runtimeIds.shift() ?? "agent-extra",
      nextTaskId: () => taskIds.shift() ?? "task-extra",
      ...(options.sealTaskIds === undefined ? {} : { sealTaskIds: options.sealTaskIds })
    })
    const document = yield* backend.issueLogin({ accountId: "account-123", userId: options.userId ?? "user-123", accessToken: TOKEN })
    const initial = options.identity === undefined ? document : { ...document, agent_identity: options.identity }
    const layer = liveAuthLayer({ baseUrl, document: initial })
    return yield* Effect.gen(function*() {
      return yield* body({ baseUrl, backend, auth: yield* AuthManager, store: yield* KeyStore })
    }).pipe(Effect.provide(layer))
  }).pipe(Effect.scoped)

/** The raw document a memory store holds now. */
const documentOf = (store: KeyStore["Type"]) => store.read

describe("seed tests over HTTP", () => {
  it.live("8: registers once and reuses the stored identity (one biscuit, one registration)", () =>
    withBackend({ runtimeIds: ["agent-123"] }, ({ auth, backend, baseUrl, store }) =>
      Effect.gen(function*() {
        const first = yield* auth.ensureIdentity
        const second = yield* auth.ensureIdentity
        expect(first.agentRuntimeId).toBe("agent-123")
        expect([first.reused, second.reused]).toEqual([false, true])
        expect(second.agentRuntimeId).toBe(first.agentRuntimeId)
        expect(second.publicKeySsh).toBe(first.publicKeySsh)
        expect(yield* backend.calls).toMatchObject({ biscuit: 1, register: 1, task: 0 })

        const [mint, register] = yield* backend.requests
        expect(mint!.headers["authorization"]).toBe(`Bearer ${TOKEN}`)
        expect(mint!.headers["x-original-method"]).toBe("POST")
        expect(mint!.headers["x-original-url"]).toBe(`${baseUrl}/v1/agent/register`)
        expect(C.isRequestId(mint!.headers["x-request-id"]!)).toBe(true)
        expect(register!.headers["x-openai-authorization"]).toMatch(/^hb_/)
        expect(register!.headers["authorization"]).toBeUndefined()

        const state = yield* documentOf(store)
        expect(state.identity._tag).toBe("Record")
        if (state.identity._tag === "Record") {
          expect(state.identity.record.workspace_id).toBe("account-123")
          expect(state.identity.record.chatgpt_user_id).toBe("user-123")
          expect(state.identity.record.agent_runtime_id).toBe("agent-123")
          const key = Either.getOrThrow(C.decodePrivateKeyBase64(Redacted.value(state.identity.record.agent_private_key)))
          expect(key.version).toBe(2)
          expect(C.encodeSshPublicKey(key.publicKey)).toBe(first.publicKeySsh)
        }
      })))

  it.live("8: the registration body is compact JSON in Codex's field order, with the ABOM", () =>
    withBackend({ runtimeIds: ["agent-123"], taskIds: ["task_123"] }, ({ auth, backend }) =>
      Effect.gen(function*() {
        const identity = yield* auth.ensureIdentity
        yield* auth.ensureTask
        const [, register, , task] = yield* backend.requests
        expect(register!.headers["content-type"]).toBe("application/json")
        expect(register!.body).toBe(
          `{"abom":{"agent_version":"0.1.0","agent_harness_id":"codex-cli","running_location":"cli-linux"},` +
            `"agent_public_key":"${identity.publicKeySsh}","capabilities":[]}`
        )
        const body = JSON.parse(task!.body) as { signature: string; timestamp: string }
        expect(Object.keys(body)).toEqual(["signature", "timestamp"])
        expect(body.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
        expect(C.verifyTaskRegistration(identity.key.publicKey, "agent-123", body.timestamp, body.signature)).toBe(true)
      })))

  it.live("9: an undecodable stored key is deleted and a new identity registered", () =>
    withBackend({
      runtimeIds: ["agent-456"],
      identity: {
        workspace_id: "account-123",
        chatgpt_user_id: "user-123",
        agent_runtime_id: "agent_invalid",
        agent_private_key: "not-valid-base64",
        registered_at: "2026-04-13T12:00:00Z"
      }
    }, ({ auth, backend, store }) =>
      Effect.gen(function*() {
        const identity = yield* auth.ensureIdentity
        expect(identity.agentRuntimeId).toBe("agent-456")
        expect(identity.reused).toBe(false)
        expect(yield* backend.calls).toMatchObject({ biscuit: 1, register: 1 })
        const state = yield* store.read
        expect(state.identity._tag === "Record" && state.identity.record.agent_runtime_id).toBe("agent-456")
      })))

  it.live("10: an identity of another user is deleted and re-registered for the current user", () =>
    withBackend({
      runtimeIds: ["agent_new"],
      userId: "user-new",
      identity: {
        workspace_id: "account-123",
        chatgpt_user_id: "user-old",
        agent_runtime_id: "agent_old",
        agent_private_key: C.encodePrivateKeyBase64(C.keyFromSeed(new Uint8Array(32).fill(7))),
        registered_at: "2026-04-13T12:00:00Z"
      }
    }, ({ auth, store }) =>
      Effect.gen(function*() {
        const identity = yield* auth.ensureIdentity
        expect(identity.agentRuntimeId).toBe("agent_new")
        const state = yield* store.read
        expect(state.identity._tag === "Record" && state.identity.record.chatgpt_user_id).toBe("user-new")
      })))

  it.live("10b: an identity stored for another workspace is not used: a new one is registered in its place", () =>
    withBackend({
      runtimeIds: ["agent-fresh"],
      identity: {
        workspace_id: "account-other",
        agent_runtime_id: "agent_elsewhere",
        agent_private_key: C.encodePrivateKeyBase64(C.keyFromSeed(new Uint8Array(32).fill(7))),
        registered_at: "2026-04-13T12:00:00Z"
      }
    }, ({ auth, backend, store }) =>
      Effect.gen(function*() {
        // Not ours (another workspace): ignored, so a registration happens and overwrites the single slot.
        // (An identity without a user for a binding with one: seed.layers.test.ts, 9 and 10.)
        const identity = yield* auth.ensureIdentity
        expect(identity.agentRuntimeId).toBe("agent-fresh")
        expect(yield* backend.calls).toMatchObject({ register: 1 })
        const state = yield* store.read
        expect(state.identity._tag === "Record" && [state.identity.record.workspace_id, state.identity.record.agent_runtime_id])
          .toEqual(["account-123", "agent-fresh"])
      })))

  it.live("11 and 16: every request goes under the configured base URL", () =>
    withBackend({ runtimeIds: ["agent-fallback"], taskIds: ["task_fallback"] }, ({ auth, backend }) =>
      Effect.gen(function*() {
        const task = yield* auth.ensureTask
        expect(task).toEqual({ agentRuntimeId: "agent-fallback", taskId: "task_fallback", reused: false })
        const paths = (yield* backend.requests).map((r) => `${r.method} ${r.url}`)
        expect(paths).toEqual([
          "GET /backend-api/authenticate_app_v2",
          "POST /backend-api/v1/agent/register",
          "GET /backend-api/authenticate_app_v2",
          "POST /backend-api/v1/agent/agent-fallback/task/register"
        ])
      })))

  it.live("15: a task registration opens the sealed task id and persists it", () =>
    withBackend({ runtimeIds: ["agent-123"], taskIds: ["task_123"] }, ({ auth, backend, baseUrl, store }) =>
      Effect.gen(function*() {
        const task = yield* auth.ensureTask
        expect(task).toEqual({ agentRuntimeId: "agent-123", taskId: "task_123", reused: false })
        const again = yield* auth.ensureTask
        expect(again.reused).toBe(true)
        expect(yield* backend.calls).toMatchObject({ biscuit: 2, register: 1, task: 1 })
        const taskMint = (yield* backend.requests)[2]!
        expect(taskMint.headers["x-original-url"]).toBe(`${baseUrl}/v1/agent/agent-123/task/register`)
        const state = yield* store.read
        expect(state.identity._tag === "Record" && state.identity.record.background_task_id).toBe("task_123")
      })))

  it.live("15b: a plain task_id answer is accepted too", () =>
    withBackend({ runtimeIds: ["agent-123"], taskIds: ["task-plain"], sealTaskIds: false }, ({ auth }) =>
      Effect.gen(function*() {
        expect((yield* auth.ensureTask).taskId).toBe("task-plain")
      })))

  it.live("17: a task registration uses one auth snapshot: the token read with the identity", () =>
    Effect.gen(function*() {
      const { backend, baseUrl } = yield* startBackend({ nextRuntimeId: () => "agent-123", nextTaskId: () => "task_123" })
      const first = yield* backend.issueLogin({ accountId: "account-123", userId: "user-123", accessToken: "token-first" })
      yield* backend.issueLogin({ accountId: "account-123", userId: "user-123", accessToken: "token-second" })
      // A store whose login is refreshed by someone else after every read.
      const memory = yield* KeyStoreModule.makeMemory(first)
      let reads = 0
      const rotating = Layer.succeed(KeyStore, {
        ...memory,
        read: Effect.map(memory.read, (state) => {
          reads++
          if (reads === 1 || state.login._tag !== "ChatGpt") return state
          const token = reads % 2 === 0 ? "token-second" : "token-first"
          return { ...state, login: { ...state.login, accessToken: Redacted.make(token) } }
        })
      })
      const task = yield* Effect.flatMap(AuthManager, (auth) => auth.ensureTask).pipe(
        Effect.provide(liveAuthLayer({ baseUrl, keyStore: rotating }))
      )
      expect(task.taskId).toBe("task_123")
      const mints = (yield* backend.requests).filter((r) => r.endpoint === "biscuit")
      expect(mints.length).toBe(2)
      // Both biscuits of this locked section come from the reading that found (and registered) the identity.
      expect(mints[0]!.headers["authorization"]).toBe(mints[1]!.headers["authorization"])
    }).pipe(Effect.scoped))

  it.live("18: a task does not match when no identity is stored for the current account", () =>
    withBackend({ runtimeIds: ["agent-123"] }, ({ auth }) =>
      Effect.gen(function*() {
        expect(yield* auth.taskMatchesCurrentIdentity({ agentRuntimeId: "agent-123" as never })).toBe(false)
        const identity = yield* auth.ensureIdentity
        expect(yield* auth.taskMatchesCurrentIdentity({ agentRuntimeId: identity.agentRuntimeId })).toBe(true)
        expect(yield* auth.taskMatchesCurrentIdentity({ agentRuntimeId: "agent-other" as never })).toBe(false)
      })))
})
