/**
 * KeyStore: the ChatGPT login and the agent identity record, kept in Codex's own auth.json format.
 * `layerFile` shares `$CODEX_HOME/auth.json` with Codex (atomic writes, mode 0600, a lock beside it
 * serialising processes); `layerMemory` keeps the same document in memory, for tests and for
 * applications that keep credentials elsewhere.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as os from "node:os"
import * as path from "node:path"
import {
  accessTokenLogin,
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
import { TaskId } from "../Domain/Ids.js"
import type { Protocol } from "../Domain/Settings.js"
import * as AuthFile from "../internal/authFile.js"
import { withFileLock } from "../internal/fileLock.js"
import { ioFailure } from "../internal/files.js"

/** The tasks kept for Agent Identity JWT identities (a JWT cannot hold them), by protocol and runtime id. */
export type JwtTasks = ReadonlyMap<string, TaskId>

/** The key of a JWT identity's task in `JwtTasks`. */
export const jwtTaskKey = (protocol: Protocol, agentRuntimeId: string): string => `${protocol} ${agentRuntimeId}`

/** One consistent reading: the login (the access token given to the store wins), the slot, and the JWT tasks. */
export interface StoreState extends AuthState {
  readonly jwtTasks: JwtTasks
}

/** The KeyStore's operations. */
export interface Service {
  /** One consistent reading of the login, the identity slot and the tasks of JWT identities. */
  readonly read: Effect.Effect<StoreState, KeyStoreError>
  /**
   * Stores the record in the single `agent_identity` slot (keeping the stored task id when the new
   * record has none and names the same workspace and runtime). Refuses to replace a foreign form.
   */
  readonly saveIdentity: (
    record: AgentIdentityRecord
  ) => Effect.Effect<void, KeyStoreError | ForeignIdentityFormatError>
  /** Puts an Agent Identity JWT in the slot, replacing whatever was there (an explicit import). */
  readonly saveIdentityJwt: (jwt: Redacted.Redacted<string>) => Effect.Effect<void, KeyStoreError>
  /** Keeps (or, with None, drops) the task of a JWT identity, beside auth.json: never in it. */
  readonly saveJwtTask: (
    protocol: Protocol,
    agentRuntimeId: string,
    taskId: Option.Option<TaskId>
  ) => Effect.Effect<void, KeyStoreError>
  /**
   * Replaces the whole file with `document`, as `codex login` does (an access-token login writes exactly
   * the document Codex writes; the previous login and identity are gone).
   */
  readonly saveLogin: (document: AuthDocument) => Effect.Effect<void, KeyStoreError>
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

/** One JSON document a backend keeps. */
export interface Document {
  readonly location: string
  readonly load: Effect.Effect<Option.Option<AuthDocument>, KeyStoreError>
  readonly modify: <E>(
    edit: (doc: Option.Option<AuthDocument>) => Either.Either<Option.Option<AuthDocument>, E>
  ) => Effect.Effect<boolean, E | KeyStoreError>
}

/**
 * The primitive operations a store backend supplies: auth.json (or a database's copy of it), the JWT tasks
 * beside it, and a lock. `lock` must exclude every other holder of the same store, in any process.
 */
export interface Backend extends Document {
  readonly tasks: Document
  readonly lock: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | KeyStoreError, R>
  /** A login that wins over auth.json's (Codex's `CODEX_ACCESS_TOKEN`). */
  readonly accessToken: Option.Option<Redacted.Redacted<string>>
}

const TASKS_FIELD = "jwt_tasks"

/** The JWT tasks of the tasks document: `{"jwt_tasks": {"<protocol> <runtime id>": "<task id>"}}`. */
const readJwtTasks = (doc: Option.Option<AuthDocument>): JwtTasks => {
  const tasks = Option.getOrUndefined(doc)?.[TASKS_FIELD]
  const out = new Map<string, TaskId>()
  if (typeof tasks === "object" && tasks !== null && !Array.isArray(tasks)) {
    for (const [key, value] of Object.entries(tasks)) if (typeof value === "string") out.set(key, TaskId.make(value))
  }
  return out
}

const unparseable = (location: string, detail: string) =>
  new KeyStoreError({ reason: "Unparseable", path: location, detail: `${detail}; the file was left untouched` })

/**
 * The stores whose `exclusive` the current fiber is inside (each named by its mutex), for re-entrancy. One
 * FiberRef for all stores: a fiber keeps an entry for every FiberRef it ever set, and copies them all on
 * each set, so a FiberRef per store made a fiber that used many stores slower with each one.
 */
const heldStores = FiberRef.unsafeMake<ReadonlyArray<Effect.Semaphore>>([])

/**
 * Builds the service from a backend: the shared reading and editing rules live here, once. Stores other
 * than the file and memory ones (a database's, per account) supply a `Backend` and get the same rules.
 */
export const makeFromBackend = (backend: Backend): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const mutex = yield* Effect.makeSemaphore(1)

    const exclusive = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | KeyStoreError, R> =>
      Effect.flatMap(FiberRef.get(heldStores), (held) =>
        held.includes(mutex)
          ? self
          : mutex.withPermits(1)(backend.lock(Effect.locallyWith(self, heldStores, (stores) => [...stores, mutex]))))

    // The backend hands back the same document while nothing changed; its reading is kept with it.
    let last: { readonly doc: AuthDocument; readonly state: Either.Either<AuthState, string> } | undefined
    const stateOf = (doc: AuthDocument) => {
      if (last === undefined || last.doc !== doc) last = { doc, state: readState(doc) }
      return last.state
    }
    const authState = Effect.flatMap(backend.load, (doc) =>
      Option.match(doc, {
        onNone: () => Effect.succeed(emptyState),
        onSome: (d) => Either.match(stateOf(d), { onLeft: (r) => Effect.fail(unparseable(backend.location, r)), onRight: Effect.succeed })
      }))
    const envLogin = Option.map(backend.accessToken, (token) => accessTokenLogin(token, "environment"))
    const noTasks: JwtTasks = new Map()
    // While neither document changed, a reading is the same value (the header path compares by identity).
    let composed: { readonly state: AuthState; readonly tasks: unknown; readonly value: StoreState } | undefined
    const read: Service["read"] = Effect.gen(function*() {
      const state = yield* authState
      const login = Option.getOrElse(envLogin, () => state.login)
      // The tasks document is read only when a JWT identity may need it.
      const tasks = login._tag === "AgentIdentityJwt" || state.identity._tag === "Jwt" ? yield* backend.tasks.load : undefined
      if (composed !== undefined && composed.state === state && composed.tasks === tasks) return composed.value
      const value: StoreState = { login, identity: state.identity, jwtTasks: tasks === undefined ? noTasks : readJwtTasks(tasks) }
      composed = { state, tasks, value }
      return value
    })

    const saveJwtTask: Service["saveJwtTask"] = (protocol, agentRuntimeId, taskId) =>
      exclusive(backend.tasks.modify<KeyStoreError>((doc) => {
        const tasks = new Map(readJwtTasks(doc))
        const key = jwtTaskKey(protocol, agentRuntimeId)
        if (Option.getOrUndefined(taskId) === tasks.get(key)) return Either.right(Option.none())
        Option.match(taskId, { onNone: () => tasks.delete(key), onSome: (t) => tasks.set(key, t) })
        return Either.right(Option.some({ [TASKS_FIELD]: Object.fromEntries(tasks) }))
      })).pipe(Effect.asVoid)

    const saveLogin: Service["saveLogin"] = (document) =>
      exclusive(backend.modify<KeyStoreError>(() => Either.right(Option.some(document)))).pipe(Effect.asVoid)

    const saveIdentity = (record: AgentIdentityRecord) =>
      exclusive(
        backend.modify<ForeignIdentityFormatError | KeyStoreError>((doc) => {
          const current = Option.getOrElse(doc, (): AuthDocument => ({}))
          // The reading of the document as it is now (kept with it when it was read before: same object, same reading).
          const state = Option.isSome(doc) ? stateOf(current) : readState(current)
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

    return { read, saveIdentity, saveIdentityJwt, saveJwtTask, saveLogin, removeIdentity, exclusive }
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
  /**
   * An access token that wins over auth.json's login and is never written (Codex's `CODEX_ACCESS_TOKEN`):
   * an Agent Identity JWT, or a personal access token (`at-…`).
   */
  readonly accessToken?: Redacted.Redacted<string> | undefined
}

/** Where the tasks of Agent Identity JWT identities are kept, beside auth.json (Codex never reads it). */
export const TASKS_FILE = "agent-identity-tasks.json"

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
    const tasksFile = path.join(options.codexHome, TASKS_FILE)
    return yield* makeFromBackend({
      location: file,
      load: Effect.map(AuthFile.cachedLoader(fs, file, options), (loaded) => loaded.doc),
      modify: (edit) => AuthFile.modify(fs, file, edit, options),
      tasks: {
        location: tasksFile,
        load: Effect.map(AuthFile.cachedLoader(fs, tasksFile, options), (loaded) => loaded.doc),
        modify: (edit) => AuthFile.modify(fs, tasksFile, edit, options)
      },
      accessToken: Option.fromNullable(options.accessToken),
      lock: (self) =>
        Effect.zipRight(
          fs.makeDirectory(options.codexHome, { recursive: true, mode: 0o700 }).pipe(
            Effect.mapError(ioFailure(options.codexHome, "creating the folder"))
          ),
          fileLock(self)
        )
    })
  })

/** The file store as a layer. */
export const layerFile = (options: FileOptions): Layer.Layer<KeyStore, never, FileSystem.FileSystem> =>
  Layer.effect(KeyStore, makeFile(options))

/** Codex's `CODEX_ACCESS_TOKEN` (trimmed; empty means unset): a login that wins over auth.json's. */
export const accessTokenFromEnv: Config.Config<Redacted.Redacted<string> | undefined> = Config.redacted("CODEX_ACCESS_TOKEN").pipe(
  Config.map((token) => Redacted.make(Redacted.value(token).trim())),
  Config.option,
  Config.map(Option.filter((token) => Redacted.value(token).length > 0)),
  Config.map(Option.getOrUndefined)
)

/** Codex's CODEX_HOME: `$CODEX_HOME` (trimmed; empty means unset), else `~/.codex`. */
export const codexHome: Config.Config<string> = Config.string("CODEX_HOME").pipe(
  Config.map((home) => home.trim()),
  Config.validate({ message: "CODEX_HOME is empty", validation: (home) => home.length > 0 }),
  Config.orElse(() => Config.succeed(path.join(os.homedir(), ".codex"))),
  Config.map((home) => path.resolve(home))
)

/** The file store's options from `Config`s (by default, `codexHome` from the environment). */
export const layerFileConfig = (
  config: Config.Config.Wrap<FileOptions> = { codexHome, accessToken: accessTokenFromEnv }
): Layer.Layer<KeyStore, ConfigError.ConfigError, FileSystem.FileSystem> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layerFile))

/** A JSON document in memory. */
const memoryDocument = (location: string, initial: Option.Option<AuthDocument>): Effect.Effect<Document> =>
  Effect.map(Ref.make(initial), (ref) => ({
    location,
    load: Ref.get(ref),
    modify: (edit) =>
      Effect.flatMap(Ref.get(ref), (doc) =>
        Either.match(edit(doc), {
          onLeft: Effect.fail,
          onRight: (next) => Option.match(next, { onNone: () => Effect.succeed(false), onSome: (d) => Effect.as(Ref.set(ref, Option.some(d)), true) })
        }))
  }))

/** Options of the memory store. */
export interface MemoryOptions {
  /** An access token that wins over the document's login (as `CODEX_ACCESS_TOKEN` does). */
  readonly accessToken?: Redacted.Redacted<string> | undefined
}

/** A KeyStore holding an auth.json document in memory; `initial` is the document (none: no login). */
export const makeMemory = (initial?: AuthDocument, options: MemoryOptions = {}): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const auth = yield* memoryDocument("memory", Option.fromNullable(initial))
    const tasks = yield* memoryDocument("memory (tasks)", Option.none())
    return yield* makeFromBackend({ ...auth, tasks, lock: (self) => self, accessToken: Option.fromNullable(options.accessToken) })
  })

/** The memory store as a layer. */
export const layerMemory = (initial?: AuthDocument, options: MemoryOptions = {}): Layer.Layer<KeyStore> =>
  Layer.effect(KeyStore, makeMemory(initial, options))
