/**
 * The HttpClient middleware for embedding applications: every request gets `Authorization` from the
 * AuthManager — an AgentAssertion where one may be used, else `Bearer` — and `ChatGPT-Account-ID`
 * only beside a Bearer token (protocol A.8).
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { AuthManager, type AuthorizationHeader } from "../AuthManager.js"

/** Middleware options. */
export interface Options {
  /** Run `ensureTask` (network, once; failures fall back to Bearer) before the first header. Default false. */
  readonly ensureTask?: boolean | undefined
}

/**
 * The request with `Authorization` set and `ChatGPT-Account-ID` set beside a Bearer token, removed
 * beside an AgentAssertion. Rebuilt from its parts: `HttpClientRequest.modify` merges headers and
 * cannot remove one.
 */
export const withAuthorization = (
  request: HttpClientRequest.HttpClientRequest,
  header: AuthorizationHeader
): HttpClientRequest.HttpClientRequest => {
  const accountId = header.scheme === "AgentAssertion" ? Option.none() : header.accountId
  const withAuth = Headers.set(Headers.remove(request.headers, "chatgpt-account-id"), "authorization", Redacted.value(header.value))
  const headers = Option.isSome(accountId) ? Headers.set(withAuth, "chatgpt-account-id", accountId.value) : withAuth
  return HttpClientRequest.make(request.method)(request.url, {
    urlParams: request.urlParams,
    headers,
    ...(Option.isSome(request.hash) ? { hash: request.hash.value } : {}),
    ...(request.method === "GET" || request.method === "HEAD" ? {} : { body: request.body })
  } as HttpClientRequest.Options.NoUrl)
}

/** Returns a function that wraps an HttpClient so each request is authorized. */
export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const auth = yield* AuthManager
    const prepare = options.ensureTask === true
      ? yield* Effect.cached(
        auth.ensureTask.pipe(
          Effect.tapError((e) => Effect.logWarning(`agent task registration failed; using bearer: ${e._tag}: ${e.message}`)),
          Effect.ignore
        )
      )
      : Effect.void
    const authorize = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.zipRight(prepare, auth.authorizationHeaderOrBearer).pipe(
        Effect.map(Option.match({
          onNone: () => request,
          onSome: (header) => withAuthorization(request, header)
        }))
      )
    return (client: HttpClient.HttpClient): HttpClient.HttpClient => HttpClient.mapRequestEffect(client, authorize)
  })

/** Replaces the ambient HttpClient with one that authorizes every request. */
export const layer = (options: Options = {}): Layer.Layer<HttpClient.HttpClient, never, AuthManager | HttpClient.HttpClient> =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.gen(function*() {
      const wrap = yield* make(options)
      return wrap(yield* HttpClient.HttpClient)
    })
  )
