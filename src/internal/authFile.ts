/**
 * Reading and writing auth.json safely beside Codex, which rewrites it in place (truncate, then write)
 * and takes no lock of ours.
 *
 * - Only a regular file is read or replaced: a FIFO, directory or device is refused before it is
 *   opened (see `files.ts`), and never hangs a read.
 * - Reads retry briefly on an unparseable file: Codex may be mid-write.
 * - Writes go to a temp file of ours in the same folder (fsync), then `rename`; never a partial file.
 * - A write keeps what auth.json is: a symbolic link stays a link (the write goes beside the file it
 *   points to), the owner is kept (run as root on a user's file, the new file is given back to that
 *   user) and the mode is tightened, never loosened: `mode & 0600` (0644 becomes 0600, 0400 stays).
 * - A foreign write is never dropped. Just before the rename the path is compared with what we read;
 *   and we hold a descriptor to the file we replace, so an in-place write that lands on it between
 *   that check and the rename is seen afterwards: the edit is then redone on the foreign content.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as nodeFs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { type AuthDocument, formatAuthDocument, parseAuthText } from "../Domain/AuthDocument.js"
import { KeyStoreError } from "../Domain/Errors.js"
import { fstat, ioFailure, openRegular, readAll, readRegularNow, resolveLinks, sweepTemps, tempName } from "./files.js"

/** Reading options. */
export interface ReadOptions {
  /** Extra reads of an unparseable file before giving up (default 5, about 0.3 s in all). */
  readonly unparseableRetries?: number | undefined
}

/** The file's bytes and its parsed document; `None` when the file does not exist. */
export interface Loaded {
  readonly raw: Option.Option<Uint8Array>
  readonly doc: Option.Option<AuthDocument>
}

const WRITE_ATTEMPTS = 8
const MAX_FILE_BYTES = 16 * 1024 * 1024
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)

/** Reads a whole file through an open handle, from its start. */
const readHandle = (handle: fsp.FileHandle, file: string) => readAll(handle, file, MAX_FILE_BYTES)

/** Parses bytes as an auth.json document, or says why not. */
const parseBytes = (bytes: Uint8Array): Either.Either<AuthDocument, string> => {
  if (bytes.length > MAX_FILE_BYTES) return Either.left(`auth.json is larger than ${MAX_FILE_BYTES} bytes`)
  let text: string
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    return Either.left("auth.json is not UTF-8")
  }
  return parseAuthText(text)
}

/**
 * Reads through `handle` until the content parses, retrying (a writer may be mid-write): every 15 ms,
 * growing, or every millisecond when `urgent` (our own file is showing stale content meanwhile).
 */
const readParsed = (handle: fsp.FileHandle, file: string, options: ReadOptions, urgent = false) =>
  Effect.gen(function*() {
    const retries = urgent ? 300 : options.unparseableRetries ?? 5
    let reason = ""
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) yield* Effect.sleep(Duration.millis(urgent ? 1 : 15 * attempt))
      const raw = yield* readHandle(handle, file)
      const doc = parseBytes(raw)
      if (Either.isRight(doc)) return { raw, doc: doc.right }
      reason = doc.left
    }
    return yield* new KeyStoreError({ reason: "Unparseable", path: file, detail: `${reason}; the file was left untouched` })
  })

/** Reads and parses auth.json. */
export const load = (_fs: FileSystem.FileSystem, file: string, options: ReadOptions = {}): Effect.Effect<Loaded, KeyStoreError> =>
  Effect.scoped(
    Effect.flatMap(openRegular(file), (handle) =>
      Option.match(handle, {
        onNone: () => Effect.succeed<Loaded>({ raw: Option.none(), doc: Option.none() }),
        onSome: (h) => Effect.map(readParsed(h, file, options), ({ doc, raw }) => ({ raw: Option.some(raw), doc: Option.some(doc) }))
      }))
  )

/** The file's identity and version as the kernel reports it (inode, size, ns mtime and ctime); None if absent. */
const statKey = (file: string): string | undefined => {
  try {
    const stat = nodeFs.statSync(file, { bigint: true })
    return `${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`
  } catch {
    return undefined
  }
}

/**
 * `load`, remembering the last result while the file's stat is unchanged: a header per request then
 * costs one stat, not a read and a parse. A result is kept only if the stat was the same before and
 * after the read, so a write during the read is never cached; any write changes the stat.
 */
export const cachedLoader = (fs: FileSystem.FileSystem, file: string, options: ReadOptions = {}): Effect.Effect<Loaded, KeyStoreError> => {
  let last: { readonly key: string; readonly loaded: Loaded } | undefined
  return Effect.suspend(() => {
    const before = statKey(file)
    if (before !== undefined && last !== undefined && last.key === before) return Effect.succeed(last.loaded)
    return Effect.map(load(fs, file, options), (loaded) => {
      if (before !== undefined && statKey(file) === before) last = { key: before, loaded }
      return loaded
    })
  })
}

/** What the new file must be: the old one's mode tightened (`& 0600`) and, when we can, its owner. */
interface Shape {
  readonly mode: number
  readonly owner: Option.Option<{ readonly uid: number; readonly gid: number }>
}

const isRoot = () => typeof process.getuid === "function" && typeof process.getgid === "function" && process.getuid() === 0

/**
 * The shape of the file that replaces `stat` (None: a new file in `dir`). Only root can give a file
 * away; it does so when the file (or, for a new one, its folder) belongs to another user, so that
 * `sudo -E agent-identity …` leaves the user's Codex able to read its login.
 */
const shapeOf = (stat: Option.Option<nodeFs.Stats>, dir: string): Shape => {
  const ownerOf = (s: nodeFs.Stats) =>
    isRoot() && (s.uid !== process.getuid!() || s.gid !== process.getgid!()) ? Option.some({ uid: s.uid, gid: s.gid }) : Option.none()
  if (Option.isSome(stat)) return { mode: stat.value.mode & 0o600, owner: ownerOf(stat.value) }
  try {
    return { mode: 0o600, owner: ownerOf(nodeFs.statSync(dir)) }
  } catch {
    return { mode: 0o600, owner: Option.none() }
  }
}

/** Writes the temp file: created exclusively (no link followed), given its owner and mode, synced. */
const writeTemp = (temp: string, bytes: Uint8Array, shape: Shape) =>
  Effect.tryPromise({
    try: async () => {
      const flags = nodeFs.constants.O_WRONLY | nodeFs.constants.O_CREAT | nodeFs.constants.O_EXCL | nodeFs.constants.O_NOFOLLOW
      const handle = await fsp.open(temp, flags, 0o600)
      try {
        await handle.writeFile(bytes)
        if (Option.isSome(shape.owner)) await handle.chown(shape.owner.value.uid, shape.owner.value.gid)
        await handle.chmod(shape.mode)
        await handle.sync()
      } finally {
        await handle.close()
      }
    },
    catch: ioFailure(temp, "writing the temp file")
  })

const syncDirectory = (dir: string) =>
  Effect.tryPromise(async () => {
    const handle = await fsp.open(dir, nodeFs.constants.O_RDONLY)
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }).pipe(Effect.ignore)

/**
 * Read-modify-write of auth.json. `edit` gets the current document (None if there is no file) and
 * returns the new one, or None to write nothing. The caller holds the lock.
 */
export const modify = <E>(
  fs: FileSystem.FileSystem,
  file: string,
  edit: (doc: Option.Option<AuthDocument>) => Either.Either<Option.Option<AuthDocument>, E>,
  options: ReadOptions = {}
): Effect.Effect<boolean, E | KeyStoreError> =>
  Effect.gen(function*() {
    yield* fs.makeDirectory(path.dirname(file), { recursive: true, mode: 0o700 }).pipe(
      Effect.mapError(ioFailure(path.dirname(file), "creating the folder"))
    )
    // A symbolic link stays one: the file it ends at is the one replaced, by a temp file beside it.
    const target = yield* resolveLinks(file)
    const dir = path.dirname(target)
    // Content a foreign writer put in a file we had just replaced: the next edit starts from it, as long
    // as the path still holds exactly what we wrote (a newer write there supersedes it).
    let rebase: Option.Option<{ readonly doc: AuthDocument; readonly ours: Uint8Array }> = Option.none()
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const outcome = yield* Effect.scoped(Effect.gen(function*() {
        const handle = yield* openRegular(target)
        const stat = Option.isNone(handle) ? Option.none<nodeFs.Stats>() : Option.some(yield* fstat(handle.value, target))
        const current = Option.isNone(handle)
          ? Option.none<{ readonly raw: Uint8Array; readonly doc: AuthDocument }>()
          : Option.some(yield* readParsed(handle.value, file, options))
        const pending = rebase
        rebase = Option.none()
        const base = Option.isSome(pending) && Option.isSome(current) && equalBytes(current.value.raw, pending.value.ours)
          ? Option.some(pending.value.doc)
          : Option.map(current, (c) => c.doc)
        const next = edit(base)
        if (Either.isLeft(next)) return yield* Effect.fail(next.left)
        const nextDoc = next.right
        if (Option.isNone(nextDoc)) return "unchanged" as const
        const bytes = new TextEncoder().encode(formatAuthDocument(nextDoc.value))
        const temp = path.join(dir, tempName("auth"))
        return yield* Effect.gen(function*() {
          yield* writeTemp(temp, bytes, shapeOf(stat, dir))
          // Compared synchronously, so that as little time as possible passes before the rename.
          const atPath = readRegularNow(target, MAX_FILE_BYTES)
          const sameFile = Option.match(current, {
            onNone: () => Option.isNone(atPath) && !nodeFs.existsSync(target),
            onSome: (c) => Option.isSome(atPath) && equalBytes(atPath.value, c.raw)
          })
          if (!sameFile) return "conflict" as const
          yield* fs.rename(temp, target).pipe(Effect.mapError(ioFailure(file, "replacing auth.json")))
          if (Option.isSome(handle) && Option.isSome(current)) {
            // Did an in-place write land on the file we replaced? Then its content must not be lost.
            const after = yield* readHandle(handle.value, file)
            if (!equalBytes(after, current.value.raw)) {
              const foreign = yield* readParsed(handle.value, file, options, true)
              rebase = Option.some({ doc: foreign.doc, ours: bytes })
              return "lost-foreign-write" as const
            }
          }
          return "written" as const
        }).pipe(Effect.ensuring(fs.remove(temp).pipe(Effect.ignore)))
      }))
      if (outcome === "unchanged") return false
      if (outcome === "written") {
        yield* syncDirectory(dir)
        yield* sweepTemps(dir)
        return true
      }
      yield* Effect.logDebug(`auth.json changed while we were writing it (${outcome}); redoing the edit`)
    }
    return yield* new KeyStoreError({ reason: "Io", path: file, detail: "auth.json kept changing under us; gave up after 8 attempts" })
  })
