/**
 * IdentityPool: the AuthManager's operations for every account an `AccountStore` holds, resolved per request
 * (an account id, optionally a user id and a session key). Each account gets its own AuthManager on its own
 * KeyStore (the composition of `Layers.authManager`), built once however many fibers ask at once and released
 * after it has been idle for `idleTimeToLive` (an `RcMap`). Its single flight is the account KeyStore's
 * `exclusive`, so a store shared by several processes makes it hold across them.
 *
 * A request with a session key signs with the session's own task (registered once, kept with
 * `AccountStore.saveSessionTask`, reused while it belongs to the account's current identity). `recover` is the
 * 401 path: it replaces the rejected task once and signs again. Every change of a task is published on
 * `taskChanges`, so a caller can drop the pooled connections that used the old one. Registrations, renewals,
 * revocations and refusals go to the store's audit (ids and reasons only, never a secret), and to `Metrics`.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import * as RcMap from "effect/RcMap"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { isTrustedBaseUrl } from "../Domain/Endpoints.js"
import type { AccountNotFoundError, AuthError, KeyStoreError } from "../Domain/Errors.js"
import { Settings } from "../Domain/Settings.js"
import * as AuthManager from "../manager/AuthManager.js"
import * as Identity from "../manager/Identity.js"
import * as Layers from "../manager/Layers.js"
import { type AccountKey, AccountStore, accountKeyString, type AuditEvent } from "../services/AccountStore.js"
import * as AssertionSigner from "../services/AssertionSigner.js"
import * as KeyStore from "../services/KeyStore.js"
import * as Metrics from "./Metrics.js"

/** Whom a request acts for. */
export interface PoolRequest {
  /** The ChatGPT account (as a request's `ChatGPT-Account-ID` names it). */
  readonly accountId: string
  /** The user, when the store holds several logins of the account. */
  readonly userId?: string | undefined
  /** A session (conversation) key: the request signs with that session's own task. */
  readonly sessionKey?: string | undefined
}

/** A task that changed: connections that carried the previous one should be dropped. */
export interface TaskChange {
  readonly accountId: string
  readonly userId: Option.Option<string>
  /** None: the account's own task; Some: a session's. */
  readonly sessionKey: Option.Option<string>
  readonly reason: "registered" | "renewed" | "revoked"
  readonly previous: Option.Option<AuthManager.AgentTask>
  readonly current: Option.Option<AuthManager.AgentTask>
}

/** The IdentityPool's operations. Each resolves its request's account first (`AccountNotFoundError` if not held). */
export interface Service {
  /** The store's key of the account a request names. */
  readonly resolve: (request: PoolRequest) => Effect.Effect<AccountKey, KeyStoreError | AccountNotFoundError>
  /** Reuses the account's stored identity, else registers one. */
  readonly ensureIdentity: (
    request: PoolRequest
  ) => Effect.Effect<AuthManager.AgentIdentity & { readonly reused: boolean }, AuthError>
  /** The account's task (or, with a session key, the session's), reused or registered. */
  readonly ensureTask: (request: PoolRequest) => Effect.Effect<AuthManager.AgentTask & { readonly reused: boolean }, AuthError>
  /**
   * The AgentAssertion for the request's task, registering what is missing. None when agent identity is
   * disabled or the backend's host is not trusted (as `AuthManager.authorizationHeader`).
   */
  readonly authorizationHeader: (request: PoolRequest) => Effect.Effect<Option.Option<AuthManager.AuthorizationHeader>, AuthError>
  /**
   * `authorizationHeader`, else `Bearer` with the account's login (a failure to get an assertion is logged and
   * counted), as the HttpClient middleware does for the backend. None: the account has no credential at all.
   */
  readonly authorizationHeaderOrBearer: (
    request: PoolRequest
  ) => Effect.Effect<Option.Option<AuthManager.AuthorizationHeader>, KeyStoreError | AccountNotFoundError>
  /**
   * After a 401 to `rejected`: replaces its task once (`AuthManager.renewTask`, or the session's task) and
   * returns the header to send again. None when `rejected` signed for no task (Bearer: nothing to recover).
   * A task already replaced meanwhile (by another fiber or process) is reused, not replaced again.
   */
  readonly recover: (
    request: PoolRequest,
    rejected: AuthManager.AuthorizationHeader
  ) => Effect.Effect<Option.Option<AuthManager.AuthorizationHeader>, AuthError>
  /**
   * With a session key: drops the session's task. Without: removes the account's stored identity (its next
   * request registers a new one) and releases its handle. True when something was removed.
   */
  readonly revoke: (request: PoolRequest) => Effect.Effect<boolean, AuthError>
  /** Every task change from now on (a sliding buffer per subscriber: a subscriber that lags loses the oldest). */
  readonly taskChanges: Stream.Stream<TaskChange>
  /** A subscription to task changes for the life of the scope (subscribed when this returns). */
  readonly subscribe: Effect.Effect<Queue.Dequeue<TaskChange>, never, Scope.Scope>
  /** Runs `f` with the account's AuthManager (held for the duration). */
  readonly withAuthManager: <A, E, R>(
    request: PoolRequest,
    f: (auth: AuthManager.Service) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | KeyStoreError | AccountNotFoundError, R>
  /** Accounts whose AuthManager is held right now (in use, or idle and not yet released). */
  readonly active: Effect.Effect<number>
}

/** The IdentityPool service. */
export class IdentityPool extends Context.Tag("effect-agent-identity/IdentityPool")<IdentityPool, Service>() {}

/** Pool options. */
export interface Options {
  /** How long an account's AuthManager is kept after its last use (default 5 minutes). */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  /** Task changes buffered per subscriber (default 4096; a lagging subscriber loses the oldest). */
  readonly changesCapacity?: number | undefined
  /**
   * How long the account a request names is remembered (default 10 seconds; 0: asked of the store every time).
   * A store answers `resolve` with a scan or a query; a request in this window skips it. A change of the store
   * (a second user added to an account, an account removed) is seen when the entry expires, or when the
   * account's handle is next built and its KeyStore is gone.
   */
  readonly resolveTimeToLive?: Duration.DurationInput | undefined
}

/** What the pool holds per account while it is in use. */
interface Handle {
  readonly key: AccountKey
  readonly auth: AuthManager.Service
  readonly identity: Identity.Service
  readonly signer: AssertionSigner.Service
}

/**
 * Per account: `Layers.authManager`'s composition, built with the modules' `make`s rather than their layers (a
 * layer's build machinery costs several times the services it builds, per account), with the HTTP services
 * (registries, biscuits, the JWKS) built once for the pool and shared — they keep nothing per account — and a
 * signer of the account's own, whose parsed-key and header caches then serve that account alone.
 */
const handleFor = (key: AccountKey, keyStore: KeyStore.Service, shared: Context.Context<SharedServices>) =>
  Effect.gen(function*() {
    const signer = yield* AssertionSigner.make()
    const base = Context.add(Context.add(shared, KeyStore.KeyStore, keyStore), AssertionSigner.AssertionSigner, signer)
    const identity = yield* Effect.provide(Identity.make, base)
    const auth = yield* Effect.provide(AuthManager.make, Context.add(base, Identity.Identity, identity))
    return { key, auth, identity, signer } satisfies Handle
  })

/** What `Layers.services` provides, with the accounts' settings. */
type SharedServices = Layer.Layer.Success<typeof Layers.services> | Settings

/** The inverse of `accountKeyString` (an empty user is none). */
const keyOfString = (text: string): AccountKey => {
  const at = text.indexOf("\u0000")
  const userId = text.slice(at + 1)
  return { accountId: text.slice(0, at), userId: userId === "" ? Option.none() : Option.some(userId) }
}

/** Only the task's ids (results of the AuthManager carry more). */
const plain = (task: AuthManager.AgentTask): AuthManager.AgentTask => ({ agentRuntimeId: task.agentRuntimeId, taskId: task.taskId })

const sameTask = (a: AuthManager.AgentTask, b: AuthManager.AgentTask) => a.agentRuntimeId === b.agentRuntimeId && a.taskId === b.taskId

/** Builds the pool on the store, the settings and the HttpClient; handles are released when the scope closes. */
export const make = (
  options: Options = {}
): Effect.Effect<Service, never, AccountStore | Settings | HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* AccountStore
    const settings = yield* Settings
    const client = yield* HttpClient.HttpClient
    // A fleet binds each account to its own login: a forced workspace is one account's rule, not the fleet's.
    const accountSettings = Settings.of({ ...settings, forcedWorkspaceId: Option.none() })
    const trusted = settings.mode === "enabled" && isTrustedBaseUrl(settings.baseUrl, settings.trustedHosts)
    const current = settings.protocol === "2026-06"
    const changes = yield* PubSub.sliding<TaskChange>(options.changesCapacity ?? 4096)

    // The accounts' settings are in this context too: a handle is built on it alone, not on the caller's.
    const shared = yield* Layer.build(Layers.services.pipe(Layer.provideMerge(Layer.mergeAll(
      Layer.succeed(Settings, accountSettings),
      Layer.succeed(HttpClient.HttpClient, client)
    ))))

    const handles = yield* RcMap.make({
      lookup: (text: string) =>
        Effect.gen(function*() {
          const key = keyOfString(text)
          const keyStore = yield* store.keyStore(key)
          yield* Effect.addFinalizer(() => Effect.logDebug(`identity pool: released account ${key.accountId}`))
          return yield* handleFor(key, keyStore, shared)
        }),
      idleTimeToLive: options.idleTimeToLive ?? "5 minutes"
    })

    // The accounts requests named lately: request key → store key, until `expires` (by the Clock).
    const resolveTtl = Duration.toMillis(options.resolveTimeToLive ?? "10 seconds")
    const resolved = new Map<string, { readonly key: AccountKey; readonly expires: number }>()
    const RESOLVED_LIMIT = 100_000
    const requestKey = (request: PoolRequest) => `${request.accountId}\u0000${request.userId ?? "\u0000"}`
    const forget = (key: AccountKey) =>
      Effect.sync(() => {
        for (const [name, entry] of resolved) if (entry.key.accountId === key.accountId) resolved.delete(name)
      })

    const resolve: Service["resolve"] = (request) =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const name = requestKey(request)
        const hit = resolved.get(name)
        if (hit !== undefined && hit.expires > now) return Effect.succeed(hit.key)
        return Effect.tap(store.resolve(request.accountId, request.userId), (key) =>
          Effect.sync(() => {
            if (resolveTtl <= 0) return
            if (resolved.size >= RESOLVED_LIMIT) resolved.clear()
            resolved.set(name, { key, expires: now + resolveTtl })
          }))
      })

    /** The account's handle for the life of the scope; a failed lookup is not kept. */
    const handleOf = (key: AccountKey) => {
      const text = accountKeyString(key)
      return RcMap.get(handles, text).pipe(Effect.tapError(() => Effect.zipRight(RcMap.invalidate(handles, text), forget(key))))
    }

    const withHandle = <A, E, R>(request: PoolRequest, f: (handle: Handle) => Effect.Effect<A, E, R>) =>
      Effect.scoped(Effect.flatMap(Effect.flatMap(resolve(request), handleOf), f))

    const audit = (key: AccountKey, action: AuditEvent["action"], detail: string) =>
      store.audit({ action, accountId: key.accountId, userId: key.userId, detail })

    const publish = (key: AccountKey, change: Omit<TaskChange, "accountId" | "userId">) =>
      PubSub.publish(changes, { accountId: key.accountId, userId: key.userId, ...change })

    /** Audits the backend's refusal of a registration (its status, never its body). */
    const observe = <A, E extends { readonly _tag: string }, R>(key: AccountKey, what: string, self: Effect.Effect<A, E, R>) =>
      Effect.tapError(self, (error) =>
        error._tag === "HttpStatusError" && "status" in error
          ? Effect.ignore(audit(key, "refused", `${what}: HTTP ${String(error.status)}`))
          : Effect.void)

    /** Counts an operation's failure by its tag (once, at the operation's edge). */
    const counted = <A, E extends { readonly _tag: string }, R>(self: Effect.Effect<A, E, R>) => Effect.tapError(self, Metrics.countFailure)

    const ensureIdentityOf = (handle: Handle) =>
      observe(
        handle.key,
        "agent registration",
        Effect.tap(handle.auth.ensureIdentity, (identity) =>
          identity.reused ? Effect.void : Effect.zipRight(
            Metrics.countRegistration("agent"),
            audit(handle.key, "registered", `agent ${identity.agentRuntimeId}`)
          ))
      )

    const ensureAccountTask = (handle: Handle) =>
      Effect.zipRight(
        ensureIdentityOf(handle),
        observe(
          handle.key,
          "task registration",
          Effect.tap(handle.auth.ensureTask, (task) =>
            task.reused ? Effect.void : Effect.all([
              Metrics.countRegistration("task"),
              audit(handle.key, "registered", `task ${task.taskId} of agent ${task.agentRuntimeId}`),
              publish(handle.key, { sessionKey: Option.none(), reason: "registered", previous: Option.none(), current: Option.some(plain(task)) })
            ], { discard: true }))
        )
      )

    // Session tasks: one registration per (account, session) in flight in this process; others wait for it.
    // A flight whose runner was interrupted (its client hung up) ends as None: its waiters start over, one of
    // them running the registration, instead of failing with the runner's interruption.
    const sessionFlights = new Map<string, Deferred.Deferred<Option.Option<AuthManager.AgentTask>, AuthError>>()
    const singleFlight = (slot: string, self: Effect.Effect<AuthManager.AgentTask, AuthError>): Effect.Effect<AuthManager.AgentTask, AuthError> =>
      Effect.suspend(() => {
        const running = sessionFlights.get(slot)
        if (running !== undefined) {
          return Effect.flatMap(Deferred.await(running), Option.match({ onNone: () => singleFlight(slot, self), onSome: Effect.succeed }))
        }
        return Effect.flatMap(Deferred.make<Option.Option<AuthManager.AgentTask>, AuthError>(), (flight) => {
          sessionFlights.set(slot, flight)
          return self.pipe(
            Effect.onExit((exit) =>
              Effect.suspend(() => {
                if (sessionFlights.get(slot) === flight) sessionFlights.delete(slot)
                return Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
                  ? Deferred.succeed(flight, Option.none())
                  : Deferred.done(flight, Exit.map(exit, Option.some))
              })
            )
          )
        })
      })

    /** The session's stored task when it still belongs to the account's current identity. */
    const storedSessionTask = (handle: Handle, sessionKey: string) =>
      Effect.gen(function*() {
        const stored = yield* store.sessionTask(handle.key, sessionKey)
        if (Option.isNone(stored)) return Option.none<AuthManager.AgentTask>()
        const task = plain(stored.value as AuthManager.AgentTask)
        return (yield* handle.auth.taskMatchesCurrentIdentity(task)) ? Option.some(task) : Option.none<AuthManager.AgentTask>()
      })

    /** Registers a task for a session and keeps it; `previous` is the one it replaces, if any. */
    const registerSessionTask = (
      handle: Handle,
      sessionKey: string,
      previous: Option.Option<AuthManager.AgentTask>
    ) =>
      Effect.gen(function*() {
        yield* ensureIdentityOf(handle)
        const task = plain(yield* observe(handle.key, "session task registration", handle.auth.registerTask))
        yield* store.saveSessionTask(handle.key, sessionKey, Option.some(task))
        const renewed = Option.isSome(previous)
        yield* renewed ? Metrics.countRenewal("session") : Metrics.countRegistration("session")
        yield* audit(
          handle.key,
          renewed ? "renewed" : "registered",
          `session task ${task.taskId} of agent ${task.agentRuntimeId}${renewed ? ` replacing ${previous.value.taskId}` : ""}`
        )
        yield* publish(handle.key, { sessionKey: Option.some(sessionKey), reason: renewed ? "renewed" : "registered", previous, current: Option.some(task) })
        return task
      })

    const sessionSlot = (handle: Handle, sessionKey: string) => `${accountKeyString(handle.key)}\u0000${sessionKey}`

    const ensureSessionTask = (handle: Handle, sessionKey: string) =>
      Effect.gen(function*() {
        const stored = yield* storedSessionTask(handle, sessionKey)
        if (Option.isSome(stored)) return { ...stored.value, reused: true }
        let registered = false
        const task = yield* singleFlight(
          sessionSlot(handle, sessionKey),
          Effect.gen(function*() {
            const again = yield* storedSessionTask(handle, sessionKey)
            if (Option.isSome(again)) return again.value
            registered = true
            return yield* registerSessionTask(handle, sessionKey, Option.none())
          })
        )
        return { ...task, reused: !registered }
      })

    /** An AgentAssertion for a session's task, with the headers that go beside it (as `Identity` builds them). */
    const signSession = (handle: Handle, task: AuthManager.AgentTask) =>
      Effect.gen(function*() {
        const identity = yield* handle.identity.usable
        if (Option.isNone(identity)) return Option.none<AuthManager.AuthorizationHeader>()
        const value = yield* handle.signer.agentAssertion(identity.value, plain(task))
        return Option.some<AuthManager.AuthorizationHeader>({
          scheme: "AgentAssertion",
          value,
          accountId: current ? Option.some(identity.value.accountId) : Option.none(),
          fedramp: current && identity.value.isFedramp,
          task: Option.some(plain(task))
        })
      })

    const headerOf = (handle: Handle, request: PoolRequest): Effect.Effect<Option.Option<AuthManager.AuthorizationHeader>, AuthError> => {
      if (!trusted) return Effect.succeedNone
      if (request.sessionKey !== undefined) {
        const sessionKey = request.sessionKey
        return Effect.flatMap(ensureSessionTask(handle, sessionKey), (task) => signSession(handle, task))
      }
      return Effect.flatMap(handle.auth.authorizationHeader, (fast) =>
        Option.isSome(fast) ? Effect.succeed(fast) : Effect.zipRight(ensureAccountTask(handle), handle.auth.authorizationHeader))
    }

    const ensureIdentity: Service["ensureIdentity"] = (request) => counted(withHandle(request, ensureIdentityOf))

    const ensureTask: Service["ensureTask"] = (request) =>
      counted(withHandle(request, (handle) =>
        request.sessionKey === undefined ? ensureAccountTask(handle) : ensureSessionTask(handle, request.sessionKey)))

    const authorizationHeader: Service["authorizationHeader"] = (request) =>
      counted(Metrics.timeHeader(withHandle(request, (handle) => headerOf(handle, request))))

    const authorizationHeaderOrBearer: Service["authorizationHeaderOrBearer"] = (request) =>
      counted(Metrics.timeHeader(withHandle(request, (handle) =>
        headerOf(handle, request).pipe(
          Effect.catchAll((error) =>
            Effect.as(
              Effect.zipRight(
                Metrics.countFailure(error),
                Effect.logWarning(`identity pool: no AgentAssertion for account ${handle.key.accountId}; using bearer: ${error._tag}`)
              ),
              Option.none<AuthManager.AuthorizationHeader>()
            )
          ),
          Effect.flatMap((header) => Option.isSome(header) ? Effect.succeed(header) : handle.identity.authorizationHeaderOrBearer)
        ))))

    const recover: Service["recover"] = (request, rejected) =>
      counted(Option.match(rejected.task, {
        onNone: () => Effect.succeedNone,
        onSome: (task) =>
          withHandle(request, (handle) => {
            if (request.sessionKey !== undefined) {
              const sessionKey = request.sessionKey
              return Effect.flatMap(
                singleFlight(
                  sessionSlot(handle, sessionKey),
                  Effect.gen(function*() {
                    const stored = yield* storedSessionTask(handle, sessionKey)
                    // Replaced meanwhile: the new one is not the rejected one.
                    if (Option.isSome(stored) && !sameTask(stored.value, task)) return stored.value
                    return yield* registerSessionTask(handle, sessionKey, Option.some(task))
                  })
                ),
                (renewed) => signSession(handle, renewed)
              )
            }
            return Effect.gen(function*() {
              const renewed = yield* observe(handle.key, "task renewal", handle.auth.renewTask(task))
              if (!renewed.reused) {
                yield* Metrics.countRenewal("task")
                yield* audit(handle.key, "renewed", `task ${renewed.taskId} of agent ${renewed.agentRuntimeId} replacing ${task.taskId}`)
                yield* publish(handle.key, { sessionKey: Option.none(), reason: "renewed", previous: Option.some(task), current: Option.some(plain(renewed)) })
              }
              return yield* handle.auth.authorizationHeader
            })
          })
      }))

    const revoke: Service["revoke"] = (request) =>
      counted(Effect.flatMap(resolve(request), (key) => {
        if (request.sessionKey !== undefined) {
          const sessionKey = request.sessionKey
          return Effect.gen(function*() {
            const stored = yield* store.sessionTask(key, sessionKey)
            if (Option.isNone(stored)) return false
            yield* store.saveSessionTask(key, sessionKey, Option.none())
            yield* audit(key, "revoked", `session task ${stored.value.taskId}`)
            yield* publish(key, {
              sessionKey: Option.some(sessionKey),
              reason: "revoked",
              previous: Option.some(plain(stored.value as AuthManager.AgentTask)),
              current: Option.none()
            })
            return true
          })
        }
        return Effect.gen(function*() {
          const removed = yield* Effect.scoped(Effect.flatMap(handleOf(key), (handle) =>
            Effect.gen(function*() {
              const status = yield* handle.auth.status
              const previous = Option.flatMap(status.identity, (identity) =>
                Option.map(identity.taskId, (taskId) => ({ agentRuntimeId: identity.agentRuntimeId, taskId }) as AuthManager.AgentTask))
              const removed = yield* handle.auth.forget
              if (removed) {
                yield* audit(key, "revoked", Option.match(status.identity, { onNone: () => "identity", onSome: (i) => `agent ${i.agentRuntimeId}` }))
                yield* publish(key, { sessionKey: Option.none(), reason: "revoked", previous, current: Option.none() })
              }
              return removed
            })))
          yield* RcMap.invalidate(handles, accountKeyString(key))
          yield* forget(key)
          return removed
        })
      }))

    const withAuthManager: Service["withAuthManager"] = (request, f) => withHandle(request, (handle) => f(handle.auth))

    return IdentityPool.of({
      resolve,
      ensureIdentity,
      ensureTask,
      authorizationHeader,
      authorizationHeaderOrBearer,
      recover,
      revoke,
      taskChanges: Stream.fromPubSub(changes),
      subscribe: PubSub.subscribe(changes),
      withAuthManager,
      active: Effect.map(RcMap.keys(handles), (keys) => keys.length)
    })
  })

/** The pool as a layer on an AccountStore, the settings and an HttpClient. */
export const layer = (options: Options = {}): Layer.Layer<IdentityPool, never, AccountStore | Settings | HttpClient.HttpClient> =>
  Layer.scoped(IdentityPool, make(options))
