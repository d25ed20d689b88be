/**
 * Reading and writing auth.json safely beside Codex, which rewrites it in place (truncate, then write)
 * and takes no lock of ours.
 *
 * - Reads retry briefly on an unparseable file: Codex may be mid-write.
 * - Writes go to a 0600 temp file in the same folder (fsync), then `rename`; never a partial file.
 * - A foreign write is never dropped. Just before the rename the path is compared with what we read;
 *   and we hold a descriptor to the file we replace, so an in-place write that lands on it between
 *   that check and the rename is seen afterwards: the edit is then redone on the foreign content.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as PlatformError from "@effect/platform/Error"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { readFileSync, statSync } from "node:fs"
import * as path from "node:path"
import { type AuthDocument, formatAuthDocument, parseAuthText } from "../Domain/AuthDocument.js"
import { KeyStoreError } from "../Domain/Errors.js"
import { pidAlive } from "./fileLock.js"

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
const TEMP_FILE = /^\.auth\.json\.(\d+)\.[A-Za-z0-9]+\.tmp$/
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const ioError = (file: string, what: string) => (error: PlatformError.PlatformError) =>
  new KeyStoreError({ reason: "Io", path: file, detail: `${what} failed (${error._tag === "SystemError" ? error.reason : "bad argument"})` })

const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)

const isNotFound = (error: PlatformError.PlatformError) => error._tag === "SystemError" && error.reason === "NotFound"

/** Reads a whole file through an open handle, from its start. */
const readHandle = (handle: FileSystem.File) =>
  Effect.gen(function*() {
    yield* handle.seek(0, "start")
    const chunks: Array<Uint8Array> = []
    let total = 0
    while (total <= MAX_FILE_BYTES) {
      const chunk = yield* handle.readAlloc(FileSystem.KiB(64))
      if (Option.isNone(chunk) || chunk.value.length === 0) break
      chunks.push(chunk.value)
      total += chunk.value.length
    }
    return Buffer.concat(chunks)
  })

/** Opens the file for reading (scoped); None when it does not exist. */
const openExisting = (fs: FileSystem.FileSystem, file: string) =>
  fs.open(file, { flag: "r" }).pipe(
    Effect.map(Option.some),
    Effect.catchIf(isNotFound, () => Effect.succeed(Option.none())),
    Effect.mapError(ioError(file, "opening"))
  )

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
const readParsed = (handle: FileSystem.File, file: string, options: ReadOptions, urgent = false) =>
  Effect.gen(function*() {
    const retries = urgent ? 300 : options.unparseableRetries ?? 5
    let reason = ""
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) yield* Effect.sleep(Duration.millis(urgent ? 1 : 15 * attempt))
      const raw = yield* readHandle(handle).pipe(Effect.mapError(ioError(file, "reading")))
      const doc = parseBytes(raw)
      if (Either.isRight(doc)) return { raw, doc: doc.right }
      reason = doc.left
    }
    return yield* new KeyStoreError({ reason: "Unparseable", path: file, detail: `${reason}; the file was left untouched` })
  })

/** Reads and parses auth.json. */
export const load = (fs: FileSystem.FileSystem, file: string, options: ReadOptions = {}): Effect.Effect<Loaded, KeyStoreError> =>
  Effect.scoped(
    Effect.flatMap(openExisting(fs, file), (handle) =>
      Option.match(handle, {
        onNone: () => Effect.succeed<Loaded>({ raw: Option.none(), doc: Option.none() }),
        onSome: (h) => Effect.map(readParsed(h, file, options), ({ doc, raw }) => ({ raw: Option.some(raw), doc: Option.some(doc) }))
      }))
  )

/** The file's identity and version as the kernel reports it (inode, size, ns mtime and ctime); None if absent. */
const statKey = (file: string): string | undefined => {
  try {
    const stat = statSync(file, { bigint: true })
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

const randomName = () => Math.random().toString(36).slice(2, 12)

/** Removes temp files left by writers that died (their pid is gone). */
const sweepTempFiles = (fs: FileSystem.FileSystem, dir: string) =>
  Effect.gen(function*() {
    for (const name of yield* fs.readDirectory(dir)) {
      const match = TEMP_FILE.exec(name)
      if (match && Number(match[1]) !== process.pid && !pidAlive(Number(match[1]))) {
        yield* fs.remove(path.join(dir, name)).pipe(Effect.ignore)
      }
    }
  }).pipe(Effect.ignore)

const writeTemp = (fs: FileSystem.FileSystem, temp: string, bytes: Uint8Array) =>
  Effect.scoped(
    Effect.gen(function*() {
      const handle = yield* fs.open(temp, { flag: "wx", mode: 0o600 })
      yield* handle.writeAll(bytes)
      yield* handle.sync
    })
  )

const syncDirectory = (fs: FileSystem.FileSystem, dir: string) =>
  Effect.scoped(Effect.flatMap(fs.open(dir, { flag: "r" }), (handle) => handle.sync)).pipe(Effect.ignore)

/** The path's bytes right now (None if absent or unreadable: the rename then decides). */
const readPathNow = (file: string): Option.Option<Uint8Array> => {
  try {
    return Option.some(readFileSync(file))
  } catch {
    return Option.none()
  }
}

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
    const dir = path.dirname(file)
    yield* fs.makeDirectory(dir, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(ioError(dir, "creating the folder")))
    // Content a foreign writer put in a file we had just replaced: the next edit starts from it, as long
    // as the path still holds exactly what we wrote (a newer write there supersedes it).
    let rebase: Option.Option<{ readonly doc: AuthDocument; readonly ours: Uint8Array }> = Option.none()
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const outcome = yield* Effect.scoped(Effect.gen(function*() {
        const handle = yield* openExisting(fs, file)
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
        const temp = path.join(dir, `.auth.json.${process.pid}.${randomName()}.tmp`)
        return yield* Effect.gen(function*() {
          yield* writeTemp(fs, temp, bytes).pipe(Effect.mapError(ioError(temp, "writing the temp file")))
          // Compared synchronously, so that as little time as possible passes before the rename.
          const atPath = readPathNow(file)
          const sameFile = Option.match(current, {
            onNone: () => Option.isNone(atPath),
            onSome: (c) => Option.isSome(atPath) && equalBytes(atPath.value, c.raw)
          })
          if (!sameFile) return "conflict" as const
          yield* fs.rename(temp, file).pipe(Effect.mapError(ioError(file, "replacing auth.json")))
          if (Option.isSome(handle) && Option.isSome(current)) {
            // Did an in-place write land on the file we replaced? Then its content must not be lost.
            const after = yield* readHandle(handle.value).pipe(Effect.mapError(ioError(file, "re-reading")))
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
        yield* syncDirectory(fs, dir)
        yield* sweepTempFiles(fs, dir)
        return true
      }
      yield* Effect.logDebug(`auth.json changed while we were writing it (${outcome}); redoing the edit`)
    }
    return yield* new KeyStoreError({ reason: "Io", path: file, detail: "auth.json kept changing under us; gave up after 8 attempts" })
  })
