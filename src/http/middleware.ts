/**
 * The HttpClient middleware for embedding applications: every request gets `Authorization` from the
 * AuthManager — an AgentAssertion where one may be used, else `Bearer` — and `ChatGPT-Account-ID`
 * only beside a Bearer token (protocol A.8).
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { AuthManager, type AuthorizationHeader } from "../manager/AuthManager.js"
import { parseAgentAssertion } from "../crypto/assertion.js"
import type { AgentRuntimeId, TaskId } from "../Domain/Ids.js"

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

/** Whether a request can be sent a second time: no body, or a body held as bytes. */
export const isReplayable = (request: HttpClientRequest.HttpClientRequest): boolean =>
  request.body._tag === "Empty" || request.body._tag === "Uint8Array"

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
        Effect.map((header) => ({
          request: Option.match(header, { onNone: () => request, onSome: (h) => withAuthorization(request, h) }),
          header
        }))
      )
    const renew = options.renewRejectedTask !== false
    return (client: HttpClient.HttpClient): HttpClient.HttpClient =>
      HttpClient.make((request) =>
        Effect.gen(function*() {
          const first = yield* authorize(request)
          const response = yield* client.execute(first.request)
          const header = first.header
          if (
            !renew || response.status !== 401 || !isReplayable(request) ||
            Option.isNone(header) || header.value.scheme !== "AgentAssertion"
          ) return response
          // The backend rejected the task: which one was it? (The header names it.)
          const rejected = parseAgentAssertion(Redacted.value(header.value.value))
          if (Either.isLeft(rejected)) return response
          const renewed = yield* auth.renewTask({
            agentRuntimeId: rejected.right.agentRuntimeId as AgentRuntimeId,
            taskId: rejected.right.taskId as TaskId
          }).pipe(
            Effect.tapError((e) => Effect.logWarning(`could not replace the rejected agent task: ${e._tag}: ${e.message}`)),
            Effect.option
          )
          if (Option.isNone(renewed)) return response
          return yield* Effect.flatMap(authorize(request), (second) => client.execute(second.request))
        })
      )
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
