/** The HttpClient middleware (seed tests 28-31): AgentAssertion without ChatGPT-Account-ID, else Bearer with it. */
import * as HttpClient from "@effect/platform/HttpClient"
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
import { liveAuthLayer, startBackend } from "../utils/backend.js"

const whoami = (baseUrl: string) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
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

  it.live("30: trust follows the configured ChatGPT base, not the request's host (ARC monitor)", () =>
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
      // The local backend does not know this agent and answers 401; renewing the task would go to the
      // configured base (chatgpt.com), which tests never contact.
      yield* whoami(baseUrl).pipe(
        Effect.provide(HttpMiddleware.layer({ renewRejectedTask: false })),
        Effect.provide(liveAuthLayer({ baseUrl: "https://chatgpt.com/backend-api", document: stored, settings: { trustedHosts: [] } }))
      )
      const call = (yield* backend.requests).find((r) => r.endpoint === "whoami")!
      const verified = C.verifyAgentAssertion(call.headers["authorization"]!, C.keyFromSeed(seed).publicKey)
      expect(Either.map(verified, (v) => [v.agentRuntimeId, v.taskId])).toEqual(Either.right(["agent-123", "task-123"]))
      expect(call.headers["chatgpt-account-id"]).toBeUndefined()
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
    const assertion = HttpMiddleware.withAuthorization(request, {
      scheme: "AgentAssertion",
      value: Redacted.make("AgentAssertion abc"),
      accountId: Option.some("acct")
    })
    expect([assertion.method, assertion.url, assertion.headers["x-other"], assertion.headers["authorization"]])
      .toEqual(["POST", request.url, "kept", "AgentAssertion abc"])
    expect(assertion.headers["chatgpt-account-id"]).toBeUndefined()
    expect(assertion.urlParams).toEqual(request.urlParams)
    expect(assertion.body).toBe(request.body)
    const bearer = HttpMiddleware.withAuthorization(request, { scheme: "Bearer", value: Redacted.make("Bearer t"), accountId: Option.some("acct") })
    expect(bearer.headers["chatgpt-account-id"]).toBe("acct")
  })
})
