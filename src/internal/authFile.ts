/**
 * Reading and writing auth.json safely. Reads retry briefly on an unparseable file, since Codex
 * rewrites it in place (truncate, then write). Writes go to a 0600 temp file in the same folder,
 * fsync, then rename; just before the rename the file is compared with what was read, so a foreign
 * writer's change is never overwritten (the edit is redone on the new content).
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as PlatformError from "@effect/platform/Error"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as path from "node:path"
import { type AuthDocument, formatAuthDocument, parseAuthText } from "../Domain/AuthDocument.js"
import { KeyStoreError } from "../Errors.js"
import { pidAlive } from "./fileLock.js"

/** The file's bytes and its parsed document; `None` when the file does not exist. */
export interface Loaded {
  readonly raw: Option.Option<Uint8Array>
  readonly doc: Option.Option<AuthDocument>
}

const READ_ATTEMPTS = 6
const WRITE_ATTEMPTS = 5
const TEMP_FILE = /^\.auth\.json\.(\d+)\.[A-Za-z0-9]+\.tmp$/

const ioError = (file: string, what: string) => (error: PlatformError.PlatformError) =>
  new KeyStoreError({ reason: "Io", path: file, detail: `${what} failed (${error._tag === "SystemError" ? error.reason : "bad argument"})` })

const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

const readRaw = (fs: FileSystem.FileSystem, file: string) =>
  fs.readFile(file).pipe(
    Effect.map(Option.some),
    Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeed(Option.none())),
    Effect.mapError(ioError(file, "reading"))
  )

/** Reads and parses auth.json; an unparseable file is retried briefly, then a `KeyStoreError`. */
export const load = (fs: FileSystem.FileSystem, file: string): Effect.Effect<Loaded, KeyStoreError> =>
  Effect.gen(function*() {
    let lastReason = ""
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const raw = yield* readRaw(fs, file)
      if (Option.isNone(raw)) return { raw, doc: Option.none() }
      let text: string
      try {
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw.value)
      } catch {
        lastReason = "auth.json is not UTF-8"
        continue
      }
      const doc = parseAuthText(text)
      if (Either.isRight(doc)) return { raw, doc: Option.some(doc.right) }
      lastReason = doc.left
      yield* Effect.sleep(Duration.millis(15 * (attempt + 1)))
    }
    return yield* new KeyStoreError({ reason: "Unparseable", path: file, detail: `${lastReason}; the file was left untouched` })
  })

const randomName = () => Math.random().toString(36).slice(2, 12)

/** Removes temp files left by writers that died (their pid is gone). */
const sweepTempFiles = (fs: FileSystem.FileSystem, dir: string) =>
  Effect.gen(function*() {
    const names = yield* fs.readDirectory(dir)
    for (const name of names) {
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

/**
 * Read-modify-write of auth.json. `edit` gets the current document (None if there is no file) and
 * returns the new one, or None to write nothing. The caller holds the lock.
 */
export const modify = <E>(
  fs: FileSystem.FileSystem,
  file: string,
  edit: (doc: Option.Option<AuthDocument>) => Either.Either<Option.Option<AuthDocument>, E>
): Effect.Effect<boolean, E | KeyStoreError> =>
  Effect.gen(function*() {
    const dir = path.dirname(file)
    yield* fs.makeDirectory(dir, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(ioError(dir, "creating the folder")))
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const loaded = yield* load(fs, file)
      const next = edit(loaded.doc)
      if (Either.isLeft(next)) return yield* Effect.fail(next.left)
      const nextDoc = next.right
      if (Option.isNone(nextDoc)) return false
      const bytes = new TextEncoder().encode(formatAuthDocument(nextDoc.value))
      const temp = path.join(dir, `.auth.json.${process.pid}.${randomName()}.tmp`)
      const written = yield* Effect.gen(function*() {
        yield* writeTemp(fs, temp, bytes).pipe(Effect.mapError(ioError(temp, "writing the temp file")))
        const current = yield* readRaw(fs, file)
        const unchanged = Option.isNone(loaded.raw)
          ? Option.isNone(current)
          : Option.isSome(current) && equalBytes(current.value, loaded.raw.value)
        if (!unchanged) return false
        yield* fs.rename(temp, file).pipe(Effect.mapError(ioError(file, "replacing auth.json")))
        return true
      }).pipe(Effect.ensuring(fs.remove(temp).pipe(Effect.ignore)))
      if (written) {
        yield* syncDirectory(fs, dir)
        yield* sweepTempFiles(fs, dir)
        return true
      }
      yield* Effect.logDebug("auth.json changed while we were writing it; redoing the edit")
    }
    return yield* new KeyStoreError({ reason: "Io", path: file, detail: "auth.json kept changing under us; nothing was written" })
  })
