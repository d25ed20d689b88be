/**
 * The identity proxy (a sidecar for gateways in any language): listens on loopback and forwards every request
 * to the backend's origin, signed with the identity of the account it names.
 *
 * - The account is the request's `ChatGPT-Account-ID`; a user (when the store holds several logins of the
 *   account) is `X-Agent-Identity-User`, which is not forwarded. A session key (default header `session_id`,
 *   the conversation id Codex sends; forwarded unchanged) makes the request sign with that session's own task.
 * - Any incoming `Authorization` is dropped; the header is chosen by the HttpClient middleware's rules
 *   (`http/middleware.ts`): on the backend's origin an AgentAssertion, else `Bearer` with the account's login;
 *   on another trusted host an AgentAssertion only.
 * - Answers stream through as the upstream produces them (chunk by chunk, no buffering: SSE works).
 * - A 401 to an AgentAssertion is recovered once: the task is replaced (`IdentityPool.recover`) and the request
 *   is sent again with the same body, which the proxy keeps for that (up to `maxRequestBodyBytes`); of the 401's
 *   own body at most 64 KiB is read.
 * - Hop-by-hop headers (RFC 9110 §7.6.1: the fixed ones and those a `Connection` header names) are not
 *   forwarded, either way.
 * - Refusals are JSON `{"error":{"code","message"}}`: 400 no account header, 404 account not held, 409 several
 *   users and none named, 413 body too large, 401 a rejected task that could not be replaced, 502 upstream
 *   unreachable, 503 no credential for the account.
 *   No refusal or log line carries a credential.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Scope from "effect/Scope"
import { createServer } from "node:http"
import type { AuthError } from "../Domain/Errors.js"
import { Settings } from "../Domain/Settings.js"
import { scopeOf, withAuthorization, withoutTraceHeaders } from "../http/middleware.js"
import type { AuthorizationHeader } from "../manager/AuthManager.js"
import { IdentityPool, type PoolRequest } from "./IdentityPool.js"
import * as Metrics from "./Metrics.js"

/** Proxy options. */
export interface Options {
  /** Where to forward (an origin; a path is ignored). Default: the origin of the settings' base URL. */
  readonly upstream?: string | undefined
  /** The header naming a session, lower case; null: no per-session tasks. Default `session_id`. */
  readonly sessionHeader?: string | null | undefined
  /** The header naming the user of an account with several logins, lower case. Default `x-agent-identity-user`. */
  readonly userHeader?: string | undefined
  /** The largest request body accepted (kept for a replay after a 401). Default 32 MiB. */
  readonly maxRequestBodyBytes?: number | undefined
}

/** Where `serve` listens. */
export interface ServeOptions extends Options {
  /** A loopback address (default `127.0.0.1`): the proxy signs for whoever reaches it. */
  readonly host?: string | undefined
  /** 0 (default) picks a free port. */
  readonly port?: number | undefined
}

/** The default session header: the conversation id Codex sends with each request. */
export const DEFAULT_SESSION_HEADER = "session_id"
/** The default user header. */
export const DEFAULT_USER_HEADER = "x-agent-identity-user"
/** The default cap of a request body. */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 32 * 1024 * 1024

const ACCOUNT_HEADER = "chatgpt-account-id"

/** Headers of one hop (RFC 9110 §7.6.1) and those the proxy sets itself: never forwarded. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  // The proxy reads the whole body before it forwards it: a client's 100-continue is not the backend's business.
  "expect"
]

/** The hop-by-hop headers of a message: the fixed ones, and those its `Connection` header names (RFC 9110 §7.6.1). */
const hopByHop = (headers: Headers.Headers): ReadonlyArray<string> => [
  ...HOP_BY_HOP,
  ...(headers["connection"] ?? "").split(",").map((name) => name.trim().toLowerCase()).filter((name) => name.length > 0)
]

/** How much of a rejected answer's body is read before it is dropped (enough to reuse the connection usually). */
const DISCARDED_BODY_BYTES = 64 * 1024

/** Whether a host name is a loopback address (127.0.0.0/8, ::1, localhost). */
export const isLoopbackHost = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)

const refusal = (status: number, code: string, message: string) =>
  HttpServerResponse.unsafeJson({ error: { code, message } }, { status })

const statusClass = (status: number) => `${Math.floor(status / 100)}xx`

const originOf = (url: string): string | undefined => {
  try {
    return new URL(url).origin
  } catch {
    return undefined
  }
}

/** The refusal of a pool failure that left no header to send. */
const refusalOf = (error: AuthError, userHeader: string) => {
  switch (error._tag) {
    case "AccountNotFoundError":
      return error.reason === "NotHeld"
        ? refusal(404, "account_not_found", "no login is held for the account named by ChatGPT-Account-ID")
        : refusal(409, "account_ambiguous", `the account has logins of several users: name one with ${userHeader}`)
    case "KeyStoreError":
      return refusal(503, "store_unavailable", "the account store could not be read")
    default:
      return refusal(503, "no_credentials", `no agent identity for the account (${error._tag})`)
  }
}

/** The proxy as an HttpApp: every request forwarded to the upstream, signed for its account. */
export const app = (
  options: Options = {}
): Effect.Effect<HttpApp.Default, never, IdentityPool | Settings | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const pool = yield* IdentityPool
    const settings = yield* Settings
    const client = yield* HttpClient.HttpClient
    const upstream = originOf(options.upstream ?? settings.baseUrl) ?? settings.baseUrl
    const sessionHeader = options.sessionHeader === undefined ? DEFAULT_SESSION_HEADER : options.sessionHeader
    const userHeader = options.userHeader ?? DEFAULT_USER_HEADER
    const cap = options.maxRequestBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES

    /** The header for a request, by the middleware's scope rules; failures become refusals. */
    const sign = (target: string, request: PoolRequest) => {
      const scope = scopeOf(target, settings)
      return scope === "backend"
        ? pool.authorizationHeaderOrBearer(request)
        : scope === "assertion"
        ? pool.authorizationHeader(request).pipe(
          Effect.catchIf((e) => e._tag !== "AccountNotFoundError" && e._tag !== "KeyStoreError", () => Effect.succeedNone)
        )
        : Effect.succeedNone
    }

    const send = (request: HttpClientRequest.HttpClientRequest) =>
      client.execute(request).pipe(Effect.locally(HttpClient.currentTracerPropagation, false))

    const handle = Effect.gen(function*() {
      const incoming = yield* HttpServerRequest.HttpServerRequest
      const url = incoming.url
      if (!url.startsWith("/")) return refusal(400, "bad_target", "the request target must be a path")
      const target = `${upstream}${url}`
      if (originOf(target) !== upstream) return refusal(400, "bad_target", "the request target must be a path")
      const accountId = incoming.headers[ACCOUNT_HEADER]
      if (accountId === undefined || accountId.length === 0) {
        return refusal(400, "missing_account", "name the account with the ChatGPT-Account-ID header")
      }
      const sessionKey = sessionHeader === null ? undefined : incoming.headers[sessionHeader]
      const userId = incoming.headers[userHeader]
      const poolRequest: PoolRequest = {
        accountId,
        ...(userId === undefined || userId.length === 0 ? {} : { userId }),
        ...(sessionKey === undefined || sessionKey.length === 0 ? {} : { sessionKey })
      }

      // The body is kept (up to the cap) so that it can be sent again after a 401.
      if (!(Number(incoming.headers["content-length"] ?? "0") <= cap)) {
        return refusal(413, "body_too_large", `request body larger than ${cap} bytes`)
      }
      const hasBody = incoming.method !== "GET" && incoming.method !== "HEAD"
      const body = hasBody
        ? yield* incoming.arrayBuffer.pipe(
          HttpServerRequest.withMaxBodySize(Option.some(cap)),
          Effect.map((buffer) => Option.some(new Uint8Array(buffer))),
          Effect.orElseSucceed(() => Option.none<Uint8Array>())
        )
        : Option.some(new Uint8Array(0))
      if (Option.isNone(body)) return refusal(413, "body_too_large", `request body unreadable or larger than ${cap} bytes`)

      const contentType = incoming.headers["content-type"]
      const forwarded = HttpClientRequest.make(incoming.method)(target, {
        headers: Headers.remove(incoming.headers, [...hopByHop(incoming.headers), "authorization", userHeader, "content-type"]),
        ...(hasBody ? { body: HttpBody.uint8Array(body.value, contentType) } : {})
      } as HttpClientRequest.Options.NoUrl)
      const clean = withoutTraceHeaders(forwarded)
      const signed = (header: Option.Option<AuthorizationHeader>) =>
        Option.match(header, { onNone: () => clean, onSome: (h) => withAuthorization(clean, h) })

      const first = yield* sign(target, poolRequest).pipe(Effect.either)
      if (first._tag === "Left") return refusalOf(first.left, userHeader)
      if (Option.isNone(first.right)) return refusal(503, "no_credentials", "the account has no credential to sign with")
      const header = first.right.value

      let response = yield* send(signed(first.right))
      if (response.status === 401 && Option.isSome(header.task)) {
        // The backend rejected the task the assertion signed for: replace it once and send the same body again.
        // The rejection's body is read only up to a cap, then dropped (with its connection, if longer).
        let discarded = 0
        yield* response.stream.pipe(
          Stream.takeUntil((chunk) => (discarded += chunk.length) >= DISCARDED_BODY_BYTES),
          Stream.runDrain,
          Effect.ignore
        )
        const renewed = yield* pool.recover(poolRequest, header).pipe(
          Effect.tapError((e) => Effect.logWarning(`proxy: could not replace a rejected task for account ${accountId}: ${e._tag}`)),
          Effect.option,
          Effect.map(Option.flatten)
        )
        if (Option.isNone(renewed)) {
          return refusal(401, "task_rejected", "the backend rejected the account's agent task and it could not be replaced")
        }
        response = yield* send(signed(renewed))
      }

      yield* Effect.logDebug(`proxy: ${incoming.method} account ${accountId} → ${response.status}`)
      const length = Number(response.headers["content-length"])
      return HttpServerResponse.stream(response.stream, {
        status: response.status,
        headers: Headers.remove(response.headers, [...hopByHop(response.headers), "content-type"]),
        ...(response.headers["content-type"] === undefined ? {} : { contentType: response.headers["content-type"] }),
        ...(Number.isSafeInteger(length) && length >= 0 ? { contentLength: length } : {})
      })
    }).pipe(
      Effect.catchTags({
        RequestError: () => Effect.succeed(refusal(502, "upstream_unreachable", "the backend could not be reached")),
        ResponseError: () => Effect.succeed(refusal(502, "upstream_failed", "the backend's answer could not be read"))
      }),
      Effect.tap((response) => Metric.increment(Metric.tagged(Metrics.proxyResponses, "status", statusClass(response.status))))
    )
    return handle
  })

/**
 * Serves the proxy on a Node HTTP server for the life of the scope; returns where it listens
 * (`url` is `http://host:port`: point a client's base URL at `url` + the backend's path, e.g. `/backend-api`).
 */
export const serve = (
  options: ServeOptions = {}
): Effect.Effect<
  { readonly url: string; readonly port: number },
  ServeError,
  Scope.Scope | IdentityPool | Settings | HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    if (!isLoopbackHost(host)) {
      return yield* new ServeError({ cause: new Error(`the identity proxy listens on loopback only, not ${host}`) })
    }
    const settings = yield* Settings
    const upstream = originOf(options.upstream ?? settings.baseUrl)
    if (upstream === undefined || scopeOf(`${upstream}/`, settings) === "none") {
      return yield* new ServeError({ cause: new Error("the upstream is neither the backend's origin nor a trusted host: nothing could be signed for it") })
    }
    const handler = yield* app(options)
    const server = yield* NodeHttpServer.make(() => createServer(), { host: host.replace(/^\[|\]$/g, ""), port: options.port ?? 0 })
    yield* HttpServer.serveEffect(handler).pipe(Effect.provideService(HttpServer.HttpServer, server))
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : 0
    const name = host.includes(":") ? `[${host.replace(/^\[|\]$/g, "")}]` : host
    return { url: `http://${name}:${port}`, port }
  })

/** `serve` as a layer (it listens while the layer is alive). */
export const layer = (
  options: ServeOptions = {}
): Layer.Layer<never, ServeError, IdentityPool | Settings | HttpClient.HttpClient> => Layer.scopedDiscard(serve(options))
