/**
 * The one HTTP pipeline of the library: send a request with a timeout, read at most 64 KiB of the
 * answer, and map every platform failure once, here, to a tagged error whose text holds no secret.
 * `retrying` applies the retry decision (protocol Decisions: 3 attempts, 429/503 and connection
 * failures, `Retry-After` honoured up to a cap, no blind retry of a POST that may have been seen).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Headers from "@effect/platform/Headers"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Values } from "../Domain/Settings.js"
import {
  HttpStatusError,
  type HttpOperation,
  ResponseDecodeError,
  TimeoutError,
  TransportError
} from "../Domain/Errors.js"
import { issuePaths } from "../Domain/issuePaths.js"
import * as Progress from "../Domain/Progress.js"

/** The most of a response body that is ever read. */
export const MAX_BODY_BYTES = 64 * 1024
/** The most of a response body quoted in an error. */
export const MAX_QUOTED_CHARACTERS = 512

/** What `send` returns for a 2xx answer. */
export interface Reply {
  readonly status: number
  readonly headers: Headers.Headers
  readonly body: string
}

/** One backend call. */
export interface Call {
  readonly operation: HttpOperation
  readonly request: HttpClientRequest.HttpClientRequest
  readonly timeout: Duration.Duration
  /** Values the request carries that must never be quoted back (a server may echo them). */
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}

/** Errors of one call. */
export type CallError = HttpStatusError | TransportError | TimeoutError | ResponseDecodeError

/** Replaces every occurrence of a secret by `<redacted>`. */
export const scrub = (text: string, secrets: ReadonlyArray<Redacted.Redacted<string>>): string => {
  let out = text
  for (const secret of secrets) {
    const value = Redacted.value(secret)
    if (value.length >= 4) out = out.split(value).join("<redacted>")
  }
  return out
}

/** Cut to 512 characters (code points), marked with `...` when cut. */
export const quoteBody = (text: string): string => {
  const chars = Array.from(text)
  return chars.length > MAX_QUOTED_CHARACTERS ? chars.slice(0, MAX_QUOTED_CHARACTERS).join("") + "..." : text
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date. */
export const parseRetryAfter = (value: string | undefined, nowMillis: number): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMillis)
}

const CONNECT_FAILURES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"])

/** Walks an error's `cause` chain for a Node error code. */
const errorCode = (error: unknown): string | undefined => {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

const safeUrl = (request: HttpClientRequest.HttpClientRequest): string => {
  try {
    const url = new URL(request.url)
    url.username = ""
    url.password = ""
    url.search = ""
    url.hash = ""
    return url.toString()
  } catch {
    return "(invalid url)"
  }
}

/** A `Content-Length` value as a number, when it is one (digits only). */
const declaredLength = (value: string | undefined): number | undefined =>
  value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : undefined

/** Reads a body as UTF-8 text, failing once it passes `MAX_BODY_BYTES`. */
const readCapped = <E>(stream: Stream.Stream<Uint8Array, E>) =>
  stream.pipe(
    Stream.mapAccum(0, (total, chunk) => [total + chunk.length, { total: total + chunk.length, chunk }] as const),
    Stream.takeUntil(({ total }) => total > MAX_BODY_BYTES),
    Stream.runCollect,
    Effect.map((chunks) => {
      const parts = Chunk.toReadonlyArray(chunks)
      const total = parts.length === 0 ? 0 : parts[parts.length - 1]!.total
      const bytes = Buffer.concat(parts.map((p) => p.chunk))
      return { tooLarge: total > MAX_BODY_BYTES, text: bytes.subarray(0, MAX_BODY_BYTES).toString("utf8") }
    })
  )

/** Which attempt of how many a `send` is: set by `retrying`, 1 of 1 outside it. */
const currentAttempt = FiberRef.unsafeMake({ attempt: 1, maxAttempts: 1 })

/** Sends one request; a 2xx answer comes back with its body, anything else as a tagged error. */
export const send = (client: HttpClient.HttpClient, call: Call): Effect.Effect<Reply, CallError> => {
  const { operation, request } = call
  const url = safeUrl(request)
  const method = request.method
  const exchange = Effect.gen(function*() {
    const response = yield* client.execute(request)
    const declared = declaredLength(response.headers["content-length"])
    const body = declared !== undefined && declared <= MAX_BODY_BYTES
      // A declared length within the cap: the HTTP parser delivers exactly that many bytes, so the body
      // is read whole. (The response's stream, by contrast, aborts the request once read: that costs a
      // DOMException, and on a keep-alive agent it can reset a socket already handed to the next request.)
      ? yield* Effect.map(
        HttpIncomingMessage.withMaxBodySize(response.arrayBuffer, Option.some(MAX_BODY_BYTES)),
        (bytes) => ({ tooLarge: false, text: Buffer.from(bytes).toString("utf8") })
      )
      // No body at all is a legitimate answer (the biscuit is all headers).
      : yield* readCapped(response.stream).pipe(
        Effect.catchIf((e) => e._tag === "ResponseError" && e.reason === "EmptyBody", () => Effect.succeed({ tooLarge: false, text: "" }))
      )
    if (response.status < 200 || response.status > 299) {
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const retryAfterMillis = parseRetryAfter(response.headers["retry-after"], now)
      // The server's clock, for a hint when it refuses our timestamp (its Date header has whole seconds).
      const serverDate = Date.parse(response.headers["date"] ?? "")
      return yield* new HttpStatusError({
        operation,
        status: response.status,
        method,
        url,
        body: quoteBody(scrub(body.text, call.secrets)),
        ...(retryAfterMillis === undefined ? {} : { retryAfterMillis }),
        ...(Number.isNaN(serverDate) ? {} : { serverClockOffsetMillis: serverDate - now })
      })
    }
    if (body.tooLarge) {
      return yield* new ResponseDecodeError({ operation, url, reason: `response body exceeds ${MAX_BODY_BYTES} bytes` })
    }
    return { status: response.status, headers: response.headers, body: body.text }
  }).pipe(
    Effect.scoped,
    Effect.catchTags({
      RequestError: (error) =>
        Effect.fail(
          new TransportError({
            operation,
            method,
            url,
            reason: error.reason === "Transport" ? (errorCode(error.cause) ?? "connection failed") : error.reason,
            requestSent: !CONNECT_FAILURES.has(errorCode(error.cause) ?? "")
          })
        ),
      ResponseError: (error) =>
        Effect.fail(new TransportError({ operation, method, url, reason: `reading the response failed (${error.reason})`, requestSent: true }))
    }),
    Effect.timeoutFail({
      duration: call.timeout,
      onTimeout: () => new TimeoutError({ operation, method, url, timeoutMillis: Duration.toMillis(call.timeout) })
    })
  )
  return Effect.gen(function*() {
    const { attempt, maxAttempts } = yield* FiberRef.get(currentAttempt)
    const which = { operation, method, url, attempt, maxAttempts }
    yield* Progress.report({ _tag: "Sent", ...which, timeoutMillis: Duration.toMillis(call.timeout) })
    const started = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const elapsed = Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (now) => now - started)
    return yield* exchange.pipe(
      Effect.tap((reply) => Effect.flatMap(elapsed, (elapsedMillis) => Progress.report({ _tag: "Answered", ...which, status: reply.status, elapsedMillis }))),
      Effect.tapError((error) => Effect.flatMap(elapsed, (elapsedMillis) => Progress.report({ _tag: "Failed", ...which, error, elapsedMillis })))
    )
  }).pipe(
    // No stack trace per span: capturing one costs more than the rest of a span (spans stay for tracers).
    Effect.withSpan(`AgentIdentity.${operation}`, { attributes: { "http.method": method, "url.full": url }, captureStackTrace: false }),
    // No b3/traceparent to the backend: the application's trace ids are not the backend's business.
    Effect.locally(HttpClient.currentTracerPropagation, false),
    Effect.locallyWith(Headers.currentRedactedNames, (names) => [...names, "x-openai-authorization"])
  )
}

/** Whether an error may be retried, and after how long at the least. */
/** When a failed attempt is tried again. */
export interface RetryOptions {
  /** The request may be repeated even if the server saw it (timeouts and failures after sending are retried). */
  readonly idempotent: boolean
  /** Every 5xx is retried, not only 503 (2026-06 task registration, where a spare task is harmless). */
  readonly serverErrors?: boolean | undefined
}

const retryDecision = (error: unknown, options: RetryOptions): Option.Option<Option.Option<number>> => {
  const idempotent = options.idempotent
  if (error instanceof HttpStatusError) {
    // 429 and 503 say the server did nothing; other 5xx only where a repeat is harmless.
    const retried = error.status === 429 || error.status === 503 ||
      (options.serverErrors === true && error.status >= 500 && error.status <= 599)
    return retried ? Option.some(Option.fromNullable(error.retryAfterMillis)) : Option.none()
  }
  // Whether a failed request may have had an effect depends on that request: a GET never does.
  if (error instanceof TransportError) {
    return !error.requestSent || idempotent || error.method === "GET" ? Option.some(Option.none()) : Option.none()
  }
  if (error instanceof TimeoutError) return idempotent || error.method === "GET" ? Option.some(Option.none()) : Option.none()
  return Option.none()
}

/**
 * Whether a registration failure is one that retrying could have cured (Codex's retryable class: 429,
 * 5xx, timeouts, connection failures): after the last attempt, such a failure means the bootstrap is
 * unavailable rather than refused.
 */
export const isBootstrapRetryable = (error: unknown): boolean =>
  error instanceof HttpStatusError
    ? error.status === 429 || (error.status >= 500 && error.status <= 599)
    : error instanceof TransportError || error instanceof TimeoutError

/**
 * Runs `attempt` up to `maxAttempts` times. Retried: 429 and 503 (after `Retry-After`, capped),
 * connection failures, timeouts and failures after sending only for a GET or when `idempotent`, other
 * 5xx with `serverErrors`. Delays are exponential with full jitter, capped at `maxDelay`.
 */
export const retrying = (settings: Values["retry"], options: RetryOptions) =>
<A, E, R>(attempt: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const capMillis = Duration.toMillis(settings.maxDelay)
  const baseMillis = Duration.toMillis(settings.baseDelay)
  const maxAttempts = settings.maxAttempts
  const loop = (n: number): Effect.Effect<A, E, R> =>
    Effect.catchAll(Effect.locally(attempt, currentAttempt, { attempt: n + 1, maxAttempts }), (error) => {
      const decision = retryDecision(error, options)
      if (Option.isNone(decision) || n + 1 >= maxAttempts) return Effect.fail(error)
      return Effect.gen(function*() {
        const backoff = Math.min(capMillis, baseMillis * 2 ** n)
        const jittered = Math.round((yield* Random.next) * backoff)
        const delay = Math.min(capMillis, Math.max(jittered, Option.getOrElse(decision.value, () => 0)))
        yield* Effect.logDebug(`retrying after ${delay} ms`)
        if (error instanceof HttpStatusError || error instanceof TransportError || error instanceof TimeoutError) {
          const { method, operation, url } = error
          yield* Progress.report({ _tag: "Retrying", operation, method, url, attempt: n + 2, maxAttempts, delayMillis: delay })
        }
        yield* Effect.sleep(Duration.millis(delay))
        return yield* loop(n + 1)
      })
    })
  return loop(0)
}


/** Decodes a reply's JSON body with a schema; failures name the fields, never their values. */
export const decodeJsonBody = <A, I>(schema: Schema.Schema<A, I>, operation: HttpOperation, url: string) =>
(reply: Reply): Effect.Effect<A, ResponseDecodeError> => {
  let json: unknown
  try {
    json = JSON.parse(reply.body)
  } catch {
    return Effect.fail(new ResponseDecodeError({ operation, url, reason: "the body is not JSON" }))
  }
  // The answers' schemas are synchronous (R is never), so the decoding runs as a plain function.
  const decoded = Schema.decodeUnknownEither(schema)(json)
  return Either.isRight(decoded)
    ? Effect.succeed(decoded.right)
    : Effect.fail(
      new ResponseDecodeError({
        operation,
        url,
        reason: issuePaths(decoded.left.issue, "body").map((at) => `${at} is missing or has the wrong type`).join("; ")
      })
    )
}
