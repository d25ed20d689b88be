/**
 * The test kit for applications that use the AuthManager: auth.json documents like the ones
 * `codex login` writes, the memory KeyStore, scripted fakes of the three HTTP services that count
 * their calls, and `makeTestLayer` for partial fakes. No network.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Option from "effect/Option"
import type { SettingsError } from "../Domain/Errors.js"
import { decodeUnverified } from "../Domain/IdentityJwt.js"
import * as Identity from "../manager/Identity.js"
import { AgentIdentityJwt } from "../services/AgentIdentityJwt.js"
import { AgentRegistry, type RegisterError } from "../services/AgentRegistry.js"
import { AssertionSigner } from "../services/AssertionSigner.js"
import * as AssertionSignerModule from "../services/AssertionSigner.js"
import * as AuthManagerModule from "../manager/AuthManager.js"
import { BiscuitMinter, type BiscuitTarget, type MintError } from "../services/BiscuitMinter.js"
import * as Config from "../Domain/Settings.js"
import { sealTaskId } from "../crypto/sealedBox.js"
import type { AuthDocument } from "../Domain/AuthDocument.js"
import { AgentRuntimeId, TaskId } from "../Domain/Ids.js"
import * as KeyStore from "../services/KeyStore.js"
import { TaskRegistry, type TaskError } from "../services/TaskRegistry.js"

/**
 * A partial implementation of a service as a layer; calling a method it lacks dies with
 * "unimplemented <name>", so each test states only what it uses.
 */
export const makeTestLayer = <I, S extends object>(tag: Context.Tag<I, S>) => (service: Partial<S>): Layer.Layer<I> =>
  Layer.succeed(
    tag,
    new Proxy(service as S, {
      get(target, property) {
        if (property in target) return (target as Record<PropertyKey, unknown>)[property]
        return unimplemented(property)
      }
    })
  )

/**
 * A missing member, usable both as an effect (`yield* fake.ensureTask`) and as a method
 * (`fake.renewTask(task)`): either way it dies with "unimplemented <name>".
 */
const unimplemented = (property: PropertyKey) => {
  const dead = Effect.dieMessage(`unimplemented ${String(property)}`)
  const method = () => dead
  Object.assign(method, dead)
  Object.setPrototypeOf(method, Object.getPrototypeOf(dead))
  return method
}

/** Calls the scripted fakes have seen. */
export interface FakeCalls {
  readonly biscuits: ReadonlyArray<BiscuitTarget & { readonly accessToken: Redacted.Redacted<string> }>
  readonly registrations: ReadonlyArray<{ readonly publicKeySsh: string; readonly accessToken: Redacted.Redacted<string> }>
  /** `accessToken`: None under 2026-06, where a task registration carries no credentials. */
  readonly tasks: ReadonlyArray<{ readonly agentRuntimeId: string; readonly accessToken: Option.Option<Redacted.Redacted<string>> }>
}

/** The recorder of the scripted fakes. */
export class FakeBackend extends Context.Tag("effect-agent-identity/testing/FakeBackend")<
  FakeBackend,
  { readonly calls: Effect.Effect<FakeCalls> }
>() {}

/** Scripts for the fakes; `n` counts calls from 0. Defaults: `agent-{n}` ids, `task-{n}` tasks, sealed like a backend. */
export interface FakeScript {
  readonly register?: (n: number, publicKeySsh: string) => Effect.Effect<string, RegisterError>
  readonly task?: (n: number, agentRuntimeId: string) => Effect.Effect<string, TaskError>
  readonly mint?: (n: number, target: BiscuitTarget) => Effect.Effect<string, MintError>
}

/**
 * BiscuitMinter, AgentRegistry, TaskRegistry and AgentIdentityJwt fakes that follow the protocol's shape
 * (under 2026-04 one biscuit per registration; task ids sealed to the agent's key and opened by the real
 * signer; JWTs decoded without a JWKS, as Codex's storage does) and record every call in `FakeBackend`.
 */
export const layerFakeBackend = (
  script: FakeScript = {}
): Layer.Layer<BiscuitMinter | AgentRegistry | TaskRegistry | AgentIdentityJwt | FakeBackend, never, AssertionSigner | Config.Settings> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const signer = yield* AssertionSigner
      const biscuits = (yield* Config.Settings).protocol === "2026-04"
      const calls = yield* Ref.make<FakeCalls>({ biscuits: [], registrations: [], tasks: [] })
      const record = (f: (c: FakeCalls) => FakeCalls) => Ref.modify(calls, (c) => [c, f(c)] as const)
      const minter = BiscuitMinter.of({
        mint: (target, accessToken) =>
          Effect.flatMap(
            record((c) => ({ ...c, biscuits: [...c.biscuits, { ...target, accessToken }] })),
            (before) => Effect.map(script.mint?.(before.biscuits.length, target) ?? Effect.succeed("human-biscuit"), Redacted.make)
          )
      })
      const agents = AgentRegistry.of({
        register: ({ accessToken, publicKeySsh }) =>
          Effect.gen(function*() {
            if (biscuits) yield* minter.mint({ method: "POST", url: "fake:/v1/agent/register" }, accessToken)
            const before = yield* record((c) => ({
              ...c,
              registrations: [...c.registrations, { publicKeySsh, accessToken }]
            }))
            const n = before.registrations.length
            return AgentRuntimeId.make(yield* script.register?.(n, publicKeySsh) ?? Effect.succeed(`agent-${n}`))
          })
      })
      const tasks = TaskRegistry.of({
        register: ({ accessToken, identity }) =>
          Effect.gen(function*() {
            if (biscuits && Option.isSome(accessToken)) {
              yield* minter.mint({ method: "POST", url: `fake:/v1/agent/${identity.agentRuntimeId}/task/register` }, accessToken.value)
            }
            const before = yield* record((c) => ({
              ...c,
              tasks: [...c.tasks, { agentRuntimeId: identity.agentRuntimeId, accessToken }]
            }))
            const n = before.tasks.length
            const plain = yield* script.task?.(n, identity.agentRuntimeId) ?? Effect.succeed(`task-${n}`)
            return yield* signer.openTaskId(identity.key, sealTaskId(plain, identity.key.publicKey)).pipe(
              Effect.map(TaskId.make)
            )
          })
      })
      const jwts = AgentIdentityJwt.of({
        jwks: Effect.dieMessage("unimplemented jwks (the test kit has no JWKS)"),
        verify: (jwt) => decodeUnverified(Redacted.value(jwt))
      })
      return Context.make(BiscuitMinter, minter).pipe(
        Context.add(AgentRegistry, agents),
        Context.add(TaskRegistry, tasks),
        Context.add(AgentIdentityJwt, jwts),
        Context.add(FakeBackend, { calls: Ref.get(calls) })
      )
    })
  )

/**
 * A complete AuthManager with no network: settings, the memory KeyStore holding `document` (and
 * `accessToken` as `CODEX_ACCESS_TOKEN` would give it), the real signer and the scripted fakes.
 */
export const layerAuthManager = (options: {
  readonly document?: AuthDocument
  readonly accessToken?: Redacted.Redacted<string>
  readonly settings?: Config.Options
  readonly script?: FakeScript
} = {}): Layer.Layer<
  AuthManagerModule.AuthManager | Identity.Identity | KeyStore.KeyStore | FakeBackend | AssertionSigner | Config.Settings,
  SettingsError
> =>
  AuthManagerModule.layer.pipe(
    Layer.provideMerge(Identity.layer),
    Layer.provideMerge(layerFakeBackend(options.script)),
    Layer.provideMerge(
      Layer.mergeAll(
        AssertionSignerModule.layer,
        KeyStore.layerMemory(options.document, { accessToken: options.accessToken }),
        Config.layer(options.settings)
      )
    )
  )

export { KeyStore }
export { apiKeyAuthDocument, chatgptAuthDocument, idToken } from "../Domain/CodexLogin.js"
