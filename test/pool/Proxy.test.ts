/**
 * The identity proxy on loopback in front of the reference backend: 50 accounts at once, each request signed with
 * its own account's identity (checked by the backend's AssertionVerifier); a streamed answer whose chunks reach
 * the client before the upstream has finished; a 401 recovered once with the body sent again; refusals.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as http from "node:http"
import type * as AssertionVerifier from "../../src/backend/AssertionVerifier.js"
import * as Proxy from "../../src/pool/Proxy.js"
import { accountId, startFleet } from "./helpers.js"

/** Serves the proxy in front of a fleet. */
const proxyOf = (fleet: Effect.Effect.Success<ReturnType<typeof startFleet>>, options: Proxy.ServeOptions = {}) =>
  Proxy.serve(options).pipe(Effect.provide(fleet.context))

/** Sends a request through the proxy; the answer's status, headers and text. */
const call = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    return { status: response.status, headers: response.headers, text: yield* response.text }
  }).pipe(Effect.provide(NodeHttpClient.layer), Effect.orDie)

const GATEWAY_SECRET = "Bearer gateway-secret-0123456789"

/** The account whose agent signed a header, by the verifier and the store. */
const signerOf = (verifier: AssertionVerifier.Service, header: string) =>
  Effect.map(Effect.either(verifier.verify(header)), Either.map((agent) => agent.agentRuntimeId))

describe("identity proxy", () => {
  it.live("serves 50 accounts at once, each request signed with its own account's identity", () =>
    Effect.gen(function*() {
      const accounts = 50
      const fleet = yield* startFleet({ accounts })
      const proxy = yield* proxyOf(fleet)
      const answers = yield* Effect.forEach(
        Array.from({ length: accounts }, (_, i) => i),
        (i) =>
          call(HttpClientRequest.get(`${proxy.url}/backend-api/v1/whoami`).pipe(
            HttpClientRequest.setHeaders({ "ChatGPT-Account-ID": accountId(i), authorization: GATEWAY_SECRET })
          )),
        { concurrency: "unbounded" }
      )
      const agents = new Map((yield* fleet.store.list).map((e) => [e.accountId, Option.getOrThrow(e.agentRuntimeId)]))
      expect(new Set(agents.values()).size).toBe(accounts)
      answers.forEach((answer, i) => {
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.text)).toMatchObject({ scheme: "AgentAssertion", account_id: accountId(i), agent_runtime_id: agents.get(accountId(i)) })
      })
      const calls = yield* fleet.backend.calls
      expect(calls.register).toBe(accounts)
      expect(calls.task).toBe(accounts)
      // At the backend: every request carried an assertion of its account's agent, never the gateway's credential.
      const received = (yield* fleet.backend.requests).filter((r) => r.endpoint === "whoami")
      expect(received).toHaveLength(accounts)
      for (const request of received) {
        const account = request.headers["chatgpt-account-id"]!
        expect(request.headers["authorization"]).toMatch(/^AgentAssertion /)
        expect(yield* signerOf(fleet.verifier, request.headers["authorization"]!)).toEqual(Either.right(agents.get(account)))
        expect(JSON.stringify(request.headers)).not.toContain("gateway-secret")
      }
    }).pipe(Effect.scoped), 30_000)

  it.live("a streamed answer reaches the client chunk by chunk: the upstream sends chunk 2 only after the client has chunk 1", () =>
    Effect.gen(function*() {
      const clientHasChunk1 = yield* Deferred.make<void>()
      const upstreamDone = yield* Deferred.make<void>()
      const routes = (verifier: AssertionVerifier.Service) =>
        HttpRouter.empty.pipe(HttpRouter.post(
          "/backend-api/codex/responses",
          Effect.gen(function*() {
            const request = yield* HttpServerRequest.HttpServerRequest
            const verified = yield* Effect.either(verifier.verify(request.headers["authorization"] ?? ""))
            if (Either.isLeft(verified)) return HttpServerResponse.unsafeJson({ error: "rejected" }, { status: 401 })
            const body = yield* Effect.orDie(request.text)
            const encode = (text: string) => new TextEncoder().encode(text)
            const events = Stream.make(encode(`data: {"chunk":1,"task":"${verified.right.taskId}","body":${body}}\n\n`)).pipe(
              Stream.concat(Stream.fromEffect(Effect.as(Deferred.await(clientHasChunk1), encode(`data: {"chunk":2}\n\n`)))),
              Stream.concat(Stream.make(encode("data: [DONE]\n\n"))),
              Stream.ensuring(Deferred.succeed(upstreamDone, undefined))
            )
            return HttpServerResponse.stream(events, { contentType: "text/event-stream" })
          })
        ))
      const fleet = yield* startFleet({ accounts: 2, routes })
      const proxy = yield* proxyOf(fleet)
      const client = yield* HttpClient.HttpClient
      const seen: Array<string> = []
      let text = ""
      const exchange = Effect.gen(function*() {
        const response = yield* client.execute(
          HttpClientRequest.post(`${proxy.url}/backend-api/codex/responses`).pipe(
            HttpClientRequest.setHeaders({ "ChatGPT-Account-ID": accountId(1), accept: "text/event-stream" }),
            HttpClientRequest.bodyText(`{"input":"hello"}`, "application/json")
          )
        )
        expect(response.status).toBe(200)
        expect(response.headers["content-type"]).toBe("text/event-stream")
        yield* response.stream.pipe(
          Stream.decodeText(),
          Stream.runForEach((piece) =>
            Effect.gen(function*() {
              text += piece
              if (text.includes(`"chunk":1`) && !(yield* Deferred.isDone(clientHasChunk1))) {
                // The upstream has not finished: it is waiting for this acknowledgement.
                seen.push(`chunk 1 (upstream done: ${yield* Deferred.isDone(upstreamDone)})`)
                yield* Deferred.succeed(clientHasChunk1, undefined)
              }
            })
          )
        )
      })
      // Buffering would deadlock (the upstream waits for the client): fail instead of hanging.
      yield* exchange.pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the proxy held back chunk 1") }))
      expect(seen).toEqual(["chunk 1 (upstream done: false)"])
      expect(text).toMatch(/^data: \{"chunk":1,"task":"task_[^"]+","body":\{"input":"hello"\}\}\n\ndata: \{"chunk":2\}\n\ndata: \[DONE\]\n\n$/)
    }).pipe(Effect.provide(NodeHttpClient.layer), Effect.scoped), 30_000)

  it.live("a client that goes away mid-stream: the proxy drops its upstream request too", () =>
    Effect.gen(function*() {
      const never = yield* Deferred.make<void>()
      const upstreamEnded = yield* Deferred.make<void>()
      const routes = () =>
        HttpRouter.empty.pipe(HttpRouter.post(
          "/backend-api/codex/responses",
          Effect.succeed(HttpServerResponse.stream(
            Stream.make(new TextEncoder().encode("data: 1\n\n")).pipe(
              Stream.concat(Stream.fromEffect(Effect.as(Deferred.await(never), new Uint8Array(0)))),
              Stream.ensuring(Deferred.succeed(upstreamEnded, undefined))
            ),
            { contentType: "text/event-stream" }
          ))
        ))
      const fleet = yield* startFleet({ accounts: 1, routes })
      const proxy = yield* proxyOf(fleet)
      yield* Effect.async<void>((resume) => {
        const request = http.request({
          host: "127.0.0.1",
          port: proxy.port,
          method: "POST",
          path: "/backend-api/codex/responses",
          headers: { "ChatGPT-Account-ID": accountId(0), "content-type": "application/json" }
        }, (response) => {
          response.once("data", () => {
            request.destroy()
            resume(Effect.void)
          })
        })
        request.end("{}")
      })
      // The upstream's stream is ended by the proxy's abort, not by the upstream itself (it waits forever).
      yield* Deferred.await(upstreamEnded).pipe(
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the upstream request outlived its client") })
      )
      expect(yield* Deferred.isDone(never)).toBe(false)
    }).pipe(Effect.scoped), 30_000)

  it.live("a 401 is recovered once: a new task, the same body sent again; an upstream that keeps refusing gets one retry", () =>
    Effect.gen(function*() {
      const received: Array<{ readonly path: string; readonly task: string | null; readonly body: string }> = []
      const routes = (verifier: AssertionVerifier.Service) => {
        const handler = (always401: boolean) =>
          Effect.gen(function*() {
            const request = yield* HttpServerRequest.HttpServerRequest
            const body = yield* Effect.orDie(request.text)
            const verified = yield* Effect.either(verifier.verify(request.headers["authorization"] ?? ""))
            received.push({ path: request.url, task: Either.isRight(verified) ? verified.right.taskId : null, body })
            if (always401 || Either.isLeft(verified)) return HttpServerResponse.unsafeJson({ error: "rejected" }, { status: 401 })
            return HttpServerResponse.unsafeJson({ task: verified.right.taskId, body })
          })
        return HttpRouter.empty.pipe(
          HttpRouter.post("/backend-api/echo", handler(false)),
          HttpRouter.post("/backend-api/always-401", handler(true))
        )
      }
      const fleet = yield* startFleet({ accounts: 1, routes })
      const proxy = yield* proxyOf(fleet)
      const post = (path: string, body: string) =>
        call(HttpClientRequest.post(`${proxy.url}/backend-api${path}`).pipe(
          HttpClientRequest.setHeaders({ "ChatGPT-Account-ID": accountId(0) }),
          HttpClientRequest.bodyText(body, "application/json")
        ))

      const first = yield* post("/echo", `{"n":1}`)
      expect(first.status).toBe(200)
      const rejected = (JSON.parse(first.text) as { task: string }).task
      yield* fleet.backend.revokeTask(rejected)
      const tasksBefore = (yield* fleet.backend.calls).task

      const body = JSON.stringify({ n: 2, payload: "x".repeat(100_000) })
      const second = yield* post("/echo", body)
      expect(second.status).toBe(200)
      const renewed = (JSON.parse(second.text) as { task: string; body: string })
      expect(renewed.task).not.toBe(rejected)
      expect(renewed.body).toBe(body)
      expect((yield* fleet.backend.calls).task).toBe(tasksBefore + 1)
      expect(received.slice(1).map((r) => [r.task, r.body.length])).toEqual([[null, body.length], [renewed.task, body.length]])

      // Refused again after the recovery: the 401 is the answer, after exactly one replay.
      received.length = 0
      const refused = yield* post("/always-401", `{"n":3}`)
      expect(refused.status).toBe(401)
      expect(received).toHaveLength(2)
      expect(received[0]!.task).not.toBe(received[1]!.task)
      expect((yield* fleet.backend.calls).task).toBe(tasksBefore + 2)
      const events = yield* fleet.store.events
      expect(events.filter((e) => e.action === "renewed")).toHaveLength(2)
    }).pipe(Effect.scoped), 30_000)

  it.live("a 401 whose body never ends is read only up to a cap, then recovered as any other", () =>
    Effect.gen(function*() {
      const routes = (verifier: AssertionVerifier.Service) =>
        HttpRouter.empty.pipe(HttpRouter.post(
          "/backend-api/echo",
          Effect.gen(function*() {
            const request = yield* HttpServerRequest.HttpServerRequest
            const verified = yield* Effect.either(verifier.verify(request.headers["authorization"] ?? ""))
            if (Either.isRight(verified)) return HttpServerResponse.unsafeJson({ task: verified.right.taskId })
            // A rejection that streams forever: reading it whole would never end.
            const chunk = new TextEncoder().encode("x".repeat(16 * 1024))
            return HttpServerResponse.stream(Stream.repeatValue(chunk), { status: 401, contentType: "text/plain" })
          })
        ))
      const fleet = yield* startFleet({ accounts: 1, routes })
      const proxy = yield* proxyOf(fleet)
      const post = call(HttpClientRequest.post(`${proxy.url}/backend-api/echo`).pipe(
        HttpClientRequest.setHeaders({ "ChatGPT-Account-ID": accountId(0) }),
        HttpClientRequest.bodyText("{}", "application/json")
      ))
      const rejected = (JSON.parse((yield* post).text) as { task: string }).task
      yield* fleet.backend.revokeTask(rejected)
      const renewed = yield* post.pipe(
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the proxy kept reading the rejection's body") })
      )
      expect(renewed.status).toBe(200)
      expect((JSON.parse(renewed.text) as { task: string }).task).not.toBe(rejected)
    }).pipe(Effect.scoped), 30_000)

  it.live("hop-by-hop headers, the fixed ones and those a Connection header names, are not forwarded either way", () =>
    Effect.gen(function*() {
      const routes = () =>
        HttpRouter.empty.pipe(HttpRouter.get(
          "/backend-api/headers",
          Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
            HttpServerResponse.unsafeJson({ received: request.headers }, {
              headers: { connection: "x-upstream-hop", "x-upstream-hop": "1", "x-upstream-kept": "1" }
            }))
        ))
      const fleet = yield* startFleet({ accounts: 1, routes })
      const proxy = yield* proxyOf(fleet)
      const answer = yield* Effect.async<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resume) => {
        const request = http.request({
          host: "127.0.0.1",
          port: proxy.port,
          path: "/backend-api/headers",
          headers: {
            "ChatGPT-Account-ID": accountId(0),
            connection: "X-Client-Hop, keep-alive",
            "x-client-hop": "secret-for-the-proxy",
            "x-client-kept": "1",
            "proxy-authorization": "Basic c2VjcmV0"
          }
        }, (response) => {
          let text = ""
          response.on("data", (chunk) => (text += chunk))
          response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers, text })))
        })
        request.end()
      })
      expect(answer.status).toBe(200)
      const received = (JSON.parse(answer.text) as { received: Record<string, string> }).received
      expect(received["x-client-kept"]).toBe("1")
      expect(received["x-client-hop"]).toBeUndefined()
      expect(received["proxy-authorization"]).toBeUndefined()
      expect(answer.headers["x-upstream-kept"]).toBe("1")
      expect(answer.headers["x-upstream-hop"]).toBeUndefined()
    }).pipe(Effect.scoped), 30_000)

  it.live("a session key signs with the session's own task; an untrusted backend host gets the account's Bearer token", () =>
    Effect.gen(function*() {
      const fleet = yield* startFleet({ accounts: 1 })
      const proxy = yield* proxyOf(fleet)
      const whoami = (headers: Record<string, string>) =>
        Effect.map(
          call(HttpClientRequest.get(`${proxy.url}/backend-api/v1/whoami`).pipe(HttpClientRequest.setHeaders({ "ChatGPT-Account-ID": accountId(0), ...headers }))),
          (answer) => JSON.parse(answer.text) as Record<string, string>
        )
      const account = yield* whoami({})
      const session = yield* whoami({ session_id: "conversation-7" })
      const again = yield* whoami({ session_id: "conversation-7" })
      expect(session.task_id).not.toBe(account.task_id)
      expect(again.task_id).toBe(session.task_id)
      expect(session.agent_runtime_id).toBe(account.agent_runtime_id)
      const forwarded = (yield* fleet.backend.requests).filter((r) => r.endpoint === "whoami").map((r) => r.headers["session_id"])
      expect(forwarded).toEqual([undefined, "conversation-7", "conversation-7"])

      const untrusted = yield* startFleet({ accounts: 1, trustedHosts: [] })
      const bearerProxy = yield* proxyOf(untrusted)
      const answer = yield* call(HttpClientRequest.get(`${bearerProxy.url}/backend-api/v1/whoami`).pipe(
        HttpClientRequest.setHeaders({ "ChatGPT-Account-ID": accountId(0), authorization: GATEWAY_SECRET })
      ))
      expect(JSON.parse(answer.text)).toEqual({ scheme: "Bearer", account_id: accountId(0) })
      expect((yield* untrusted.backend.calls).register).toBe(0)
    }).pipe(Effect.scoped), 30_000)

  it.live("an account with logins of several users: the user header chooses one, and is not forwarded", () =>
    Effect.gen(function*() {
      const fleet = yield* startFleet({ accounts: 1 })
      yield* fleet.store.put(yield* fleet.backend.issueLogin({ accountId: accountId(0), userId: "user-b" }), "2026-06")
      const proxy = yield* proxyOf(fleet)
      const get = (headers: Record<string, string>) =>
        call(HttpClientRequest.get(`${proxy.url}/backend-api/v1/whoami`).pipe(
          HttpClientRequest.setHeaders({ "ChatGPT-Account-ID": accountId(0), ...headers })
        ))
      const ambiguous = yield* get({})
      expect([ambiguous.status, JSON.parse(ambiguous.text).error.code]).toEqual([409, "account_ambiguous"])
      const chosen = yield* get({ "X-Agent-Identity-User": "user-b" })
      expect(chosen.status).toBe(200)
      const entries = yield* fleet.store.list
      const agentOfB = entries.find((e) => Option.contains(e.userId, "user-b"))!.agentRuntimeId
      expect(JSON.parse(chosen.text).agent_runtime_id).toEqual(Option.getOrThrow(agentOfB))
      const received = (yield* fleet.backend.requests).filter((r) => r.endpoint === "whoami")
      expect(received.map((r) => r.headers["x-agent-identity-user"])).toEqual([undefined])
    }).pipe(Effect.scoped))

  it.live("refuses with a JSON error: no account header, an account not held, a body past the cap; loopback only", () =>
    Effect.gen(function*() {
      const fleet = yield* startFleet({ accounts: 1 })
      const proxy = yield* proxyOf(fleet, { maxRequestBodyBytes: 1024 })
      const get = (headers: Record<string, string>) =>
        call(HttpClientRequest.get(`${proxy.url}/backend-api/v1/whoami`).pipe(HttpClientRequest.setHeaders(headers)))
      const missing = yield* get({ authorization: GATEWAY_SECRET })
      expect([missing.status, JSON.parse(missing.text).error.code]).toEqual([400, "missing_account"])
      const unknown = yield* get({ "ChatGPT-Account-ID": "account-unknown", authorization: GATEWAY_SECRET })
      expect([unknown.status, JSON.parse(unknown.text).error.code]).toEqual([404, "account_not_found"])
      const large = yield* call(HttpClientRequest.post(`${proxy.url}/backend-api/echo`).pipe(
        HttpClientRequest.setHeaders({ "ChatGPT-Account-ID": accountId(0), authorization: GATEWAY_SECRET }),
        HttpClientRequest.bodyText("x".repeat(2048))
      ))
      expect([large.status, JSON.parse(large.text).error.code]).toEqual([413, "body_too_large"])
      for (const answer of [missing, unknown, large]) {
        expect(answer.headers["content-type"]).toBe("application/json")
        expect(answer.text).not.toContain("gateway-secret")
      }
      // An absolute-form target (a forward-proxy request) is not forwarded anywhere.
      const absolute = yield* Effect.async<{ status: number; text: string }>((resume) => {
        const request = http.request({
          host: "127.0.0.1",
          port: proxy.port,
          path: "http://example.com/backend-api/v1/whoami",
          headers: { "ChatGPT-Account-ID": accountId(0) }
        }, (response) => {
          let text = ""
          response.on("data", (chunk) => (text += chunk))
          response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, text })))
        })
        request.end()
      })
      expect([absolute.status, JSON.parse(absolute.text).error.code]).toEqual([400, "bad_target"])
      expect((yield* fleet.backend.calls).whoami).toBe(0)

      const open = yield* Effect.flip(proxyOf(fleet, { host: "0.0.0.0" }))
      expect(open._tag).toBe("ServeError")
      const elsewhere = yield* Effect.flip(proxyOf(fleet, { upstream: "https://example.com" }))
      expect(elsewhere._tag).toBe("ServeError")
    }).pipe(Effect.scoped))
})

