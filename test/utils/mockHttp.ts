/** An in-memory HttpClient for fault tests: each request is answered by a handler, no sockets. */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Config from "../../src/Domain/Settings.js"
import type { AuthDocument } from "../../src/Domain/AuthDocument.js"
import * as KeyStore from "../../src/services/KeyStore.js"
import * as Layers from "../../src/manager/Layers.js"

/** Which endpoint a request is for. */
export type Endpoint = "biscuit" | "register" | "task" | "other"

export const endpointOf = (url: URL): Endpoint =>
  url.pathname.endsWith("/authenticate_app_v2")
    ? "biscuit"
    : url.pathname.endsWith("/v1/agent/register")
    ? "register"
    : url.pathname.endsWith("/task/register")
    ? "task"
    : "other"

/** What a handler answers: a web Response, a connection failure, or nothing at all (hang). */
export type Answer = Response | "refused" | "hang"

export const BASE = "https://chatgpt.com/backend-api"

/** A biscuit answer that works. */
export const biscuitOk = () => new Response(null, { status: 200, headers: { "x-openai-authorization": "hb_mock" } })

/** An HttpClient whose answers come from `handler`; `seen` records every request and the clock's time at it. */
export const mockClient = (
  handler: (endpoint: Endpoint, request: HttpClientRequest.HttpClientRequest, n: number) => Answer
) => {
  const seen: Array<{ readonly endpoint: Endpoint; readonly request: HttpClientRequest.HttpClientRequest; readonly at: number }> = []
  const counts: Record<Endpoint, number> = { biscuit: 0, register: 0, task: 0, other: 0 }
  const client = HttpClient.make((request, url) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) => {
      const endpoint = endpointOf(url)
      seen.push({ endpoint, request, at })
      const answer = handler(endpoint, request, counts[endpoint]++)
      if (answer === "hang") return Effect.never
      if (answer === "refused") {
        const cause = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })
        return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause }))
      }
      return Effect.succeed(HttpClientResponse.fromWeb(request, answer))
    })
  )
  return { client, seen, counts }
}

/** The AuthManager over a mocked HttpClient and a memory KeyStore holding `document` (protocol 2026-04 unless given). */
export const mockedAuthLayer = (client: HttpClient.HttpClient, document: AuthDocument, settings: Config.Options = {}) =>
  Layers.authManager.pipe(
    Layer.provideMerge(Layer.mergeAll(
      KeyStore.layerMemory(document),
      Config.layer({ baseUrl: BASE, protocol: "2026-04", ...settings }),
      Layer.succeed(HttpClient.HttpClient, client)
    ))
  )
