/**
 * Per-conversation agent tasks (as the Codex before the seed kept them): a session keeps one task, persisted as
 * JSONL `session_state` items in its rollout file, and restores it on resume — the latest item wins,
 * `null` clears, and a task whose runtime id no longer matches the current identity is discarded.
 * The start-up prewarm is best-effort and never fails its caller.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import { AuthManager, registerWhileIdentityHolds } from "./AuthManager.js"
import { formatTimestamp } from "../crypto/time.js"
import { type AuthError, KeyStoreError } from "../Domain/Errors.js"

/** A session's task. */
export const SessionAgentTask = Schema.Struct({
  agent_runtime_id: Schema.String,
  task_id: Schema.String,
  registered_at: Schema.String
})
export type SessionAgentTask = typeof SessionAgentTask.Type

/** One rollout line: `{"timestamp":…,"type":"session_state","payload":{"agent_task":…|null}}`. */
export const SessionStateLine = Schema.Struct({
  timestamp: Schema.optional(Schema.String),
  type: Schema.Literal("session_state"),
  payload: Schema.Struct({ agent_task: Schema.optionalWith(Schema.NullOr(SessionAgentTask), { default: () => null }) })
})

const decodeLine = Schema.decodeUnknownEither(Schema.parseJson(SessionStateLine))
const encodeLine = Schema.encodeSync(SessionStateLine)

/** The latest `session_state` item of JSONL text: None when there is none (other lines are ignored). */
export const latestSessionState = (jsonl: string): Option.Option<SessionAgentTask | null> => {
  let latest: Option.Option<SessionAgentTask | null> = Option.none()
  for (const line of jsonl.split("\n")) {
    if (line.trim().length === 0) continue
    const item = decodeLine(line)
    if (Either.isRight(item)) latest = Option.some(item.right.payload.agent_task)
  }
  return latest
}

/** A session's task operations. */
export interface Session {
  /** The cached task if it still matches the current identity; a stale one is cleared (and `null` persisted). */
  readonly current: Effect.Effect<Option.Option<SessionAgentTask>>
  /** The cached task, else a newly registered one (at most two attempts if the identity changes meanwhile). */
  readonly ensure: Effect.Effect<Option.Option<SessionAgentTask>, AuthError | KeyStoreError>
  /** Caches a task and persists it (nothing is written when it is already the cached one). */
  readonly set: (task: SessionAgentTask) => Effect.Effect<void, KeyStoreError>
  /** Clears the cached task and persists `null`. */
  readonly clear: Effect.Effect<void, KeyStoreError>
  /** Best effort at start-up: registers a task if none is cached; a failure is only logged. */
  readonly prewarm: Effect.Effect<void>
}

/**
 * A session on the rollout file at `rolloutPath`: restores the task from its latest `session_state`
 * item (when the file exists), then appends an item at every change.
 */
export const make = (rolloutPath: string): Effect.Effect<Session, KeyStoreError, AuthManager | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const auth = yield* AuthManager
    const fs = yield* FileSystem.FileSystem
    const io = (what: string) => (error: { readonly message: string }) =>
      new KeyStoreError({ reason: "Io", path: rolloutPath, detail: `${what} failed (${error.message})` })
    const state = yield* Ref.make(Option.none<SessionAgentTask>())
    const lock = yield* Effect.makeSemaphore(1)

    const persist = (task: SessionAgentTask | null) =>
      Effect.gen(function*() {
        const now = formatTimestamp(yield* Effect.clockWith((c) => c.currentTimeMillis))
        const line = JSON.stringify(encodeLine({ timestamp: now, type: "session_state", payload: { agent_task: task } })) + "\n"
        yield* fs.writeFileString(rolloutPath, line, { flag: "a", mode: 0o600 }).pipe(Effect.mapError(io("appending session state")))
      })

    const matches = (task: SessionAgentTask) => auth.taskMatchesCurrentIdentity({ agentRuntimeId: task.agent_runtime_id as never })

    // Restore on resume: the latest item wins; null clears; a task of another identity is discarded.
    const existing = yield* fs.readFileString(rolloutPath).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeed(Option.none<string>())),
      Effect.mapError(io("reading the rollout"))
    )
    const latest = Option.flatMap(existing, latestSessionState)
    if (Option.isSome(latest) && latest.value !== null) {
      if (yield* matches(latest.value)) yield* Ref.set(state, Option.some(latest.value))
      else yield* Effect.logDebug("discarding persisted agent task for a different identity")
    }

    const set: Session["set"] = (task) =>
      Effect.gen(function*() {
        const cached = yield* Ref.get(state)
        if (Option.isSome(cached) && JSON.stringify(cached.value) === JSON.stringify(task)) return
        yield* Ref.set(state, Option.some(task))
        yield* persist(task)
      })

    const clear: Session["clear"] = Effect.zipRight(Ref.set(state, Option.none()), persist(null))

    const current: Session["current"] = Effect.gen(function*() {
      const cached = yield* Ref.get(state)
      if (Option.isNone(cached)) return Option.none()
      if (yield* matches(cached.value)) return cached
      // Clear only if the state still holds that task.
      const cleared = yield* Ref.modify(state, (now) =>
        Option.isSome(now) && now.value === cached.value ? [true, Option.none()] : [false, now])
      if (cleared) yield* persist(null).pipe(Effect.ignore)
      return Option.none()
    })

    const ensure: Session["ensure"] = Effect.gen(function*() {
      const fast = yield* current
      if (Option.isSome(fast)) return fast
      return yield* lock.withPermits(1)(Effect.gen(function*() {
        const again = yield* current
        if (Option.isSome(again)) return again
        const registered = yield* registerWhileIdentityHolds(
          Effect.gen(function*() {
            const task = yield* auth.registerTask
            return {
              agent_runtime_id: task.agentRuntimeId,
              task_id: task.taskId,
              registered_at: formatTimestamp(yield* Effect.clockWith((c) => c.currentTimeMillis))
            } satisfies SessionAgentTask
          }),
          matches
        )
        if (Option.isSome(registered)) {
          yield* set(registered.value)
          yield* Effect.logInfo("registered agent task for thread")
        }
        return registered
      }))
    })

    const prewarm: Session["prewarm"] = ensure.pipe(
      Effect.catchAll((error) =>
        Effect.logWarning(`startup agent task prewarm failed; regular turns will retry registration: ${error._tag}: ${error.message}`)
      ),
      Effect.asVoid
    )

    return { current, ensure, set, clear, prewarm }
  })
