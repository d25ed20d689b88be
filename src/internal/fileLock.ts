/**
 * A lock file beside auth.json that serialises processes sharing one CODEX_HOME. It appears with its
 * content in one step (a hard link of a written temp file); its holder refreshes its mtime (the
 * heartbeat). A lock is taken over when its holder is provably gone — same host, same PID namespace,
 * no such pid (see `files.ts`) — or when its mtime is further from now than the stale timeout, in
 * either direction (a lock stamped in the future by a wrong clock does not stall us forever).
 * Waiting past the budget, measured on Effect's Clock, is a typed error; the wait can be interrupted.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { randomBytes } from "node:crypto"
import * as nodeFs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { KeyStoreError } from "../Domain/Errors.js"
import {
  fstat,
  HOST,
  ioFailure,
  openRegular,
  PID_NAMESPACE,
  provablyDead,
  readAll,
  sweepTemps,
  tempName,
  type Writer
} from "./files.js"

export { pidAlive } from "./files.js"

/** Lock settings. */
export interface LockOptions {
  readonly path: string
  /** How long a waiter waits before failing (on Effect's Clock). */
  readonly timeout: Duration.Duration
  /** How far a lock's mtime must be from now before it counts as abandoned. */
  readonly staleAfter: Duration.Duration
}

/** What a lock file says: its holder (pid, host, PID namespace) and the holder's token. */
interface LockInfo extends Writer {
  readonly token?: string
}

const parseInfo = (text: string): LockInfo => {
  try {
    const value = JSON.parse(text) as unknown
    if (typeof value !== "object" || value === null) return {}
    const { host, pid, pidNamespace, token } = value as Record<string, unknown>
    return {
      ...(typeof pid === "number" ? { pid } : {}),
      ...(typeof host === "string" ? { host } : {}),
      ...(typeof pidNamespace === "string" ? { pidNamespace } : {}),
      ...(typeof token === "string" ? { token } : {})
    }
  } catch {
    return {}
  }
}

const randomToken = () => `${process.pid}-${randomBytes(9).toString("base64url")}`

/** Runs `self` while holding the lock file. */
export const withFileLock = (_fs: FileSystem.FileSystem, options: LockOptions) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | KeyStoreError, R> => {
  const lockPath = options.path
  const dir = path.dirname(lockPath)
  const lockError = (detail: string) => new KeyStoreError({ reason: "Lock", path: lockPath, detail })
  const staleMillis = Duration.toMillis(options.staleAfter)

  /** The lock's content and mtime; None when there is none. Anything but a regular file is refused. */
  const readLock = (file: string) =>
    Effect.scoped(Effect.gen(function*() {
      const handle = yield* openRegular(file, { what: "the lock path", noFollow: true, failure: "Lock" })
      if (Option.isNone(handle)) return Option.none<{ readonly info: LockInfo; readonly mtime: number }>()
      const stat = yield* fstat(handle.value, file)
      const text = (yield* readAll(handle.value, file, 4096)).toString("utf8")
      return Option.some({ info: parseInfo(text), mtime: stat.mtimeMs })
    }))

  const isStale = (lock: { readonly info: LockInfo; readonly mtime: number }, wallNow: number) =>
    Math.abs(wallNow - lock.mtime) > staleMillis || provablyDead(lock.info)

  // Move the stale lock aside under a name of ours; only the mover whose copy is still the stale one removes it.
  const takeOver = (staleToken: string | undefined) =>
    Effect.gen(function*() {
      const aside = path.join(dir, tempName("stale"))
      yield* Effect.tryPromise(() => fsp.rename(lockPath, aside))
      const moved = yield* readLock(aside)
      if (Option.isSome(moved) && moved.value.info.token !== staleToken) {
        // We displaced a fresh lock: put it back if nobody has taken the name meanwhile.
        yield* Effect.tryPromise(() => fsp.link(aside, lockPath)).pipe(Effect.ignore)
      }
      yield* Effect.tryPromise(() => fsp.unlink(aside))
    }).pipe(Effect.ignore)

  // The lock appears with its content in one step (link of a written temp file), so a holder killed at
  // any moment leaves either no lock or one that names it, never an empty one. The temp file is created
  // exclusively (O_EXCL, O_NOFOLLOW): a link planted at its name is never followed.
  const create = (token: string) =>
    Effect.tryPromise({
      try: async () => {
        const temp = path.join(dir, tempName("lock"))
        const content = JSON.stringify({ pid: process.pid, host: HOST, pidNamespace: PID_NAMESPACE, token })
        const flags = nodeFs.constants.O_WRONLY | nodeFs.constants.O_CREAT | nodeFs.constants.O_EXCL | nodeFs.constants.O_NOFOLLOW
        try {
          const handle = await fsp.open(temp, flags, 0o600)
          try {
            await handle.writeFile(content)
          } finally {
            await handle.close()
          }
          await fsp.link(temp, lockPath)
          return true
        } catch (error) {
          if ((error as { code?: unknown }).code === "EEXIST") return false
          throw error
        } finally {
          await fsp.unlink(temp).catch(() => undefined)
        }
      },
      catch: ioFailure(lockPath, "creating the lock file", "Lock")
    })

  const acquire = Effect.gen(function*() {
    const token = randomToken()
    const started = yield* Clock.currentTimeMillis
    const budget = Duration.toMillis(options.timeout)
    let warned = false
    while (true) {
      if (yield* create(token)) {
        yield* sweepTemps(dir)
        return token
      }
      const lock = yield* readLock(lockPath)
      // A file's mtime is wall-clock time: it is compared with the wall clock.
      if (Option.isSome(lock) && isStale(lock.value, Date.now())) {
        yield* Effect.logWarning("taking over a stale agent identity lock")
        yield* takeOver(lock.value.info.token)
        continue
      }
      const waited = (yield* Clock.currentTimeMillis) - started
      if (waited > budget) return yield* lockError(`timed out after ${budget} ms waiting for the lock`)
      if (!warned && waited > 2000) {
        warned = true
        yield* Effect.logInfo("waiting for another process holding the agent identity lock")
      }
      // Only here, holding nothing, may the wait be interrupted (acquisition itself is not).
      yield* Effect.interruptible(Effect.sleep(Duration.millis(5 + Math.floor(Math.random() * 20))))
    }
  })

  const ownLock = (token: string) =>
    Effect.map(readLock(lockPath), (lock) => Option.isSome(lock) && lock.value.info.token === token)

  const heartbeat = (token: string) =>
    Effect.gen(function*() {
      if (yield* ownLock(token)) {
        const now = new Date()
        yield* Effect.tryPromise(() => fsp.lutimes(lockPath, now, now))
      }
    }).pipe(Effect.ignore, Effect.repeat(Schedule.spaced(Duration.millis(Math.max(50, staleMillis / 4)))))

  const release = (token: string) =>
    Effect.gen(function*() {
      if (yield* ownLock(token)) yield* Effect.tryPromise(() => fsp.unlink(lockPath))
    }).pipe(Effect.ignore)

  return Effect.acquireUseRelease(
    Effect.flatMap(acquire, (token) => Effect.map(Effect.forkDaemon(Effect.interruptible(heartbeat(token))), (fiber) => ({ token, fiber }))),
    () => self,
    ({ fiber, token }) => Effect.zipRight(Fiber.interrupt(fiber), release(token))
  )
}
