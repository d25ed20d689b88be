/** The HttpClient middleware (seed tests 28-31): AgentAssertion without ChatGPT-Account-ID, else Bearer with it. */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as C from "../../src/crypto/index.js"
import * as HttpMiddleware from "../../src/http/middleware.js"
import { AgentRuntimeId, TaskId } from "../../src/Domain/Ids.js"
import { start } from "../../src/backend/server.js"
import { liveAuthLayer, startBackend } from "../utils/backend.js"

const whoami = (baseUrl: string) =>
  Effect.gen(function*() {
    const client = yield* HttpMiddleware.BackendClient
    const response = yield* client.execute(
      HttpClientRequest.get(`${baseUrl}/v1/whoami`).pipe(HttpClientRequest.setHeader("chatgpt-account-id", "preset"))
    )
    return { status: response.status, body: (yield* response.json) as Record<string, string> }
  })

describe("HttpClient middleware", () => {
  it.live("28: a request carries a verifiable AgentAssertion for the stored task and no ChatGPT-Account-ID", () =>
    Effect.gen(function*() {
      const { backend, baseUrl, document } = yield* startBackend()
      const live = liveAuthLayer({ baseUrl, document })
      const result = yield* Effect.gen(function*() {
        const task = yield* (yield* AuthManager).ensureTask
        const first = yield* whoami(baseUrl).pipe(Effect.provide(HttpMiddleware.layer()))
        const second = yield* whoami(baseUrl).pipe(Effect.provide(HttpMiddleware.layer()))
        return { task, first, second }
      }).pipe(Effect.provide(live))
      expect(result.first).toEqual({
        status: 200,
        body: { scheme: "AgentAssertion", agent_runtime_id: result.task.agentRuntimeId, task_id: result.task.taskId, account_id: "account-123" }
      })
      expect(result.second.status).toBe(200)
      const calls = (yield* backend.requests).filter((r) => r.endpoint === "whoami")
      expect(calls.length).toBe(2)
      for (const call of calls) {
        expect(call.headers["authorization"]).toMatch(/^AgentAssertion .+/)
        expect(call.headers["chatgpt-account-id"]).toBeUndefined()
      }
    }).pipe(Effect.scoped))

  it.live("an untrusted base URL gets Bearer with ChatGPT-Account-ID, even with a stored task", () =>
    Effect.gen(function*() {
      const { backend, baseUrl, document } = yield* startBackend()
      const result = yield* Effect.gen(function*() {
        yield* (yield* AuthManager).ensureTask
        return yield* whoami(baseUrl).pipe(Effect.provide(HttpMiddleware.layer()))
      }).pipe(Effect.provide(liveAuthLayer({ baseUrl, document, settings: { trustedHosts: [] } })))
      expect(result.body).toEqual({ scheme: "Bearer", account_id: "account-123" })
      const call = (yield* backend.requests).find((r) => r.endpoint === "whoami")!
      expect(call.headers["chatgpt-account-id"]).toBe("account-123")
    }).pipe(Effect.scoped))

  it.live("30: trust follows the configured ChatGPT base, not the request's host; the scoped middleware sends nothing to another host", () =>
    Effect.gen(function*() {
      const { backend, baseUrl, document } = yield* startBackend()
      const seed = new Uint8Array(32).fill(7)
      const stored = {
        ...document,
        agent_identity: {
          workspace_id: "account-123",
          chatgpt_user_id: "user-123",
          agent_runtime_id: "agent-123",
          agent_private_key: C.encodePrivateKeyBase64(C.keyFromSeed(seed)),
          registered_at: "2026-04-13T12:00:00Z",
          background_task_id: "task-123"
        }
      }
      // Codex's ARC monitor: the header is built for the configured base (chatgpt.com) ...
      const live = liveAuthLayer({ baseUrl: "https://chatgpt.com/backend-api", document: stored, settings: { trustedHosts: [] } })
      const header = yield* Effect.flatMap(AuthManager, (a) => a.authorizationHeader).pipe(Effect.provide(live))
      const verified = C.verifyAgentAssertion(Redacted.value(Option.getOrThrow(header).value), C.keyFromSeed(seed).publicKey)
      expect(Either.map(verified, (v) => [v.agentRuntimeId, v.taskId])).toEqual(Either.right(["agent-123", "task-123"]))
      // ... but a request to any other origin (here the local backend) leaves the middleware untouched.
      yield* whoami(baseUrl).pipe(Effect.provide(HttpMiddleware.layer({ renewRejectedTask: false })), Effect.provide(live))
      const call = (yield* backend.requests).find((r) => r.endpoint === "whoami")!
      expect(call.headers["authorization"]).toBeUndefined()
      expect(call.headers["chatgpt-account-id"]).toBe("preset")
    }).pipe(Effect.scoped))

  it.live("a request to another server (127.0.0.2) carries no Authorization and no ChatGPT-Account-ID, trusted base or not", () =>
    Effect.gen(function*() {
      const { baseUrl, document } = yield* startBackend()
      const other = yield* start({ host: "127.0.0.2", recordRequests: true })
      for (const trustedHosts of [["127.0.0.1"], []]) {
        const live = liveAuthLayer({ baseUrl, document, settings: { trustedHosts } })
        const result = yield* Effect.gen(function*() {
          yield* (yield* AuthManager).ensureTask
          const own = yield* whoami(baseUrl)
          yield* whoami(other.baseUrl)
          return own
        }).pipe(Effect.provide(HttpMiddleware.layer()), Effect.provide(live))
        expect(result.body["scheme"]).toBe(trustedHosts.length === 0 ? "Bearer" : "AgentAssertion")
      }
      const leaked = (yield* other.backend.requests).filter((r) => r.endpoint === "whoami")
      expect(leaked.length).toBe(2)
      for (const request of leaked) {
        expect(request.headers["authorization"]).toBeUndefined()
        expect(request.headers["chatgpt-account-id"]).toBe("preset")
      }
    }).pipe(Effect.scoped))

  it.live("ensureTask: true registers on first use; a failure falls back to Bearer", () =>
    Effect.gen(function*() {
      const { baseUrl, document } = yield* startBackend()
      const body = yield* whoami(baseUrl).pipe(
        Effect.provide(HttpMiddleware.layer({ ensureTask: true })),
        Effect.provide(liveAuthLayer({ baseUrl, document }))
      )
      expect(body.body["scheme"]).toBe("AgentAssertion")
      const failing = yield* whoami(baseUrl).pipe(
        Effect.provide(HttpMiddleware.layer({ ensureTask: true })),
        Effect.provide(Layer.fresh(liveAuthLayer({ baseUrl, document, settings: { mode: "disabled" } })))
      )
      expect(failing.body["scheme"]).toBe("Bearer")
    }).pipe(Effect.scoped))
})

describe("withAuthorization", () => {
  it("keeps method, URL, params, body and other headers; replaces the account id by the scheme's rule", () => {
    const request = HttpClientRequest.post("http://127.0.0.1:9/responses?x=1").pipe(
      HttpClientRequest.setUrlParam("y", "2"),
      HttpClientRequest.setHeaders({ "chatgpt-account-id": "preset", "x-other": "kept" }),
      HttpClientRequest.bodyText("{\"a\":1}", "application/json")
    )
    const task = Option.some({ agentRuntimeId: AgentRuntimeId.make("agent-1"), taskId: TaskId.make("task-1") })
    // 2026-04: no account id beside an assertion (the caller's preset one is removed).
    const assertion = HttpMiddleware.withAuthorization(request, {
      scheme: "AgentAssertion",
      value: Redacted.make("AgentAssertion abc"),
      accountId: Option.none(),
      fedramp: false,
      task
    })
    expect([assertion.method, assertion.url, assertion.headers["x-other"], assertion.headers["authorization"]])
      .toEqual(["POST", request.url, "kept", "AgentAssertion abc"])
    expect(assertion.headers["chatgpt-account-id"]).toBeUndefined()
    expect(assertion.urlParams).toEqual(request.urlParams)
    expect(assertion.body).toBe(request.body)
    const bearer = HttpMiddleware.withAuthorization(request, {
      scheme: "Bearer",
      value: Redacted.make("Bearer t"),
      accountId: Option.some("acct"),
      fedramp: false,
      task: Option.none()
    })
    expect(bearer.headers["chatgpt-account-id"]).toBe("acct")
    expect(bearer.headers["x-openai-fedramp"]).toBeUndefined()
    // 2026-06: the account (and a FedRAMP account's flag) ride beside the assertion.
    const current = HttpMiddleware.withAuthorization(request, {
      scheme: "AgentAssertion",
      value: Redacted.make("AgentAssertion abc"),
      accountId: Option.some("acct"),
      fedramp: true,
      task
    })
    expect([current.headers["chatgpt-account-id"], current.headers["x-openai-fedramp"]]).toEqual(["acct", "true"])
  })
})
