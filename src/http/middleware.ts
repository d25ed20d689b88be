/**
 * The HttpClient middleware for embedding applications, scoped to the backend: a request to the
 * configured backend's origin gets `Authorization` from the AuthManager (an AgentAssertion where one may
 * be used, else Bearer) and the headers that go beside it; a request to another trusted host gets an
 * AgentAssertion or nothing; every other request passes through untouched, so no credential reaches a
 * host it does not belong to. Requests it authorizes carry no trace-propagation headers.
 *
 * Provide it as Effect's own clients are provided: `layer` gives a `BackendClient` (the app's HttpClient,
 * authorized for the backend), and `make` gives the transformation for a client of your own.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { isTrustedBaseUrl } from "../Domain/Endpoints.js"
import { Settings } from "../Domain/Settings.js"
import { AuthManager, type AuthorizationHeader } from "../manager/AuthManager.js"

/** Middleware options. */
export interface Options {
  /** Run `ensureTask` (network, once; failures fall back to Bearer) before the first header. Default false. */
  readonly ensureTask?: boolean | undefined
  /**
   * When a request signed with an AgentAssertion gets 401, replace the task and retry once — only if the
   * request's body can be sent again (none, or bytes; not a stream). Default true.
   */
  readonly renewRejectedTask?: boolean | undefined
}

/** An HttpClient for the ChatGPT backend: the application's client with the middleware applied. */
export class BackendClient extends Context.Tag("effect-agent-identity/BackendClient")<BackendClient, HttpClient.HttpClient>() {}

const ACCOUNT_HEADER = "chatgpt-account-id"
const FEDRAMP_HEADER = "x-openai-fedramp"

/**
 * The request with `Authorization` set, `ChatGPT-Account-ID` set when the choice names an account (and
 * removed otherwise: the seed's Codex sent none beside an assertion), and `X-OpenAI-Fedramp: true` for a
 * FedRAMP account. Rebuilt from its parts: `HttpClientRequest.modify` merges headers and cannot remove one.
 */
export const withAuthorization = (
  request: HttpClientRequest.HttpClientRequest,
  header: AuthorizationHeader
): HttpClientRequest.HttpClientRequest => {
  let headers = Headers.set(Headers.remove(request.headers, ACCOUNT_HEADER), "authorization", Redacted.value(header.value))
  if (Option.isSome(header.accountId)) headers = Headers.set(headers, ACCOUNT_HEADER, header.accountId.value)
  if (header.fedramp) headers = Headers.set(headers, FEDRAMP_HEADER, "true")
  return withHeaders(request, headers)
}

/** Trace-propagation headers (B3 and W3C) that the application's tracer may have put on a request. */
const TRACE_HEADERS = ["b3", "traceparent", "tracestate"]

/** The request without trace-propagation headers: the application's trace ids are not the backend's business. */
export const withoutTraceHeaders = (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
  TRACE_HEADERS.some((name) => name in request.headers) ? withHeaders(request, Headers.remove(request.headers, TRACE_HEADERS)) : request

const withHeaders = (request: HttpClientRequest.HttpClientRequest, headers: Headers.Headers): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.make(request.method)(request.url, {
    urlParams: request.urlParams,
    headers,
    ...(Option.isSome(request.hash) ? { hash: request.hash.value } : {}),
    ...(request.method === "GET" || request.method === "HEAD" ? {} : { body: request.body })
  } as HttpClientRequest.Options.NoUrl)

/** Whether a request can be sent a second time: no body, or a body held as bytes. */
export const isReplayable = (request: HttpClientRequest.HttpClientRequest): boolean =>
  request.body._tag === "Empty" || request.body._tag === "Uint8Array"

const originOf = (url: string): Option.Option<string> => {
  try {
    const parsed = new URL(url)
    return parsed.username === "" && parsed.password === "" ? Option.some(parsed.origin) : Option.none()
  } catch {
    return Option.none()
  }
}

/** Which credentials a request may carry: everything (the backend), an assertion only (a trusted host), or none. */
export type Scope = "backend" | "assertion" | "none"

/** The scope of a request's URL for the configured backend and trusted hosts. */
export const scopeOf = (url: string, settings: Pick<Settings["Type"], "baseUrl" | "trustedHosts">): Scope => {
  const origin = originOf(url)
  if (Option.isNone(origin)) return "none"
  if (Option.contains(originOf(settings.baseUrl), origin.value)) return "backend"
  return isTrustedBaseUrl(origin.value, settings.trustedHosts) ? "assertion" : "none"
}

/** Returns a function that wraps an HttpClient so requests to the backend (and trusted hosts) are authorized. */
export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const auth = yield* AuthManager
    const settings = yield* Settings
    const prepare = options.ensureTask === true
      ? yield* Effect.cached(
        auth.ensureTask.pipe(
          Effect.tapError((e) => Effect.logWarning(`agent task registration failed; using bearer: ${e._tag}: ${e.message}`)),
          Effect.ignore
        )
      )
      : Effect.void
    const chooseFor = (scope: Scope) =>
      scope === "backend"
        ? auth.authorizationHeaderOrBearer
        : auth.authorizationHeader.pipe(
          Effect.tapError((e) => Effect.logWarning(`no AgentAssertion for a trusted host: ${e._tag}: ${e.message}`)),
          Effect.orElseSucceed(() => Option.none())
        )
    const renew = options.renewRejectedTask !== false
    return (client: HttpClient.HttpClient): HttpClient.HttpClient =>
      HttpClient.make((request) =>
        Effect.gen(function*() {
          const scope = scopeOf(request.url, settings)
          if (scope === "none") return yield* client.execute(request)
          // This wrapper is itself a client, whose tracer has already added its headers: take them off.
          const clean = withoutTraceHeaders(request)
          const authorize = Effect.zipRight(prepare, chooseFor(scope)).pipe(
            Effect.map((header) => ({ request: Option.match(header, { onNone: () => clean, onSome: (h) => withAuthorization(clean, h) }), header }))
          )
          const send = (authorized: HttpClientRequest.HttpClientRequest) =>
            client.execute(authorized).pipe(Effect.locally(HttpClient.currentTracerPropagation, false))
          const first = yield* authorize
          const response = yield* send(first.request)
          const task = Option.flatMap(first.header, (h) => h.task)
          if (!renew || response.status !== 401 || !isReplayable(request) || Option.isNone(task)) return response
          // The backend rejected the task the header signed for: replace it and try once more.
          const renewed = yield* auth.renewTask(task.value).pipe(
            Effect.tapError((e) => Effect.logWarning(`could not replace the rejected agent task: ${e._tag}: ${e.message}`)),
            Effect.option
          )
          if (Option.isNone(renewed)) return response
          return yield* Effect.flatMap(authorize, (second) => send(second.request))
        })
      )
  })

/** A `BackendClient`: the ambient HttpClient with the middleware applied (the ambient one is left as it is). */
export const layer = (options: Options = {}): Layer.Layer<BackendClient, never, AuthManager | Settings | HttpClient.HttpClient> =>
  Layer.effect(
    BackendClient,
    Effect.gen(function*() {
      const wrap = yield* make(options)
      return wrap(yield* HttpClient.HttpClient)
    })
  )
