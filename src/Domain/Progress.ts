/**
 * An optional progress hook: the library reports each backend request it sends (which request, which
 * attempt of how many, how long it may take) and each retry it schedules, to a reporter the caller sets
 * for a region of its program with `withReporter`. Nothing is reported when none is set, and the library
 * never prints: what to show, and where, is the caller's (the CLI draws it on a terminal's stderr).
 * Events carry no secret: URLs are stripped of userinfo and query, errors are the library's tagged
 * errors, whose text holds none.
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import type { HttpStatusError, HttpOperation, ResponseDecodeError, TimeoutError, TransportError } from "./Errors.js"

/** Which request, and which attempt of it. */
export interface Request {
  readonly operation: HttpOperation
  readonly method: string
  /** Without userinfo, query or fragment. */
  readonly url: string
  /** 1 for the first. */
  readonly attempt: number
  /** The most attempts this request gets (1 when it is never retried). */
  readonly maxAttempts: number
}

/** A request is sent; it fails after `timeoutMillis` without an answer. */
export interface Sent extends Request {
  readonly _tag: "Sent"
  readonly timeoutMillis: number
}

/** A request was answered with a success status. */
export interface Answered extends Request {
  readonly _tag: "Answered"
  readonly status: number
  readonly elapsedMillis: number
}

/** A request failed: an error status, no answer in time, or no connection. */
export interface Failed extends Request {
  readonly _tag: "Failed"
  readonly error: HttpStatusError | TransportError | TimeoutError | ResponseDecodeError
  readonly elapsedMillis: number
}

/** A failed request will be sent again after `delayMillis`; `attempt` is the one about to be made. */
export interface Retrying extends Request {
  readonly _tag: "Retrying"
  readonly delayMillis: number
}

/** What is reported. */
export type Event = Sent | Answered | Failed | Retrying

/** Receives the events; its failures and defects are the caller's, never the request's. */
export type Reporter = (event: Event) => Effect.Effect<void>

/** The reporter of the current fiber (none by default). */
export const currentReporter: FiberRef.FiberRef<Option.Option<Reporter>> = FiberRef.unsafeMake<Option.Option<Reporter>>(
  Option.none()
)

/** Runs `self` with `reporter` receiving the progress of its requests. */
export const withReporter = (reporter: Reporter) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(self, currentReporter, Option.some(reporter))

/** Sends `event` to the current reporter, if any; a failing reporter changes nothing for the caller. */
export const report = (event: Event): Effect.Effect<void> =>
  Effect.flatMap(
    FiberRef.get(currentReporter),
    Option.match({ onNone: () => Effect.void, onSome: (reporter) => Effect.catchAllCause(Effect.suspend(() => reporter(event)), () => Effect.void) })
  )
