/**
 * AccountStore: the logins and identities of many ChatGPT accounts (a fleet), each seen as a KeyStore of its
 * own. A gateway resolves the account a request names, gets that account's KeyStore and runs the usual
 * AuthManager on it; the single flight of a registration is the KeyStore's `exclusive`, which a shared store
 * (a database) makes hold across every process and host using it.
 *
 * `layerMemory` keeps the accounts in memory (one process); the database stores (SQLite, PostgreSQL) supply
 * the same service.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as SynchronizedRef from "effect/SynchronizedRef"
import { type AuthDocument, readState } from "../Domain/AuthDocument.js"
import { bindingOf } from "../Domain/Binding.js"
import { AccountNotFoundError, type AgentIdentityJwtError, KeyStoreError, type LoginUnavailableError } from "../Domain/Errors.js"
import type { Protocol } from "../Domain/Settings.js"
import * as KeyStore from "./KeyStore.js"

/** Which account and user a stored login belongs to: the binding of its login (`Domain/Binding`). */
export interface AccountKey {
  readonly accountId: string
  /** None: the login names no user (a stored identity then binds to the account alone). */
  readonly userId: Option.Option<string>
}

/** One string per key (for maps and database rows): the user is empty when there is none. */
export const accountKeyString = (key: AccountKey): string => `${key.accountId}\u0000${Option.getOrElse(key.userId, () => "")}`

/** What the store lists about an account: never a secret. */
export interface AccountEntry extends AccountKey {
  /** The login's kind, as `Domain/AuthDocument`'s `Login` tags it. */
  readonly login: string
  /** The runtime id of the stored identity, if any. */
  readonly agentRuntimeId: Option.Option<string>
  /** When the account's row last changed. */
  readonly updatedAt: Date
}

/** Something that happened to an account, kept by the store's audit (never a secret in `detail`). */
export interface AuditEvent {
  readonly action: "registered" | "renewed" | "revoked" | "imported" | "refused"
  readonly accountId: string
  readonly userId: Option.Option<string>
  /** A short, secret-free note: a runtime id, a task id, a reason. */
  readonly detail: string
}

/** A session's task (a conversation, a gateway session), kept per account and session key. */
export interface SessionTask {
  readonly agentRuntimeId: string
  readonly taskId: string
}

/** The outcome of storing one login. */
export interface PutOutcome {
  readonly key: AccountKey
  /** False when the store already held exactly this document (an import is idempotent). */
  readonly changed: boolean
}

/** The AccountStore's operations. */
export interface Service {
  /** Where the accounts are kept, secret-free (`memory`, `sqlite:/path`, `postgres://host:port/db`). */
  readonly location: string
  /** Every account held, sorted by account id then user id. */
  readonly list: Effect.Effect<ReadonlyArray<AccountEntry>, KeyStoreError>
  /**
   * The key of the account a request names: the only login of `accountId`, or the one of `userId` when
   * given. Fails `AccountNotFoundError` when none is held (or several users and no `userId`).
   */
  readonly resolve: (accountId: string, userId?: string) => Effect.Effect<AccountKey, KeyStoreError | AccountNotFoundError>
  /** The account's KeyStore: its auth.json document, its JWT tasks, and a lock held across processes. */
  readonly keyStore: (key: AccountKey) => Effect.Effect<KeyStore.Service, KeyStoreError | AccountNotFoundError>
  /**
   * Stores a login (a whole auth.json document, as Codex writes it) under the account its login binds to. An
   * identity already stored for that account is kept, whatever the document holds: the document's identity is
   * taken only for an account that holds none.
   */
  readonly put: (
    document: AuthDocument,
    protocol: Protocol
  ) => Effect.Effect<PutOutcome, KeyStoreError | LoginUnavailableError | AgentIdentityJwtError>
  /** Drops an account with its identity, tasks and sessions; true when something was removed. */
  readonly remove: (key: AccountKey) => Effect.Effect<boolean, KeyStoreError>
  /** A session's task, per account and session key. */
  readonly sessionTask: (key: AccountKey, sessionKey: string) => Effect.Effect<Option.Option<SessionTask>, KeyStoreError>
  /** Keeps (or, with None, drops) a session's task. */
  readonly saveSessionTask: (
    key: AccountKey,
    sessionKey: string,
    task: Option.Option<SessionTask>
  ) => Effect.Effect<void, KeyStoreError>
  /** Records what happened (best kept: a failure to audit fails the caller). */
  readonly audit: (event: AuditEvent) => Effect.Effect<void, KeyStoreError>
}

/** The AccountStore service. */
export class AccountStore extends Context.Tag("effect-agent-identity/AccountStore")<AccountStore, Service>() {}

/** The account a document's login binds to (the forced workspace does not apply to a fleet). */
export const keyOfDocument = (
  document: AuthDocument,
  protocol: Protocol
): Either.Either<AccountKey, KeyStoreError | LoginUnavailableError | AgentIdentityJwtError> =>
  Either.flatMap(
    Either.mapLeft(readState(document), (detail) =>
      new KeyStoreError({ reason: "Unparseable", path: "document", detail })),
    (state) =>
      Either.map(bindingOf(state.login, Option.none(), protocol), (binding) => ({
        accountId: binding.accountId,
        userId: binding.userId
      }))
  )

/**
 * The document `put` stores for `document` over what the account holds. An identity already stored stays,
 * whatever the document brings (it may have been registered or revoked since the document was exported: an
 * import must not bring back an old key or drop the new one); the document's identity is taken only for an
 * account that holds none. An Agent Identity JWT login is its slot (`auth_mode: "agentIdentity"`): such a
 * document replaces the whole login, and such a stored login's slot is not an identity to keep.
 */
export const documentToStore = (current: AuthDocument | undefined, document: AuthDocument): AuthDocument => {
  const isJwtLogin = (doc: AuthDocument | undefined) => doc?.["auth_mode"] === "agentIdentity"
  const stored = current?.["agent_identity"]
  return isJwtLogin(document) || isJwtLogin(current) || stored === undefined ? document : { ...document, agent_identity: stored }
}

interface MemoryAccount {
  readonly key: AccountKey
  readonly store: KeyStore.Service
  readonly document: Ref.Ref<Option.Option<AuthDocument>>
  readonly sessions: Map<string, SessionTask>
  updatedAt: Date
}

/** An AccountStore in memory (one process): each account a memory KeyStore. */
export const makeMemory: Effect.Effect<Service & { readonly events: Effect.Effect<ReadonlyArray<AuditEvent>> }> = Effect.gen(
  function*() {
    const accounts = yield* SynchronizedRef.make(new Map<string, MemoryAccount>())
    const events = yield* Ref.make<ReadonlyArray<AuditEvent>>([])

    const newAccount = (key: AccountKey, document: AuthDocument) =>
      Effect.gen(function*() {
        const ref = yield* Ref.make(Option.some(document))
        const tasks = yield* Ref.make(Option.none<AuthDocument>())
        const doc = (location: string, r: Ref.Ref<Option.Option<AuthDocument>>): KeyStore.Document => ({
          location,
          load: Ref.get(r),
          modify: (edit) =>
            Effect.flatMap(Ref.get(r), (current) =>
              Either.match(edit(current), {
                onLeft: Effect.fail,
                onRight: (next) =>
                  Option.match(next, {
                    onNone: () => Effect.succeed(false),
                    onSome: (d) => Effect.as(Ref.set(r, Option.some(d)), true)
                  })
              }))
        })
        const location = `memory:${key.accountId}`
        const lock = yield* Effect.makeSemaphore(1)
        const store = yield* KeyStore.makeFromBackend({
          ...doc(location, ref),
          tasks: doc(`${location} (tasks)`, tasks),
          accessToken: Option.none(),
          lock: lock.withPermits(1)
        })
        return { key, store, document: ref, sessions: new Map(), updatedAt: new Date() } satisfies MemoryAccount
      })

    const entryOf = (account: MemoryAccount) =>
      Effect.map(account.store.read, (state): AccountEntry => ({
        ...account.key,
        login: state.login._tag,
        agentRuntimeId: state.identity._tag === "Record" ? Option.some(state.identity.record.agent_runtime_id) : Option.none(),
        updatedAt: account.updatedAt
      }))

    const list: Service["list"] = Effect.flatMap(SynchronizedRef.get(accounts), (map) =>
      Effect.map(
        Effect.forEach([...map.values()], entryOf),
        (entries) => [...entries].sort((a, b) => accountKeyString(a) < accountKeyString(b) ? -1 : accountKeyString(a) > accountKeyString(b) ? 1 : 0)
      ))

    const resolve: Service["resolve"] = (accountId, userId) =>
      Effect.flatMap(SynchronizedRef.get(accounts), (map) => {
        const matches = [...map.values()].filter((a) =>
          a.key.accountId === accountId && (userId === undefined || Option.getOrUndefined(a.key.userId) === userId)
        )
        return matches.length === 1
          ? Effect.succeed(matches[0]!.key)
          : Effect.fail(new AccountNotFoundError({ accountId, reason: matches.length === 0 ? "NotHeld" : "SeveralUsers" }))
      })

    const find = (key: AccountKey) =>
      Effect.flatMap(SynchronizedRef.get(accounts), (map) => {
        const account = map.get(accountKeyString(key))
        return account === undefined
          ? Effect.fail(new AccountNotFoundError({ accountId: key.accountId, reason: "NotHeld" }))
          : Effect.succeed(account)
      })

    const put: Service["put"] = (document, protocol) =>
      Effect.flatMap(Either.match(keyOfDocument(document, protocol), { onLeft: Effect.fail, onRight: Effect.succeed }), (key) =>
        SynchronizedRef.modifyEffect(accounts, (map) =>
          Effect.gen(function*() {
            const existing = map.get(accountKeyString(key))
            if (existing === undefined) {
              const account = yield* newAccount(key, document)
              return [{ key, changed: true }, new Map(map).set(accountKeyString(key), account)] as const
            }
            const current = yield* Ref.get(existing.document)
            const next = documentToStore(Option.getOrUndefined(current), document)
            const changed = JSON.stringify(Option.getOrUndefined(current)) !== JSON.stringify(next)
            if (changed) {
              yield* existing.store.saveLogin(next)
              existing.updatedAt = new Date()
            }
            return [{ key, changed }, map] as const
          })))

    const remove: Service["remove"] = (key) =>
      SynchronizedRef.modify(accounts, (map) => {
        const k = accountKeyString(key)
        if (!map.has(k)) return [false, map] as const
        const next = new Map(map)
        next.delete(k)
        return [true, next] as const
      })

    const sessionTask: Service["sessionTask"] = (key, sessionKey) =>
      Effect.map(SynchronizedRef.get(accounts), (map) =>
        Option.fromNullable(map.get(accountKeyString(key))?.sessions.get(sessionKey)))

    const saveSessionTask: Service["saveSessionTask"] = (key, sessionKey, task) =>
      Effect.map(SynchronizedRef.get(accounts), (map) => {
        const sessions = map.get(accountKeyString(key))?.sessions
        if (sessions === undefined) return
        Option.match(task, { onNone: () => sessions.delete(sessionKey), onSome: (t) => sessions.set(sessionKey, t) })
      })

    return {
      location: "memory",
      list,
      resolve,
      keyStore: (key) => Effect.map(find(key), (account) => account.store),
      put,
      remove,
      sessionTask,
      saveSessionTask,
      audit: (event) => Ref.update(events, (all) => [...all, event]),
      events: Ref.get(events)
    }
  }
)

/** The memory store as a layer. */
export const layerMemory: Layer.Layer<AccountStore> = Layer.effect(AccountStore, makeMemory)
