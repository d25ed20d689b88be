/**
 * File-system rules the auth.json store and its lock share:
 *
 * - A failure keeps the system's own words (`EROFS: read-only file system`), never a generic class.
 * - Only regular files are read: the path is stat'ed first, then opened non-blocking and checked
 *   again on the descriptor, so a FIFO, directory or device is refused at once and never hangs.
 * - Whether a process is alive is judged only for one on this host and in this PID namespace
 *   (`/proc/self/ns/pid`); anywhere else its pid means nothing here, and only age decides.
 * - Our temp files carry a name no other program uses (`.agent-identity-<kind>.<host>.<pidns>.<pid>.<random>.tmp`),
 *   so the sweep of dead writers' leftovers touches ours only — never Codex's `.auth.json.{pid}.{seq}.tmp`.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { createHash, randomBytes } from "node:crypto"
import * as nodeFs from "node:fs"
import * as fsp from "node:fs/promises"
import { hostname } from "node:os"
import * as path from "node:path"
import { getSystemErrorMap } from "node:util"
import { KeyStoreError } from "../Domain/Errors.js"

/** This host's name, as written in lock files. */
export const HOST = hostname()

/** This process's PID namespace (`pid:[4026531836]`), or undefined where there is no /proc (macOS). */
export const PID_NAMESPACE: string | undefined = (() => {
  try {
    return nodeFs.readlinkSync("/proc/self/ns/pid")
  } catch {
    return undefined
  }
})()

/** Whether a process with this pid exists in our PID namespace (EPERM means it exists). */
export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

/** Who wrote a lock or a temp file. */
export interface Writer {
  readonly pid?: number | undefined
  readonly host?: string | undefined
  readonly pidNamespace?: string | undefined
}

/**
 * Whether `writer` is provably gone: same host, same PID namespace, another pid, and no such pid.
 * A writer of another host or namespace (or an older one that did not say its namespace) is never
 * judged by its pid, which names another process here or none at all.
 */
export const provablyDead = (writer: Writer): boolean =>
  writer.host === HOST && writer.pidNamespace === PID_NAMESPACE && typeof writer.pid === "number" &&
  Number.isSafeInteger(writer.pid) && writer.pid > 0 && writer.pid !== process.pid && !pidAlive(writer.pid)

/** `EROFS: read-only file system` from a Node or @effect/platform error; undefined when it holds no system error. */
export const systemErrorText = (error: unknown): string | undefined => {
  for (let current = error, depth = 0; typeof current === "object" && current !== null && depth < 4; depth++) {
    const { code, errno } = current as { code?: unknown; errno?: unknown }
    if (typeof errno === "number") {
      const known = getSystemErrorMap().get(errno)
      if (known !== undefined) return `${known[0]}: ${known[1]}`
    }
    if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** A KeyStoreError for a failed system call on `file`, keeping the system's words. */
export const ioFailure = (file: string, what: string, reason: "Io" | "Lock" = "Io") => (error: unknown) => {
  const systemError = systemErrorText(error)
  return new KeyStoreError({ reason, path: file, detail: `${what} failed`, ...(systemError === undefined ? {} : { systemError }) })
}

const codeOf = (error: unknown) => (error as { code?: unknown }).code

/** What a stat says a path is. */
export const kindOf = (stat: nodeFs.Stats): string =>
  stat.isFile()
    ? "a regular file"
    : stat.isDirectory()
    ? "a directory"
    : stat.isFIFO()
    ? "a FIFO"
    : stat.isSocket()
    ? "a socket"
    : stat.isCharacterDevice()
    ? "a character device"
    : stat.isBlockDevice()
    ? "a block device"
    : stat.isSymbolicLink()
    ? "a symbolic link"
    : "not a regular file"

/** The refusal of a path that is not a regular file. */
export const notRegular = (file: string, stat: nodeFs.Stats, what = "auth.json") =>
  new KeyStoreError({
    reason: "NotRegularFile",
    path: file,
    detail: `${what} is ${kindOf(stat)}, not a regular file; refusing to read or replace it`
  })

const READ_FLAGS = nodeFs.constants.O_RDONLY | (nodeFs.constants.O_NONBLOCK ?? 0)

/**
 * Opens a regular file for reading, for the life of the scope; None when it does not exist. Symbolic
 * links are followed (`noFollow` refuses them). Anything else than a regular file is refused before
 * it is opened (stat), and again on the descriptor (the path may change in between): the open is
 * non-blocking, so even a FIFO swapped in meanwhile cannot hang us.
 */
export const openRegular = (
  file: string,
  options: { readonly what?: string; readonly noFollow?: boolean; readonly failure?: "Io" | "Lock" } = {}
): Effect.Effect<Option.Option<fsp.FileHandle>, KeyStoreError, Scope.Scope> => {
  const what = options.what ?? "auth.json"
  const failure = ioFailure(file, `opening ${what}`, options.failure)
  const check = (stat: nodeFs.Stats) =>
    stat.isFile() ? Effect.void : Effect.fail(notRegular(file, stat, what))
  return Effect.gen(function*() {
    const stat = yield* Effect.tryPromise({ try: () => options.noFollow ? fsp.lstat(file) : fsp.stat(file), catch: (e) => e }).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => codeOf(e) === "ENOENT", () => Effect.succeed(Option.none<nodeFs.Stats>())),
      Effect.mapError(failure)
    )
    if (Option.isNone(stat)) return Option.none()
    yield* check(stat.value)
    const flags = READ_FLAGS | (options.noFollow ? nodeFs.constants.O_NOFOLLOW : 0)
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => fsp.open(file, flags), catch: (e) => e }).pipe(
        Effect.map(Option.some),
        Effect.catchIf((e) => codeOf(e) === "ENOENT", () => Effect.succeed(Option.none<fsp.FileHandle>())),
        Effect.mapError(failure)
      ),
      (h) => Option.isSome(h) ? Effect.promise(() => h.value.close()).pipe(Effect.ignore) : Effect.void
    )
    if (Option.isSome(handle)) yield* Effect.flatMap(fstat(handle.value, file), check)
    return handle
  })
}

/** The descriptor's stat. */
export const fstat = (handle: fsp.FileHandle, file: string): Effect.Effect<nodeFs.Stats, KeyStoreError> =>
  Effect.tryPromise({ try: () => handle.stat(), catch: ioFailure(file, "reading the file's status") })

/** The whole content of an open file from its start, stopping once past `maxBytes`. */
export const readAll = (handle: fsp.FileHandle, file: string, maxBytes: number): Effect.Effect<Buffer, KeyStoreError> =>
  Effect.tryPromise({
    try: async () => {
      const chunks: Array<Buffer> = []
      let total = 0
      while (total <= maxBytes) {
        const buffer = Buffer.alloc(64 * 1024)
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, total)
        if (bytesRead === 0) break
        chunks.push(buffer.subarray(0, bytesRead))
        total += bytesRead
      }
      return Buffer.concat(chunks)
    },
    catch: ioFailure(file, "reading")
  })

/** The bytes at a path right now, synchronously, if it is a regular file (None otherwise: the caller then decides). */
export const readRegularNow = (file: string, maxBytes: number): Option.Option<Buffer> => {
  let fd: number | undefined
  try {
    fd = nodeFs.openSync(file, READ_FLAGS)
    if (!nodeFs.fstatSync(fd).isFile()) return Option.none()
    const chunks: Array<Buffer> = []
    let total = 0
    while (total <= maxBytes) {
      const buffer = Buffer.alloc(64 * 1024)
      const read = nodeFs.readSync(fd, buffer, 0, buffer.length, total)
      if (read === 0) break
      chunks.push(buffer.subarray(0, read))
      total += read
    }
    return Option.some(Buffer.concat(chunks))
  } catch {
    return Option.none()
  } finally {
    if (fd !== undefined) nodeFs.closeSync(fd)
  }
}

/**
 * The path a write of `file` must replace: `file` itself, or, when it is a symbolic link, the file
 * its chain of links ends at (which may not exist yet). A write then goes beside that target and
 * the link stays a link.
 */
export const resolveLinks = (file: string): Effect.Effect<string, KeyStoreError> =>
  Effect.tryPromise({
    try: async () => {
      let current = file
      for (let hops = 0; hops < 40; hops++) {
        let stat: nodeFs.Stats
        try {
          stat = await fsp.lstat(current)
        } catch (error) {
          if (codeOf(error) === "ENOENT") return current
          throw error
        }
        if (!stat.isSymbolicLink()) return current
        current = path.resolve(path.dirname(current), await fsp.readlink(current))
      }
      throw Object.assign(new Error("too many levels of symbolic links"), { code: "ELOOP", errno: -40 })
    },
    catch: ioFailure(file, "resolving the symbolic link")
  })

const hostTag = createHash("sha256").update(HOST).digest("hex").slice(0, 8)
const namespaceTag = /^pid:\[(\d+)\]$/.exec(PID_NAMESPACE ?? "")?.[1] ?? "0"
const TEMP_NAME = /^\.agent-identity-([a-z]+)\.([0-9a-f]{8})\.(\d+)\.(\d+)\.[0-9a-f]{16}\.tmp$/

/** A fresh name for one of our temp files; `kind` says what it is for (`auth`, `lock`, `stale`). */
export const tempName = (kind: "auth" | "lock" | "stale"): string =>
  `.agent-identity-${kind}.${hostTag}.${namespaceTag}.${process.pid}.${randomBytes(8).toString("hex")}.tmp`

/** How old one of our temp files must be before it is removed even when its writer cannot be judged. */
export const ABANDONED_TEMP_MILLIS = 60 * 60 * 1000

/**
 * Removes our temp files in `dir` whose writer is provably gone (this host and PID namespace, pid
 * absent), or that are older than an hour (a write takes milliseconds; the distance counts either
 * way, so a clock in the future does not keep them). Any other file is never touched.
 */
export const sweepTemps = (dir: string): Effect.Effect<void> =>
  Effect.promise(async () => {
    const now = Date.now()
    for (const name of await fsp.readdir(dir).catch(() => [] as Array<string>)) {
      const match = TEMP_NAME.exec(name)
      if (match === null) continue
      const file = path.join(dir, name)
      const ours = match[2] === hostTag && match[3] === namespaceTag
      const pid = Number(match[4])
      const dead = ours && pid !== process.pid && !pidAlive(pid)
      const stat = await fsp.lstat(file).catch(() => undefined)
      if (stat === undefined || !stat.isFile()) continue
      if (dead || Math.abs(now - stat.mtimeMs) > ABANDONED_TEMP_MILLIS) await fsp.unlink(file).catch(() => undefined)
    }
  })
