/** Issue 7: a 401 to an AgentAssertion replaces the task and retries once, only with a replayable body. */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { AuthManager } from "../../src/manager/AuthManager.js"
import * as HttpMiddleware from "../../src/http/middleware.js"
import { KeyStore } from "../../src/services/KeyStore.js"
import { liveAuthLayer, startBackend } from "../utils/backend.js"

const whoami = (url: string, request?: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const response = yield* (yield* HttpMiddleware.BackendClient).execute(request ?? HttpClientRequest.get(url))
    return { status: response.status, body: (yield* response.json) as Record<string, string> }
  })

/** The status of a GET through the backend client (whatever the body). */
const whoamiStatus = (url: string) =>
  Effect.flatMap(HttpMiddleware.BackendClient, (client) => client.execute(HttpClientRequest.get(url))).pipe(Effect.map((r) => r.status))

describe("401 recovery", () => {
  it.live("a revoked task: the 401 is answered by a new task and one retry that succeeds", () =>
    Effect.gen(function*() {
      const { backend, baseUrl, document } = yield* startBackend()
      const url = `${baseUrl}/v1/whoami`
      const result = yield* Effect.gen(function*() {
        const first = yield* (yield* AuthManager).ensureTask
        yield* backend.revokeTask(first.taskId)
        const before = (yield* backend.calls).task
        const answer = yield* whoami(url).pipe(Effect.provide(HttpMiddleware.layer()))
        const after = (yield* backend.calls).task
        const state = yield* (yield* KeyStore).read
        return { first, answer, registered: after - before, state }
      }).pipe(Effect.provide(liveAuthLayer({ baseUrl, document })))
      expect(result.answer.status).toBe(200)
      expect(result.answer.body["scheme"]).toBe("AgentAssertion")
      expect(result.answer.body["task_id"]).not.toBe(result.first.taskId)
      expect(result.registered).toBe(1)
      expect(result.state.identity._tag === "Record" && result.state.identity.record.background_task_id).toBe(result.answer.body["task_id"])
      const whoamis = (yield* backend.requests).filter((r) => r.endpoint === "whoami")
      expect(whoamis.length).toBe(2)
    }).pipe(Effect.scoped))

  it.live("a streamed body is not replayed; renewal can be turned off", () =>
    Effect.gen(function*() {
      const { backend, baseUrl, document } = yield* startBackend()
      const url = `${baseUrl}/v1/whoami`
      const outcome = yield* Effect.gen(function*() {
        const task = yield* (yield* AuthManager).ensureTask
        yield* backend.revokeTask(task.taskId)
        const streamed = HttpClientRequest.get(url).pipe(
          HttpClientRequest.setBody(HttpClientRequest.bodyStream(HttpClientRequest.get(url), Stream.make(new Uint8Array(1))).body)
        )
        const noReplay = yield* whoami(url, streamed).pipe(Effect.provide(HttpMiddleware.layer()))
        const off = yield* whoami(url).pipe(Effect.provide(HttpMiddleware.layer({ renewRejectedTask: false })))
        return { noReplay, off, tasks: (yield* backend.calls).task }
      }).pipe(Effect.provide(liveAuthLayer({ baseUrl, document })))
      expect(outcome.noReplay.status).toBe(401)
      expect(outcome.off.status).toBe(401)
      expect(outcome.tasks).toBe(1)
      expect(HttpMiddleware.isReplayable(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyText("x")))).toBe(true)
    }).pipe(Effect.scoped))

  it.live("a second 401 (to the retry with the new task) is returned as is: one renewal, two requests", () =>
    Effect.gen(function*() {
      const { backend, baseUrl, document } = yield* startBackend({
        fault: (endpoint) => endpoint === "whoami" ? Option.some(Effect.succeed(HttpServerResponse.empty({ status: 401 }))) : Option.none()
      })
      const url = `${baseUrl}/v1/whoami`
      const outcome = yield* Effect.gen(function*() {
        yield* (yield* AuthManager).ensureTask
        const answer = yield* whoamiStatus(url).pipe(Effect.provide(HttpMiddleware.layer()))
        return { status: answer, calls: yield* backend.calls }
      }).pipe(Effect.provide(liveAuthLayer({ baseUrl, document })))
      expect(outcome.status).toBe(401)
      expect(outcome.calls.whoami).toBe(2)
      expect(outcome.calls.task).toBe(2)
    }).pipe(Effect.scoped))
})
