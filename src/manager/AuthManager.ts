/**
 * AuthManager: binds the agent identity to the current login's account and user, reuses what is valid,
 * deletes and re-registers what is not, registers tasks, and produces the `Authorization` header — an
 * AgentAssertion where one may be used, else `Bearer`. Registrations run inside `KeyStore.exclusive`, so
 * concurrent callers (fibers or processes) share one. Built on the `Identity` service (the offline half).
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { formatTimestamp } from "../crypto/time.js"
import type { AuthState } from "../Domain/AuthDocument.js"
import {
  type AgentIdentity,
  type AgentTask,
  type Binding,
  bindingOf,
  classify,
  newRecord,
  recordWithTask
} from "../Domain/Binding.js"
import {
  AgentIdentityDisabledError,
  type AuthError,
  BindingMismatchError,
  BootstrapUnavailableError,
  type KeyStoreError,
  LoginUnavailableError
} from "../Domain/Errors.js"
import type { TaskId } from "../Domain/Ids.js"
import { Settings } from "../Domain/Settings.js"
import { isBootstrapRetryable } from "../internal/transport.js"
import { AgentIdentityJwt } from "../services/AgentIdentityJwt.js"
import { AgentRegistry } from "../services/AgentRegistry.js"
import { AssertionSigner } from "../services/AssertionSigner.js"
import { jwtTaskKey, KeyStore, type StoreState } from "../services/KeyStore.js"
import { TaskRegistry } from "../services/TaskRegistry.js"
import { Identity } from "./Identity.js"

export type { AgentIdentity, AgentTask, AuthorizationHeader, Binding, Status } from "./Identity.js"

/** The AuthManager's operations. */
export interface Service {
  /** The binding of the current login; fails when there is no usable login. */
  readonly binding: Effect.Effect<Binding, AuthError>
  /** Reuses a valid stored identity, else registers one; `reused` says which. */
  readonly ensureIdentity: Effect.Effect<AgentIdentity & { readonly reused: boolean }, AuthError>
  /** Ensures the identity, then reuses its stored task or registers one. */
  readonly ensureTask: Effect.Effect<AgentTask & { readonly reused: boolean }, AuthError>
  /**
   * The AgentAssertion for the stored task, when the mode is enabled, the base URL's host is trusted
   * and a task is stored; None otherwise. No network I/O, no writes.
   */
  readonly authorizationHeader: Identity["Type"]["authorizationHeader"]
  /** `authorizationHeader`, falling back to `Bearer <access token>` (a failure is logged as a warning). */
  readonly authorizationHeaderOrBearer: Identity["Type"]["authorizationHeaderOrBearer"]
  /**
   * Ensures the identity and registers a new task, returned but not stored (for callers that keep
   * their own tasks, such as per-conversation session tasks).
   */
  readonly registerTask: Effect.Effect<AgentTask, AuthError>
  /**
   * Replaces a task the backend rejected (e.g. a 401 to its AgentAssertion) with a newly registered one.
   * If the stored task is already another one (renewed meanwhile, by us or another process), that one is returned.
   */
  readonly renewTask: (rejected: AgentTask) => Effect.Effect<AgentTask & { readonly reused: boolean }, AuthError>
  /** Whether the stored identity (valid for the current binding) has the task's runtime id. */
  readonly taskMatchesCurrentIdentity: (task: Pick<AgentTask, "agentRuntimeId">) => Effect.Effect<boolean>
  /** Removes the stored identity; true when there was one. */
  readonly forget: Effect.Effect<boolean, KeyStoreError>
  /** The binding and stored identity, for display. */
  readonly status: Identity["Type"]["status"]
}

/** The AuthManager service. */
export class AuthManager extends Context.Tag("effect-agent-identity/AuthManager")<AuthManager, Service>() {}

/**
 * Runs `register` at most twice: a second time only when the identity changed while the first ran
 * (`current` says whether a result still belongs to the current identity). None when both went stale.
 */
export const registerWhileIdentityHolds = <A, E, R, E2, R2>(
  register: Effect.Effect<A, E, R>,
  current: (result: A) => Effect.Effect<boolean, E2, R2>
): Effect.Effect<Option.Option<A>, E | E2, R | R2> =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = yield* register
      if (yield* current(result)) return Option.some(result)
      yield* Effect.logDebug("agent identity changed during task registration; retrying")
    }
    return Option.none()
  })

/** The AuthManager on its services. */
export const make = Effect.gen(function*() {
  const settings = yield* Settings
  const store = yield* KeyStore
  const agents = yield* AgentRegistry
  const tasks = yield* TaskRegistry
  const signer = yield* AssertionSigner
  const jwts = yield* AgentIdentityJwt
  const offline = yield* Identity
  const protocol = settings.protocol
  const now = Effect.clockWith((clock) => clock.currentTimeMillis)

  // Made when it happens: an error captures a stack trace, which costs more than the rest of building a manager.
  const disabled = Effect.failSync(() => new AgentIdentityDisabledError())
  const requireEnabled = settings.mode === "enabled" ? Effect.void : disabled

  /** The access token that registers agents (and, under 2026-04, mints biscuits), from the same reading. */
  const accessTokenOf = (state: AuthState): Option.Option<Redacted.Redacted<string>> =>
    state.login._tag === "ChatGpt" ? Option.some(state.login.accessToken) : Option.none()

  const resolve = (state: AuthState) => bindingOf(state.login, settings.forcedWorkspaceId, protocol)

  // The 2026-06 bootstrap cooldown: after registration was unavailable, an account uses Bearer (and makes
  // no request) until it ends. One slot, as Codex keeps it; any other outcome clears it.
  let cooldown: { readonly accountId: string; readonly until: number; readonly error: BootstrapUnavailableError } | undefined
  const checkCooldown = (binding: Binding) =>
    Effect.flatMap(now, (millis) => {
      if (protocol !== "2026-06" || cooldown === undefined) return Effect.void
      if (cooldown.accountId === binding.accountId && cooldown.until > millis) {
        return Effect.zipRight(Effect.logDebug("agent identity bootstrap retry suppressed during cooldown"), Effect.fail(cooldown.error))
      }
      cooldown = undefined
      return Effect.void
    })
  /** Turns a registration failure that retries could not cure into BootstrapUnavailable, and starts the cooldown. */
  const bootstrap = <A, E extends AuthError, R>(binding: Binding, operation: "agent identity registration" | "agent task registration") =>
  (self: Effect.Effect<A, E, R>): Effect.Effect<A, E | BootstrapUnavailableError, R> =>
    protocol === "2026-04" ? self : self.pipe(
      Effect.tap(() => Effect.sync(() => void (cooldown = undefined))),
      Effect.catchAll((error) =>
        Effect.gen(function*() {
          if (!isBootstrapRetryable(error)) {
            cooldown = undefined
            return yield* Effect.fail(error)
          }
          const unavailable = new BootstrapUnavailableError({ operation, attempts: settings.retry.maxAttempts, reason: error.message })
          cooldown = { accountId: binding.accountId, until: (yield* now) + Duration.toMillis(settings.bootstrapCooldown), error: unavailable }
          return yield* Effect.fail(unavailable)
        })
      )
    )

  const context = (state: StoreState) => ({
    protocol,
    parse: signer.parse,
    jwtTask: (id: string) => Option.fromNullable(state.jwtTasks.get(jwtTaskKey(protocol, id)))
  })

  /** A JWT login's identity is verified against the JWKS once per process before it is used on the network. */
  const verifiedJwts = new Set<string>()
  const verifyJwtLogin = (state: StoreState): Effect.Effect<void, AuthError> => {
    const login = state.login
    if (login._tag !== "AgentIdentityJwt" || protocol !== "2026-06") return Effect.void
    return Effect.suspend(() => {
      const text = Redacted.value(login.jwt)
      return verifiedJwts.has(text) ? Effect.void : Effect.asVoid(jwts.verify(login.jwt).pipe(Effect.tap(() => verifiedJwts.add(text))))
    })
  }

  /**
   * Register (or reuse) the identity; the caller holds `store.exclusive`. Returns the reading it used, so a
   * following task registration uses one auth snapshot (the access token of the same reading).
   */
  const ensureIdentityLocked = Effect.gen(function*() {
    const state = yield* store.read
    const binding = yield* resolve(state)
    yield* verifyJwtLogin(state)
    const found = yield* classify(state, binding, context(state))
    if (found._tag === "Usable") {
      yield* Effect.logDebug("reusing stored agent identity")
      return { identity: { ...found.identity, reused: true }, state, binding }
    }
    if (state.login._tag === "PersonalAccessToken") return yield* new LoginUnavailableError({ reason: "PersonalAccessToken" })
    const accessToken = accessTokenOf(state)
    if (Option.isNone(accessToken)) return yield* new LoginUnavailableError({ reason: "NoLogin" })
    yield* checkCooldown(binding)
    if (found._tag === "Stale") {
      yield* Effect.logWarning(`${found.why}; deleting cached value`)
      yield* store.removeIdentity
    }
    const key = yield* signer.generate
    const agentRuntimeId = yield* agents.register({ accessToken: accessToken.value, publicKeySsh: key.publicKeySsh, fedramp: binding.isFedramp }).pipe(
      bootstrap(binding, "agent identity registration")
    )
    const record = newRecord({ agentRuntimeId, privateKey: key.privateKey, binding, registeredAt: formatTimestamp(yield* now) })
    yield* store.saveIdentity(record)
    yield* Effect.logInfo(`registered agent identity ${agentRuntimeId}`)
    const identity: AgentIdentity = {
      agentRuntimeId,
      key,
      publicKeySsh: key.publicKeySsh,
      accountId: binding.accountId,
      userId: binding.userId,
      isFedramp: binding.isFedramp,
      registeredAt: record.registered_at!,
      taskId: Option.none(),
      source: "record",
      record: Option.some(record)
    }
    return { identity: { ...identity, reused: false }, state, binding }
  })

  const binding: Service["binding"] = Effect.flatMap(store.read, resolve)

  const ensureIdentity: Service["ensureIdentity"] = Effect.gen(function*() {
    yield* requireEnabled
    const state = yield* store.read
    if (state.login._tag === "AgentIdentityJwt") yield* verifyJwtLogin(state)
    const fast = yield* offline.usable
    if (Option.isSome(fast)) return { ...fast.value, reused: true }
    return (yield* store.exclusive(ensureIdentityLocked)).identity
  }).pipe(Effect.withSpan("AuthManager.ensureIdentity"))

  /** Registers a task for an identity: the access token only under 2026-04 (a biscuit is minted with it). */
  const registerTaskFor = (identity: AgentIdentity, state: StoreState, binding: Binding) =>
    tasks.register({ accessToken: accessTokenOf(state), identity }).pipe(
      identity.source === "record" ? bootstrap(binding, "agent task registration") : (self) => self
    )

  /** Stores a task: in the auth.json record, or beside auth.json for a JWT identity (the JWT is not ours to edit). */
  const keepTask = (identity: AgentIdentity, binding: Binding, taskId: TaskId) =>
    Effect.gen(function*() {
      if (identity.source === "jwt") return yield* store.saveJwtTask(protocol, identity.agentRuntimeId, Option.some(taskId))
      const stored = Option.getOrElse(identity.record, () =>
        newRecord({ agentRuntimeId: identity.agentRuntimeId, privateKey: identity.key.privateKey, binding, registeredAt: identity.registeredAt }))
      yield* store.saveIdentity(recordWithTask(stored, binding, protocol, taskId, formatTimestamp(yield* now)))
    })

  const ensureTaskLocked = Effect.gen(function*() {
    let last: { readonly runtime: string; readonly stored: string | null } | undefined
    const registered = yield* registerWhileIdentityHolds(
      Effect.gen(function*() {
        const { binding, identity, state } = yield* ensureIdentityLocked
        if (Option.isSome(identity.taskId)) return { identity, binding, taskId: identity.taskId.value, reused: true }
        const taskId = yield* registerTaskFor(identity, state, binding)
        return { identity, binding, taskId, reused: false }
      }),
      ({ binding, identity, reused, taskId }) =>
        Effect.gen(function*() {
          if (reused) return true
          // Persist only if the stored identity is still the one the task was registered for.
          const current = yield* offline.usable
          if (Option.isSome(current) && current.value.agentRuntimeId === identity.agentRuntimeId) {
            yield* keepTask(current.value, binding, taskId)
            yield* Effect.logInfo(`registered agent task for ${identity.agentRuntimeId}`)
            return true
          }
          last = { runtime: identity.agentRuntimeId, stored: Option.match(current, { onNone: () => null, onSome: (c) => c.agentRuntimeId }) }
          return false
        })
    )
    if (Option.isSome(registered)) {
      const { identity, reused, taskId } = registered.value
      return { agentRuntimeId: identity.agentRuntimeId, taskId, reused }
    }
    return yield* new BindingMismatchError({ field: "runtime", expected: last?.stored ?? null, actual: last?.runtime ?? null })
  })

  /**
   * Single flight (issue 13): the task registration this AuthManager runs under the lock, if any. A
   * caller that finds no task while it runs waits for its outcome and shares it, failure included,
   * instead of queuing on the lock to find the same task one caller after another. Only a fiber holding
   * the lock sets it, so a caller that holds the lock itself (re-entrant) never waits on it. None: its
   * runner was interrupted, and a waiter starts over.
   */
  let inFlight: Deferred.Deferred<Option.Option<AgentTask & { readonly reused: boolean }>, AuthError> | undefined

  const ensureTaskFlight = Effect.flatMap(
    Deferred.make<Option.Option<AgentTask & { readonly reused: boolean }>, AuthError>(),
    (flight) =>
      Effect.zipRight(Effect.sync(() => void (inFlight = flight)), ensureTaskLocked).pipe(
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            if (inFlight === flight) inFlight = undefined
            return Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
              ? Deferred.succeed(flight, Option.none())
              : Deferred.done(flight, Exit.map(exit, Option.some))
          })
        )
      )
  )

  /**
   * ensureTask is called once per request by some applications, and by many fibers at once, so its common
   * paths — a stored task in an unchanged reading, or a registration in flight to wait for — are plain
   * continuations on one reading of the store (what that reading means is kept by Identity), with no span: a
   * span cost more than the rest of either path (README, "Performance"). The caller that takes the lock (and
   * registers, or finds the task there) is traced as "AuthManager.ensureTask", the registration's spans in it.
   */
  const registerOrShare = store.exclusive(ensureTaskFlight).pipe(Effect.withSpan("AuthManager.ensureTask"))
  const awaitFlight = Effect.suspend(() => inFlight === undefined ? Effect.succeedNone : Deferred.await(inFlight))
  const ensureTaskIn = (state: StoreState): Effect.Effect<AgentTask & { readonly reused: boolean }, AuthError> =>
    Effect.flatMap(offline.usableIn(state), (fast) =>
      Option.isSome(fast) && Option.isSome(fast.value.taskId)
        ? Effect.succeed({ agentRuntimeId: fast.value.agentRuntimeId, taskId: fast.value.taskId.value, reused: true })
        : registerOrShare)

  const ensureTask: Service["ensureTask"] = Effect.suspend((): Effect.Effect<AgentTask & { readonly reused: boolean }, AuthError> => {
    if (settings.mode !== "enabled") return disabled
    if (inFlight !== undefined) {
      return Effect.flatMap(awaitFlight, (shared) =>
        // Registered by another caller: for this one, a task it reuses. None: no flight any more, or its
        // runner was interrupted; start over.
        Option.isSome(shared) ? Effect.succeed({ ...shared.value, reused: true }) : ensureTask)
    }
    return Effect.flatMap(store.read, (state) =>
      state.login._tag === "AgentIdentityJwt" ? Effect.zipRight(verifyJwtLogin(state), ensureTaskIn(state)) : ensureTaskIn(state))
  })

  const registerTask: Service["registerTask"] = Effect.gen(function*() {
    yield* requireEnabled
    const { binding, identity, state } = yield* store.exclusive(ensureIdentityLocked)
    const taskId = yield* registerTaskFor(identity, state, binding)
    return { agentRuntimeId: identity.agentRuntimeId, taskId }
  }).pipe(Effect.withSpan("AuthManager.registerTask"))

  const renewTask: Service["renewTask"] = (rejected) =>
    Effect.gen(function*() {
      yield* requireEnabled
      return yield* store.exclusive(Effect.gen(function*() {
        const { binding, identity, state } = yield* ensureIdentityLocked
        const stored = identity.taskId
        if (Option.isSome(stored) && (stored.value !== rejected.taskId || identity.agentRuntimeId !== rejected.agentRuntimeId)) {
          return { agentRuntimeId: identity.agentRuntimeId, taskId: stored.value, reused: true }
        }
        const taskId = yield* registerTaskFor(identity, state, binding)
        yield* keepTask(identity, binding, taskId)
        yield* Effect.logInfo(`replaced rejected agent task ${rejected.taskId} with ${taskId}`)
        return { agentRuntimeId: identity.agentRuntimeId, taskId, reused: false }
      }))
    }).pipe(Effect.withSpan("AuthManager.renewTask"))

  const taskMatchesCurrentIdentity: Service["taskMatchesCurrentIdentity"] = (task) =>
    settings.mode === "disabled"
      ? Effect.succeed(false)
      : offline.usable.pipe(
        Effect.map(Option.exists((identity) => identity.agentRuntimeId === task.agentRuntimeId)),
        Effect.orElseSucceed(() => false)
      )

  return AuthManager.of({
    binding,
    ensureIdentity,
    ensureTask,
    registerTask,
    renewTask,
    authorizationHeader: offline.authorizationHeader,
    authorizationHeaderOrBearer: offline.authorizationHeaderOrBearer,
    taskMatchesCurrentIdentity,
    forget: offline.forget,
    status: offline.status
  })
})

/** The AuthManager as a layer on its services and the offline `Identity`. */
export const layer: Layer.Layer<
  AuthManager,
  never,
  Settings | KeyStore | AssertionSigner | AgentRegistry | TaskRegistry | AgentIdentityJwt | Identity
> = Layer.effect(AuthManager, make)
