/**
 * A lock file beside auth.json that serialises processes sharing one CODEX_HOME. Created with
 * O_EXCL; its holder refreshes its mtime; a lock whose holder is gone (a dead pid on this host) or
 * whose mtime is older than the stale timeout is taken over. Waiting past the budget is a typed error.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { hostname } from "node:os"
import * as path from "node:path"
import { KeyStoreError } from "../Domain/Errors.js"

/** Lock settings. */
export interface LockOptions {
  readonly path: string
  /** How long a waiter waits before failing. */
  readonly timeout: Duration.Duration
  /** How old a lock's mtime must be before it counts as abandoned. */
  readonly staleAfter: Duration.Duration
}

interface LockInfo {
  readonly pid?: number
  readonly host?: string
  readonly token?: string
}

const HOST = hostname()

/** Whether a process with this pid exists on this host (EPERM means it exists). */
export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

const parseInfo = (text: string): LockInfo => {
  try {
    const value = JSON.parse(text) as unknown
    return typeof value === "object" && value !== null ? (value as LockInfo) : {}
  } catch {
    return {}
  }
}

const randomToken = () => `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`

/** Runs `self` while holding the lock file. */
export const withFileLock = (fs: FileSystem.FileSystem, options: LockOptions) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | KeyStoreError, R> => {
  const lockError = (detail: string) => new KeyStoreError({ reason: "Lock", path: options.path, detail })
  const staleMillis = Duration.toMillis(options.staleAfter)

  const inspect = Effect.gen(function*() {
    const text = yield* fs.readFileString(options.path)
    const stat = yield* fs.stat(options.path)
    const mtime = stat.mtime._tag === "Some" ? stat.mtime.value.getTime() : 0
    return { info: parseInfo(text), mtime }
  })

  const isStale = (lock: { readonly info: LockInfo; readonly mtime: number }, now: number) =>
    now - lock.mtime > staleMillis ||
    (lock.info.host === HOST && typeof lock.info.pid === "number" && lock.info.pid !== process.pid && !pidAlive(lock.info.pid))

  // Move the stale lock aside under a unique name; only the mover whose copy is still the stale one removes it.
  const takeOver = (token: string, staleToken: string | undefined) =>
    Effect.gen(function*() {
      const aside = `${options.path}.stale.${token}`
      yield* fs.rename(options.path, aside)
      const moved = parseInfo(yield* fs.readFileString(aside))
      if (moved.token !== staleToken) {
        // We displaced a fresh lock: put it back if nobody has taken the name meanwhile.
        yield* fs.link(aside, options.path).pipe(Effect.ignore)
      }
      yield* fs.remove(aside)
    }).pipe(Effect.ignore)

  // The lock appears with its content in one step (link of a written temp file), so a holder killed at
  // any moment leaves either no lock or one that names its pid, never an empty one.
  const create = (token: string) =>
    Effect.gen(function*() {
      const temp = `${options.path}.${token}.tmp`
      yield* fs.writeFileString(temp, JSON.stringify({ pid: process.pid, host: HOST, token }), { mode: 0o600 })
      return yield* fs.link(temp, options.path).pipe(
        Effect.as(true),
        Effect.catchIf((error) => error._tag === "SystemError" && error.reason === "AlreadyExists", () => Effect.succeed(false)),
        Effect.ensuring(fs.remove(temp).pipe(Effect.ignore))
      )
    }).pipe(Effect.mapError((error) => lockError(`cannot create lock file (${error._tag === "SystemError" ? error.reason : "bad argument"})`)))

  // Temp files of lock takers that died before linking theirs.
  const leftover = new RegExp(`^${path.basename(options.path).replace(/\./g, "\\.")}\\.(\\d+)-[A-Za-z0-9-]+\\.tmp$`)
  const sweep = Effect.gen(function*() {
    const dir = path.dirname(options.path)
    for (const name of yield* fs.readDirectory(dir)) {
      const match = leftover.exec(name)
      if (match && Number(match[1]) !== process.pid && !pidAlive(Number(match[1]))) yield* fs.remove(path.join(dir, name))
    }
  }).pipe(Effect.ignore)

  const acquire = Effect.gen(function*() {
    const token = randomToken()
    const started = Date.now()
    let warned = false
    while (true) {
      const created = yield* create(token)
      if (created) {
        yield* sweep
        return token
      }
      const lock = yield* inspect.pipe(Effect.option)
      const now = Date.now()
      if (lock._tag === "Some" && isStale(lock.value, now)) {
        yield* Effect.logWarning("taking over a stale agent identity lock")
        yield* takeOver(token, lock.value.info.token)
        continue
      }
      if (now - started > Duration.toMillis(options.timeout)) {
        return yield* lockError(`timed out after ${Duration.toMillis(options.timeout)} ms waiting for the lock`)
      }
      if (!warned && now - started > 2000) {
        warned = true
        yield* Effect.logInfo("waiting for another process holding the agent identity lock")
      }
      yield* Effect.sleep(Duration.millis(5 + Math.floor(Math.random() * 20)))
    }
  })

  const heartbeat = (token: string) =>
    Effect.gen(function*() {
      const info = parseInfo(yield* fs.readFileString(options.path))
      if (info.token === token) yield* fs.utimes(options.path, new Date(), new Date())
    }).pipe(Effect.ignore, Effect.repeat(Schedule.spaced(Duration.millis(Math.max(50, staleMillis / 4)))))

  const release = (token: string) =>
    Effect.gen(function*() {
      const info = parseInfo(yield* fs.readFileString(options.path))
      if (info.token === token) yield* fs.remove(options.path)
    }).pipe(Effect.ignore)

  return Effect.acquireUseRelease(
    Effect.flatMap(acquire, (token) => Effect.map(Effect.forkDaemon(Effect.interruptible(heartbeat(token))), (fiber) => ({ token, fiber }))),
    () => self,
    ({ fiber, token }) => Effect.zipRight(Fiber.interrupt(fiber), release(token))
  )
}
