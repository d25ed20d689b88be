/**
 * Progress of the slow steps, for a person watching: the library reports each request and retry through
 * its hook (src/Domain/Progress.ts); on a terminal's stderr this draws a line for a request still waiting
 * after a second (which request, which attempt of how many, how long it may wait) and for each retry (why,
 * and after how long). Pipes and files get nothing. The attempts are also counted, so that the error line
 * of a failure can say how many were made (`attemptsNote`).
 */
import * as Effect from "effect/Effect"
import type * as Progress from "../Domain/Progress.js"

/** How long a request may take before its waiting line is drawn. */
const SHOW_AFTER_MILLIS = 1000

const seconds = (millis: number) => millis < 1000 ? `${Math.round(millis)} ms` : `${(millis / 1000).toFixed(millis < 10_000 ? 1 : 0)} s`

const key = (event: Progress.Request) => `${event.operation} ${event.method} ${event.url}`

/** Why an attempt failed, in a few words. */
const why = (error: Progress.Failed["error"]): string => {
  switch (error._tag) {
    case "TimeoutError":
      return `no answer within ${seconds(error.timeoutMillis)}`
    case "TransportError":
      return error.reason
    case "HttpStatusError":
      return `status ${error.status}`
    case "ResponseDecodeError":
      return error.reason
  }
}

export interface Tracker {
  /** The hook to give the library. */
  readonly reporter: Progress.Reporter
  /** `; gave up after 3 attempts in 46 s` for the failure of a request that was tried (empty otherwise). */
  readonly attemptsNote: (error: unknown) => string
}

/**
 * A tracker; `write` draws on the terminal, or is absent (not a terminal: count, draw nothing).
 * `escape` makes outside text (a URL, a server's reason) safe for the terminal.
 */
export const make = (write: ((line: string) => void) | undefined, escape: (text: string) => string = (t) => t): Tracker => {
  const waiting = new Map<string, { readonly timer: ReturnType<typeof setTimeout>; shown: boolean }>()
  const started = new Map<string, number>()
  let lastFailed: Progress.Failed | undefined
  const draw = (line: string) => write?.(escape(line))
  const label = (event: Progress.Request) => `${event.operation} (${event.method} ${event.url})`
  const attempt = (event: Progress.Request) => event.maxAttempts > 1 ? `attempt ${event.attempt} of ${event.maxAttempts}` : "one attempt"

  const settle = (event: Progress.Request): boolean => {
    const pending = waiting.get(key(event))
    if (pending === undefined) return false
    clearTimeout(pending.timer)
    waiting.delete(key(event))
    return pending.shown
  }

  const reporter: Progress.Reporter = (event) =>
    Effect.sync(() => {
      switch (event._tag) {
        case "Sent": {
          if (event.attempt === 1) started.set(key(event), Date.now())
          if (write === undefined) return
          settle(event)
          const pending = {
            shown: false,
            timer: setTimeout(() => {
              pending.shown = true
              draw(`… ${label(event)}: waiting for an answer, ${attempt(event)}, times out after ${seconds(event.timeoutMillis)}`)
            }, SHOW_AFTER_MILLIS)
          }
          pending.timer.unref()
          waiting.set(key(event), pending)
          return
        }
        case "Answered": {
          if (settle(event)) draw(`… ${event.operation}: answered ${event.status} after ${seconds(event.elapsedMillis)}`)
          return
        }
        case "Failed": {
          lastFailed = event
          settle(event)
          return
        }
        case "Retrying": {
          const failure = lastFailed !== undefined && key(lastFailed) === key(event) ? ` (${why(lastFailed.error)})` : ""
          draw(`… ${label(event)}: attempt ${event.attempt - 1} of ${event.maxAttempts} failed${failure}; trying again in ${seconds(event.delayMillis)}`)
          return
        }
      }
    })

  const attemptsNote = (error: unknown): string => {
    const failed = lastFailed
    if (failed === undefined || failed.error !== error || failed.maxAttempts <= 1) return ""
    if (failed.attempt === 1) {
      // Not retried although it might have been: a request the server may have acted on is not repeated.
      const unsure = failed.error._tag === "TimeoutError" || failed.error._tag === "TransportError" ||
        (failed.error._tag === "HttpStatusError" && failed.error.status >= 500)
      return unsure ? "; 1 attempt, not repeated: the server may have acted on it" : ""
    }
    const since = started.get(key(failed))
    return `; gave up after ${failed.attempt} attempts${since === undefined ? "" : ` in ${seconds(Date.now() - since)}`}`
  }

  return { reporter, attemptsNote }
}
