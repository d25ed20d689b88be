/**
 * Protocol 2026-06 (the default) against the reference backend over real HTTP: a ChatGPT login, a FedRAMP
 * login, an access-token JWT stored in auth.json or given in the environment, and a record Codex wrote —
 * each registers what it needs at the AuthAPI, signs a header and gets a protected request accepted; and
 * what it leaves in auth.json is read by both Codex generations.
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { start } from "../../src/backend/server.js"
import * as C from "../../src/crypto/index.js"
import { agentIdentityLoginDocument, type AuthDocument } from "../../src/Domain/AuthDocument.js"
import { decodeUnverified } from "../../src/Domain/IdentityJwt.js"
import * as Settings from "../../src/Domain/Settings.js"
import * as HttpMiddleware from "../../src/http/middleware.js"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as Identity from "../../src/manager/Identity.js"
import * as Layers from "../../src/manager/Layers.js"
import * as KeyStore from "../../src/services/KeyStore.js"
import { codexReaders } from "../utils/codexReaders.js"

/** The backend, its AuthAPI, and an AuthManager (default protocol) over a memory KeyStore. */
const setup = (keyStore: Layer.Layer<KeyStore.KeyStore>, baseUrl: string, authApiBaseUrl: string) =>
  Layers.authManager.pipe(
    Layer.provideMerge(Layer.mergeAll(
      keyStore,
      Settings.layer({ baseUrl, authApiBaseUrl, trustedHosts: ["127.0.0.1"] }),
      NodeHttpClient.layer
    )),
    Layer.orDie
  )

/** ensureTask, the header, and one request through the middleware to the protected whoami route. */
const flow = (baseUrl: string) =>
  Effect.gen(function*() {
    const auth = yield* AuthManager
    const task = yield* auth.ensureTask
    const header = yield* auth.authorizationHeader
    const client = yield* HttpMiddleware.BackendClient
    const response = yield* client.execute(HttpClientRequest.get(`${baseUrl}/v1/whoami`))
    const store = yield* KeyStore.KeyStore
    return {
      task,
      header: Option.getOrThrow(header),
      whoami: { status: response.status, body: (yield* response.json) as Record<string, unknown> },
      state: yield* store.read
    }
  }).pipe(Effect.provide(HttpMiddleware.layer()))

describe("protocol 2026-06 against the reference backend", () => {
  it.live("a ChatGPT login: Bearer registration at the AuthAPI, a credential-less task, assertion + account id accepted", () =>
    Effect.gen(function*() {
      const { authApiBaseUrl, backend, baseUrl } = yield* start({ recordRequests: true })
      const login = yield* backend.issueLogin({ accountId: "account-123", userId: "user-123", email: "u@example.test", planType: "pro" })
      const result = yield* flow(baseUrl).pipe(Effect.provide(setup(KeyStore.layerMemory(login), baseUrl, authApiBaseUrl)))

      expect(result.whoami).toEqual({
        status: 200,
        body: { scheme: "AgentAssertion", agent_runtime_id: result.task.agentRuntimeId, task_id: result.task.taskId, account_id: "account-123" }
      })
      expect(Identity.requestHeaders(result.header)["ChatGPT-Account-ID"]).toBe("account-123")
      expect(Identity.requestHeaders(result.header)["X-OpenAI-Fedramp"]).toBeUndefined()

      const requests = yield* backend.requests
      const register = requests.find((r) => r.endpoint === "register")!
      const task = requests.find((r) => r.endpoint === "task")!
      const accessToken = (login["tokens"] as { access_token: string }).access_token
      expect(register.url).toBe("/api/accounts/v1/agent/register")
      expect(register.headers["authorization"]).toBe(`Bearer ${accessToken}`)
      expect(register.headers["x-openai-authorization"]).toBeUndefined()
      expect(register.headers["chatgpt-account-id"]).toBeUndefined()
      expect(register.headers["content-type"]).toBe("application/json")
      const publicKey = JSON.parse(register.body)["agent_public_key"] as string
      expect(register.body).toBe(
        `{"abom":{"agent_version":"${Settings.VERSION}","agent_harness_id":"codex-cli","running_location":"cli-${process.platform === "darwin" ? "macos" : process.platform}"},` +
          `"agent_public_key":"${publicKey}","capabilities":["responsesapi"],"ttl":null}`
      )
      expect(task.url).toBe(`/api/accounts/v1/agent/${result.task.agentRuntimeId}/task/register`)
      expect(task.headers["authorization"]).toBeUndefined()
      expect(task.headers["x-openai-authorization"]).toBeUndefined()
      expect(Object.keys(JSON.parse(task.body))).toEqual(["timestamp", "signature"])
      expect(requests.some((r) => r.endpoint === "biscuit")).toBe(false)
      for (const request of requests) {
        expect(request.headers["traceparent"]).toBeUndefined()
        expect(request.headers["b3"]).toBeUndefined()
      }

      // auth.json: one record both Codex generations read, with the login's profile.
      const state = result.state
      expect(state.identity._tag).toBe("Record")
      const record = state.identity._tag === "Record" ? state.identity.record : undefined
      expect(record).toMatchObject({
        agent_runtime_id: result.task.agentRuntimeId,
        account_id: "account-123",
        workspace_id: "account-123",
        chatgpt_user_id: "user-123",
        email: "u@example.test",
        plan_type: "pro",
        chatgpt_account_is_fedramp: false,
        task_id: result.task.taskId
      })
      expect(record?.background_task_id).toBeUndefined()
    }).pipe(Effect.scoped))

  it.live("a FedRAMP login sends X-OpenAI-Fedramp at registration and beside every assertion", () =>
    Effect.gen(function*() {
      const { authApiBaseUrl, backend, baseUrl } = yield* start({ recordRequests: true })
      const login = yield* backend.issueLogin({ accountId: "account-fed", userId: "user-fed", isFedramp: true })
      const result = yield* flow(baseUrl).pipe(Effect.provide(setup(KeyStore.layerMemory(login), baseUrl, authApiBaseUrl)))
      expect(result.whoami.status).toBe(200)
      expect(Identity.requestHeaders(result.header)).toMatchObject({ "ChatGPT-Account-ID": "account-fed", "X-OpenAI-Fedramp": "true" })
      const requests = yield* backend.requests
      expect(requests.find((r) => r.endpoint === "register")!.headers["x-openai-fedramp"]).toBe("true")
      expect(requests.find((r) => r.endpoint === "whoami")!.headers["x-openai-fedramp"]).toBe("true")
      expect(result.state.identity._tag === "Record" && result.state.identity.record.chatgpt_account_is_fedramp).toBe(true)
    }).pipe(Effect.scoped))

  it.live("an access-token JWT in auth.json: verified against the JWKS, its task registered and kept beside auth.json, the file untouched", () =>
    Effect.gen(function*() {
      const { authApiBaseUrl, backend, baseUrl } = yield* start({ recordRequests: true })
      const jwt = yield* backend.issueIdentityJwt({ accountId: "account-jwt", userId: "user-jwt" })
      const document = agentIdentityLoginDocument(Redacted.make(jwt))
      const store = yield* KeyStore.makeMemory(document)
      const result = yield* flow(baseUrl).pipe(Effect.provide(setup(Layer.succeed(KeyStore.KeyStore, store), baseUrl, authApiBaseUrl)))
      expect(result.whoami).toMatchObject({ status: 200, body: { scheme: "AgentAssertion", account_id: "account-jwt" } })
      expect(result.task.agentRuntimeId).toBe(Either.getOrThrow(decodeUnverified(jwt)).agent_runtime_id)
      const calls = yield* backend.calls
      expect([calls.jwks, calls.register, calls.task, calls.biscuit]).toEqual([1, 0, 1, 0])
      expect(result.state.login._tag).toBe("AgentIdentityJwt")
      expect(result.state.jwtTasks.get(KeyStore.jwtTaskKey("2026-06", result.task.agentRuntimeId))).toBe(result.task.taskId)
      // A second ensureTask reuses the kept task: no request, no JWKS fetch.
      const again = yield* Effect.flatMap(AuthManager, (a) => a.ensureTask).pipe(
        Effect.provide(setup(Layer.succeed(KeyStore.KeyStore, store), baseUrl, authApiBaseUrl))
      )
      expect(again).toMatchObject({ taskId: result.task.taskId, reused: true })
      expect((yield* backend.calls).task).toBe(1)
    }).pipe(Effect.scoped))

  it.live("an access-token JWT from the environment wins over auth.json's login and nothing is written to auth.json", () =>
    Effect.gen(function*() {
      const { authApiBaseUrl, backend, baseUrl } = yield* start({ recordRequests: true })
      const chatgpt = yield* backend.issueLogin({ accountId: "account-file", userId: "user-file" })
      const jwt = yield* backend.issueIdentityJwt({ accountId: "account-env", userId: "user-env" })
      const store = yield* KeyStore.makeMemory(chatgpt, { accessToken: Redacted.make(jwt) })
      const before = JSON.stringify(chatgpt)
      const result = yield* flow(baseUrl).pipe(Effect.provide(setup(Layer.succeed(KeyStore.KeyStore, store), baseUrl, authApiBaseUrl)))
      expect(result.whoami).toMatchObject({ status: 200, body: { account_id: "account-env" } })
      expect(result.state.identity._tag).toBe("Absent")
      expect(JSON.stringify(chatgpt)).toBe(before)
      expect((yield* backend.calls).register).toBe(0)
    }).pipe(Effect.scoped))

  it.live("a record Codex wrote (PKCS#8 v1 key, no task): reused byte for byte; the task and the seed's fields are added, nothing else changes", () =>
    Effect.gen(function*() {
      const { authApiBaseUrl, backend, baseUrl } = yield* start({ recordRequests: true })
      const login = yield* backend.issueLogin({ accountId: "account-codex", userId: "user-codex" })
      // Codex registered this agent itself; the backend must know its key.
      const seed = new Uint8Array(32).fill(9)
      const key = C.keyFromSeed(seed)
      const v1 = C.encodeBase64(C.encodePkcs8V1({ seed }))
      const agentRuntimeId = yield* backend.registerAgent({ publicKey: key.publicKey, accountId: "account-codex", userId: "user-codex" })
      const codexRecord = {
        agent_runtime_id: agentRuntimeId,
        agent_private_key: v1,
        account_id: "account-codex",
        chatgpt_user_id: "user-codex",
        email: "",
        plan_type: "plus",
        chatgpt_account_is_fedramp: false
      }
      const document: AuthDocument = { ...login, agent_identity: codexRecord }
      const store = yield* KeyStore.makeMemory(document)
      const result = yield* flow(baseUrl).pipe(Effect.provide(setup(Layer.succeed(KeyStore.KeyStore, store), baseUrl, authApiBaseUrl)))
      expect(result.whoami.status).toBe(200)
      expect((yield* backend.calls).register).toBe(0)
      const record = result.state.identity._tag === "Record" ? result.state.identity.record : undefined
      expect({ ...record, agent_private_key: record && Redacted.value(record.agent_private_key) }).toEqual({
        ...codexRecord,
        task_id: result.task.taskId,
        workspace_id: "account-codex",
        registered_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
      })
    }).pipe(Effect.scoped))
})

describe("a stored access token that does not verify", () => {
  it.live("forged, expired, wrong audience or issuer, kid-less: ensureTask refuses before any registration, and nothing is written", () =>
    Effect.gen(function*() {
      const { authApiBaseUrl, backend, baseUrl } = yield* start({ recordRequests: true })
      const good = yield* backend.issueIdentityJwt({ accountId: "a", userId: "u" })
      const [head, body] = good.split(".")
      const bad = {
        forged: `${head}.${body}.${"A".repeat(342)}`,
        expired: yield* backend.issueIdentityJwt({ accountId: "a", userId: "u", ttlSeconds: -3600 }),
        audience: yield* backend.issueIdentityJwt({ accountId: "a", userId: "u", audience: "other" }),
        issuer: yield* backend.issueIdentityJwt({ accountId: "a", userId: "u", issuer: "https://evil.example/" }),
        kidless: yield* backend.issueIdentityJwt({ accountId: "a", userId: "u", kid: null })
      }
      // One process (one AuthManager) that verified a good token must still refuse each bad one put in its place.
      const store = yield* KeyStore.makeMemory(agentIdentityLoginDocument(Redacted.make(good)), {})
      const tasksBefore = yield* Effect.gen(function*() {
        const auth = yield* AuthManager
        yield* auth.ensureTask
        const before = (yield* backend.calls).task
        for (const [why, jwt] of Object.entries(bad)) {
          yield* store.saveLogin(agentIdentityLoginDocument(Redacted.make(jwt)))
          const error = yield* Effect.flip(auth.ensureTask)
          expect([why, error._tag]).toEqual([why, "AgentIdentityJwtError"])
          expect((yield* store.read).jwtTasks.size).toBe(1) // the good identity's task only
        }
        return before
      }).pipe(Effect.provide(setup(Layer.succeed(KeyStore.KeyStore, store), baseUrl, authApiBaseUrl)))
      expect((yield* backend.calls).task).toBe(tasksBefore)
    }).pipe(Effect.scoped))
})

describe("what 2026-06 writes, read by both Codex readers", () => {
  it.effect("a new record, a record with a task, and a Codex record with its task are read by the seed's and today's Codex", () =>
    Effect.gen(function*() {
      const document = { auth_mode: "chatgpt", OPENAI_API_KEY: null, last_refresh: "2026-08-20T12:00:00.123456789Z" }
      expect(codexReaders(document)).toEqual({ seed: null, current: null })
      expect(codexReaders({ ...document, agent_identity: { workspace_id: "a", agent_runtime_id: "r", agent_private_key: "k", registered_at: "t" } }).current)
        .toBe("auth.json.agent_identity.account_id: missing")
      expect(codexReaders({ ...document, agent_identity: { agent_runtime_id: "r", agent_private_key: "k", account_id: "a", chatgpt_user_id: "u", plan_type: "plus", chatgpt_account_is_fedramp: false } }).seed)
        .toBe("auth.json.agent_identity.workspace_id: missing")
    }))
})
