/**
 * The offline half of the AuthManager: the binding, what the stored identity means for it, the
 * `Authorization` header (and the headers sent beside it), status and forget. No network and no HTTP
 * modules, so a command that only reads auth.json and signs (the CLI's `header` and `status`) loads none.
 * The AuthManager is built on this service: one Identity per application, whatever depends on it.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import {
  type AgentIdentity,
  type AgentTask,
  type Binding,
  bindingOf,
  classify,
  type Classified,
  type ClassifyContext
} from "../Domain/Binding.js"
import { type AuthState, presentString } from "../Domain/AuthDocument.js"
import { agentAssertionHeader, type AuthorizationHeader } from "../Domain/Headers.js"
import { isHeaderSafeValue, isTrustedBaseUrl } from "../Domain/Endpoints.js"
import { type AgentIdentityJwtError, type AuthError, type KeyStoreError, LoginUnavailableError } from "../Domain/Errors.js"
import { decodeUnverified, issuedAt } from "../Domain/IdentityJwt.js"
import { PROTOCOLS, Settings } from "../Domain/Settings.js"
import { AssertionSigner } from "../services/AssertionSigner.js"
import { jwtTaskKey, KeyStore, type StoreState } from "../services/KeyStore.js"

export type { AgentIdentity, AgentTask, Binding } from "../Domain/Binding.js"
export { type AuthorizationHeader, requestHeaders } from "../Domain/Headers.js"

/** What `status` reports; never the private key. */
export interface Status {
  readonly binding: Option.Option<Binding>
  readonly identity: Option.Option<{
    readonly agentRuntimeId: string
    /** None when the stored key cannot be decoded. */
    readonly publicKeySsh: Option.Option<string>
    readonly registeredAt: string
    /** The task of the protocol in use. */
    readonly taskId: Option.Option<string>
    /** Where it is stored. */
    readonly source: "record" | "jwt"
  }>
}

/** The offline operations. */
export interface Service {
  /** The binding of a reading of auth.json (a personal access token's needs the AuthManager's network). */
  readonly bindingOf: (state: AuthState) => Either.Either<Binding, LoginUnavailableError | AgentIdentityJwtError>
  /** The stored identity usable for the current binding, if any (reads auth.json, no lock). */
  readonly usable: Effect.Effect<Option.Option<AgentIdentity>, AuthError>
  /** `usable` for a reading the caller already has (`KeyStore.read`), so that one call uses one snapshot. */
  readonly usableIn: (state: StoreState) => Effect.Effect<Option.Option<AgentIdentity>, AuthError>
  /**
   * The AgentAssertion for the stored task, when the mode is enabled, the base URL's host is trusted and
   * a task is stored; None otherwise. No network I/O, no writes.
   */
  readonly authorizationHeader: Effect.Effect<Option.Option<AuthorizationHeader>, AuthError>
  /** `authorizationHeader`, falling back to Bearer where the login has a Bearer token (a failure is logged). */
  readonly authorizationHeaderOrBearer: Effect.Effect<Option.Option<AuthorizationHeader>>
  readonly status: Effect.Effect<Status, KeyStoreError>
  /** Removes the stored identity (and the task kept for a JWT identity); true when there was one. */
  readonly forget: Effect.Effect<boolean, KeyStoreError>
}

/** The offline half as a service. */
export class Identity extends Context.Tag("effect-agent-identity/Identity")<Identity, Service>() {}

/** Builds the offline operations on the settings, the KeyStore and the signer. */
export const make = Effect.gen(function*() {
  const settings = yield* Settings
  const store = yield* KeyStore
  const signer = yield* AssertionSigner
  const trusted = isTrustedBaseUrl(settings.baseUrl, settings.trustedHosts)
  const protocol = settings.protocol
  const resolve = (state: AuthState) => bindingOf(state.login, settings.forcedWorkspaceId, protocol)
  const context = (state: StoreState): ClassifyContext => ({
    protocol,
    parse: signer.parse,
    jwtTask: (id) => Option.fromNullable(state.jwtTasks.get(jwtTaskKey(protocol, id)))
  })

  // What a reading means — its binding, then what the stored identity is for it — depends on nothing but
  // the reading and the settings, and KeyStore.read hands back the same StoreState object while neither
  // document changed (a changed auth.json is a new object). So the last reading's meaning is kept with it,
  // and a call on an unchanged store neither binds, nor classifies, nor parses a key again. A classification
  // that failed is not kept (its next call tries again, as before).
  interface Meaning {
    readonly state: StoreState
    readonly binding: Either.Either<Binding, LoginUnavailableError | AgentIdentityJwtError>
    classified?: Effect.Effect<Classified>
    usable?: Effect.Effect<Option.Option<AgentIdentity>>
  }
  let meaning: Meaning | undefined
  const meaningOf = (state: StoreState): Meaning => {
    if (meaning === undefined || meaning.state !== state) meaning = { state, binding: resolve(state) }
    return meaning
  }
  const classifiedIn = (entry: Meaning, binding: Binding) =>
    entry.classified ?? Effect.tap(classify(entry.state, binding, context(entry.state)), (found) => {
      entry.classified = Exit.succeed(found)
    })

  const usableIn: Service["usableIn"] = (state) => {
    const entry = meaningOf(state)
    if (entry.usable !== undefined) return entry.usable
    if (Either.isLeft(entry.binding)) return Effect.fail(entry.binding.left)
    return Effect.map(classifiedIn(entry, entry.binding.right), (found) => {
      const result = found._tag === "Usable" ? Option.some(found.identity) : Option.none()
      entry.usable = Exit.succeed(result)
      return result
    })
  }

  const usable: Service["usable"] = Effect.flatMap(store.read, usableIn)

  const authorizationHeader: Service["authorizationHeader"] = Effect.gen(function*() {
    if (settings.mode === "disabled" || !trusted) return Option.none()
    const state = yield* store.read
    const entry = meaningOf(state)
    const binding = entry.binding
    if (Either.isLeft(binding)) return Option.none()
    const found = yield* classifiedIn(entry, binding.right)
    if (found._tag === "Stale") {
      return yield* Option.match(found.error, { onNone: () => Effect.succeed(Option.none()), onSome: Effect.fail })
    }
    if (found._tag === "Missing") return Option.none()
    const { identity } = found
    if (Option.isNone(identity.taskId)) return Option.none()
    const task: AgentTask = { agentRuntimeId: identity.agentRuntimeId, taskId: identity.taskId.value }
    return Option.some(agentAssertionHeader(yield* signer.agentAssertion(identity, task), identity, task, protocol))
  })

  const bearerHeader = Effect.map(store.read, (state): Option.Option<AuthorizationHeader> => {
    const login = state.login
    if (login._tag === "PersonalAccessToken") {
      return Option.some({ scheme: "Bearer", value: Redacted.make(`Bearer ${Redacted.value(login.token)}`), accountId: Option.none(), fedramp: false, task: Option.none() })
    }
    if (login._tag !== "ChatGpt") return Option.none()
    const token = Redacted.value(login.accessToken)
    if (token.length === 0) return Option.none()
    return Option.some({
      scheme: "Bearer",
      value: Redacted.make(`Bearer ${token}`),
      accountId: login.accountId,
      fedramp: protocol === "2026-06" && login.claims.isFedramp,
      task: Option.none()
    })
  })
  // A token with a CR, LF or other control character is never sent: it could split the request's headers
  // (the registries refuse such a token too: `MalformedToken`).
  const bearer = Effect.flatMap(bearerHeader, (header) =>
    Option.isSome(header) && !isHeaderSafeValue(Redacted.value(header.value.value).slice("Bearer ".length))
      ? Effect.as(Effect.logWarning(`no bearer authorization: ${new LoginUnavailableError({ reason: "MalformedToken" }).message}`), Option.none())
      : Effect.succeed(header))

  const authorizationHeaderOrBearer: Service["authorizationHeaderOrBearer"] = authorizationHeader.pipe(
    Effect.catchAll((error) =>
      Effect.as(
        Effect.logWarning(`falling back to bearer authorization because background agent task auth failed: ${error._tag}: ${error.message}`),
        Option.none()
      )
    ),
    Effect.flatMap((header) => Option.isSome(header) ? Effect.succeed(header) : bearer),
    Effect.catchAll((error) => Effect.as(Effect.logWarning(`no authorization available: ${error.message}`), Option.none()))
  )

  const status: Service["status"] = Effect.gen(function*() {
    const state = yield* store.read
    const binding = Either.getRight(resolve(state))
    const publicKeyOf = (key: Redacted.Redacted<string>) =>
      signer.parse(key).pipe(Effect.map((k) => k.publicKeySsh), Effect.option)
    const jwt = state.login._tag === "AgentIdentityJwt" && protocol === "2026-06"
      ? Option.some(state.login.jwt)
      : state.identity._tag === "Jwt" ? Option.some(state.identity.jwt) : Option.none()
    if (Option.isSome(jwt)) {
      const claims = decodeUnverified(Redacted.value(jwt.value))
      if (Either.isLeft(claims)) return { binding, identity: Option.none() }
      const id = claims.right.agent_runtime_id
      return {
        binding,
        identity: Option.some({
          agentRuntimeId: id,
          publicKeySsh: yield* publicKeyOf(claims.right.agent_private_key),
          registeredAt: issuedAt(claims.right),
          taskId: Option.fromNullable(state.jwtTasks.get(jwtTaskKey(protocol, id)) as string | undefined),
          source: "jwt" as const
        })
      }
    }
    if (state.identity._tag !== "Record") return { binding, identity: Option.none() }
    const record = state.identity.record
    return {
      binding,
      identity: Option.some({
        agentRuntimeId: record.agent_runtime_id,
        publicKeySsh: yield* publicKeyOf(record.agent_private_key),
        registeredAt: record.registered_at ?? "unknown",
        taskId: presentString(protocol === "2026-04" ? record.background_task_id : record.task_id),
        source: "record" as const
      })
    }
  })

  const forget: Service["forget"] = store.exclusive(Effect.gen(function*() {
    const state = yield* store.read
    const jwt = state.login._tag === "AgentIdentityJwt" ? Option.some(state.login.jwt) : Option.none()
    // A JWT login is the identity itself: only its kept tasks can be forgotten.
    if (Option.isSome(jwt) && state.identity._tag !== "Record") {
      const claims = decodeUnverified(Redacted.value(jwt.value))
      if (Either.isLeft(claims)) return false
      const id = claims.right.agent_runtime_id
      const kept = PROTOCOLS.filter((p) => state.jwtTasks.has(jwtTaskKey(p, id)))
      for (const p of kept) yield* store.saveJwtTask(p, id, Option.none())
      return kept.length > 0
    }
    return yield* store.removeIdentity
  }))

  return Identity.of({ bindingOf: resolve, usable, usableIn, authorizationHeader, authorizationHeaderOrBearer, status, forget })
})

/** The offline half as a layer. */
export const layer: Layer.Layer<Identity, never, Settings | KeyStore | AssertionSigner> = Layer.effect(Identity, make)
