/**
 * KeyStore: the ChatGPT login and the agent identity record, kept in Codex's own auth.json format.
 * `layerFile` shares `$CODEX_HOME/auth.json` with Codex (atomic writes, mode 0600, a lock beside it
 * serialising processes); `layerMemory` keeps the same document in memory, for tests and for
 * applications that keep credentials elsewhere.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as path from "node:path"
import {
  type AgentIdentityRecord,
  type AuthDocument,
  type AuthState,
  emptyState,
  mergeRecord,
  readState,
  withIdentity,
  withIdentityJwt
} from "../Domain/AuthDocument.js"
import { ForeignIdentityFormatError, KeyStoreError } from "../Domain/Errors.js"
import * as AuthFile from "../internal/authFile.js"
import { withFileLock } from "../internal/fileLock.js"

/** The KeyStore's operations. */
export interface Service {
  /** One consistent reading of the login and the identity slot. */
  readonly read: Effect.Effect<AuthState, KeyStoreError>
  /**
   * Stores the record in the single `agent_identity` slot (keeping the stored task id when the new
   * record has none and names the same workspace and runtime). Refuses to replace a foreign form.
   */
  readonly saveIdentity: (
    record: AgentIdentityRecord
  ) => Effect.Effect<void, KeyStoreError | ForeignIdentityFormatError>
  /** Puts an Agent Identity JWT in the slot, replacing whatever was there (an explicit import). */
  readonly saveIdentityJwt: (jwt: Redacted.Redacted<string>) => Effect.Effect<void, KeyStoreError>
  /** Removes whatever the slot holds; true when something was removed. */
  readonly removeIdentity: Effect.Effect<boolean, KeyStoreError>
  /**
   * Runs `self` with exclusive access to the store — across fibers, and for the file store across
   * processes — so a registration and the write after it happen once. Re-entrant.
   */
  readonly exclusive: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | KeyStoreError, R>
}

/** The KeyStore service. */
export class KeyStore extends Context.Tag("effect-agent-identity/KeyStore")<KeyStore, Service>() {}

/** The primitive operations a store backend supplies. */
interface Backend {
  readonly location: string
  readonly load: Effect.Effect<Option.Option<AuthDocument>, KeyStoreError>
  readonly modify: <E>(
    edit: (doc: Option.Option<AuthDocument>) => Either.Either<Option.Option<AuthDocument>, E>
  ) => Effect.Effect<boolean, E | KeyStoreError>
  readonly lock: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | KeyStoreError, R>
}

const unparseable = (location: string, detail: string) =>
  new KeyStoreError({ reason: "Unparseable", path: location, detail: `${detail}; the file was left untouched` })

/** Builds the service from a backend: the shared reading and editing rules live here, once. */
const fromBackend = (backend: Backend): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const mutex = yield* Effect.makeSemaphore(1)
    const holding = FiberRef.unsafeMake(false)

    const exclusive = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | KeyStoreError, R> =>
      Effect.flatMap(FiberRef.get(holding), (held) =>
        held
          ? self
          : mutex.withPermits(1)(backend.lock(Effect.locally(self, holding, true))))

    // The backend hands back the same document while nothing changed; its reading is kept with it.
    let last: { readonly doc: AuthDocument; readonly state: Either.Either<AuthState, string> } | undefined
    const stateOf = (doc: AuthDocument) => {
      if (last === undefined || last.doc !== doc) last = { doc, state: readState(doc) }
      return last.state
    }
    const read = Effect.flatMap(backend.load, (doc) =>
      Option.match(doc, {
        onNone: () => Effect.succeed(emptyState),
        onSome: (d) => Either.match(stateOf(d), { onLeft: (r) => Effect.fail(unparseable(backend.location, r)), onRight: Effect.succeed })
      }))

    const saveIdentity = (record: AgentIdentityRecord) =>
      exclusive(
        backend.modify<ForeignIdentityFormatError | KeyStoreError>((doc) => {
          const current = Option.getOrElse(doc, (): AuthDocument => ({}))
          const state = readState(current)
          if (Either.isLeft(state)) return Either.left(unparseable(backend.location, state.left))
          const slot = state.right.identity
          if (slot._tag === "Foreign" || slot._tag === "Jwt") {
            return Either.left(new ForeignIdentityFormatError({ form: slot._tag === "Jwt" ? "an Agent Identity JWT" : slot.form }))
          }
          return Either.right(Option.some(withIdentity(current, mergeRecord(state.right.identity, record))))
        })
      ).pipe(Effect.asVoid)

    const saveIdentityJwt = (jwt: Redacted.Redacted<string>) =>
      exclusive(
        backend.modify<KeyStoreError>((doc) => {
          const current = Option.getOrElse(doc, (): AuthDocument => ({}))
          return Either.isLeft(readState(current))
            ? Either.left(unparseable(backend.location, "auth.json cannot be read"))
            : Either.right(Option.some(withIdentityJwt(current, jwt)))
        })
      ).pipe(Effect.asVoid)

    const removeIdentity = exclusive(
      backend.modify<KeyStoreError>((doc) =>
        Either.right(
          Option.filter(doc, (d) => d["agent_identity"] !== undefined).pipe(Option.map((d) => withIdentity(d, undefined)))
        )
      )
    )

    return { read, saveIdentity, saveIdentityJwt, removeIdentity, exclusive }
  })

/** Options of the file store. */
export interface FileOptions {
  /** The folder of auth.json (Codex's CODEX_HOME). */
  readonly codexHome: string
  /** How long to wait for another process's lock (default 60 s). */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /** How old an unrefreshed lock must be to be taken over (default 30 s). */
  readonly staleLockTimeout?: Duration.DurationInput | undefined
  /** Extra reads of an unparseable auth.json before failing (default 5): Codex may be mid-write. */
  readonly unparseableRetries?: number | undefined
}

/** The lock file's name, beside auth.json. */
export const LOCK_FILE = ".agent-identity.lock"

/** A KeyStore on `$CODEX_HOME/auth.json`, shared with Codex. */
export const makeFile = (options: FileOptions): Effect.Effect<Service, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = path.join(options.codexHome, "auth.json")
    const lockPath = path.join(options.codexHome, LOCK_FILE)
    const fileLock = withFileLock(fs, {
      path: lockPath,
      timeout: Duration.decode(options.lockTimeout ?? Duration.seconds(60)),
      staleAfter: Duration.decode(options.staleLockTimeout ?? Duration.seconds(30))
    })
    return yield* fromBackend({
      location: file,
      load: Effect.map(AuthFile.cachedLoader(fs, file, options), (loaded) => loaded.doc),
      modify: (edit) => AuthFile.modify(fs, file, edit, options),
      lock: (self) =>
        Effect.zipRight(
          fs.makeDirectory(options.codexHome, { recursive: true, mode: 0o700 }).pipe(
            Effect.mapError((e) => new KeyStoreError({ reason: "Io", path: options.codexHome, detail: `creating the folder failed (${e.message})` }))
          ),
          fileLock(self)
        )
    })
  })

/** The file store as a layer. */
export const layerFile = (options: FileOptions): Layer.Layer<KeyStore, never, FileSystem.FileSystem> =>
  Layer.effect(KeyStore, makeFile(options))

/** A KeyStore holding an auth.json document in memory; `initial` is the document (none: no login). */
export const makeMemory = (initial?: AuthDocument): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const ref = yield* Ref.make(Option.fromNullable(initial))
    return yield* fromBackend({
      location: "memory",
      load: Ref.get(ref),
      modify: (edit) =>
        Effect.flatMap(Ref.get(ref), (doc) =>
          Either.match(edit(doc), {
            onLeft: Effect.fail,
            onRight: (next) => Option.match(next, { onNone: () => Effect.succeed(false), onSome: (d) => Effect.as(Ref.set(ref, Option.some(d)), true) })
          })),
      lock: (self) => self
    })
  })

/** The memory store as a layer. */
export const layerMemory = (initial?: AuthDocument): Layer.Layer<KeyStore> => Layer.effect(KeyStore, makeMemory(initial))
