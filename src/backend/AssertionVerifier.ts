/**
 * AssertionVerifier: the server side of an AgentAssertion. Finds the agent's public key, checks the
 * signature, that the task belongs to that agent, and that the timestamp is within the skew window
 * (±1 s of slack for whole-second truncation). `authenticate` guards HttpServer routes with it.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { agentAssertionPayload, parseAgentAssertion } from "../crypto/assertion.js"
import { verify } from "../crypto/ed25519.js"
import { parseTimestamp, withinSkew } from "../crypto/time.js"
import { AssertionRejectedError } from "../Domain/Errors.js"

/** Where a verifier looks up agents and tasks. */
export interface AgentDirectory {
  readonly publicKey: (agentRuntimeId: string) => Effect.Effect<Option.Option<Uint8Array>>
  readonly taskOwner: (taskId: string) => Effect.Effect<Option.Option<string>>
}

/** A verified assertion. */
export interface VerifiedAgent {
  readonly agentRuntimeId: string
  readonly taskId: string
  readonly timestamp: string
}

/** The AssertionVerifier's operations. */
export interface Service {
  /** Verifies an `Authorization` header value. */
  readonly verify: (header: string) => Effect.Effect<VerifiedAgent, AssertionRejectedError>
}

/** The AssertionVerifier service. */
export class AssertionVerifier extends Context.Tag("effect-agent-identity/AssertionVerifier")<AssertionVerifier, Service>() {}

/** The agent a guarded route is serving. */
export class CurrentAgent extends Context.Tag("effect-agent-identity/CurrentAgent")<CurrentAgent, VerifiedAgent>() {}

/** Verifier options. */
export interface Options {
  readonly directory: AgentDirectory
  /** Largest accepted distance between the timestamp and now, in seconds (default 300). */
  readonly maxSkewSeconds?: number | undefined
}

/** A verifier over a directory. */
export const make = (options: Options): Service => {
  const maxSkew = options.maxSkewSeconds ?? 300
  const reject = (reason: string) => Effect.fail(new AssertionRejectedError({ reason }))
  return {
    verify: (header) =>
      Effect.gen(function*() {
        const parsed = parseAgentAssertion(header)
        if (Either.isLeft(parsed)) return yield* reject(parsed.left.reason)
        const claims = parsed.right
        const publicKey = yield* options.directory.publicKey(claims.agentRuntimeId)
        if (Option.isNone(publicKey)) return yield* reject("unknown agent runtime id")
        if (!verify(publicKey.value, agentAssertionPayload(claims), claims.signature)) {
          return yield* reject("signature does not verify")
        }
        const owner = yield* options.directory.taskOwner(claims.taskId)
        if (Option.isNone(owner) || owner.value !== claims.agentRuntimeId) {
          return yield* reject("the task does not belong to this agent")
        }
        const seconds = Either.getOrThrow(parseTimestamp(claims.timestamp))
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        if (!withinSkew(seconds, now, maxSkew)) return yield* reject("timestamp is outside the accepted skew window")
        return { agentRuntimeId: claims.agentRuntimeId, taskId: claims.taskId, timestamp: claims.timestamp }
      })
  }
}

/** The verifier as a layer. */
export const layer = (options: Options): Layer.Layer<AssertionVerifier> => Layer.succeed(AssertionVerifier, make(options))

/**
 * Guards an HttpApp: requests without a valid AgentAssertion get 401; the app sees `CurrentAgent`.
 */
export const authenticate = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  E,
  Exclude<R, CurrentAgent> | AssertionVerifier | HttpServerRequest.HttpServerRequest
> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const verifier = yield* AssertionVerifier
    const verified = yield* Effect.either(verifier.verify(request.headers["authorization"] ?? ""))
    if (Either.isLeft(verified)) {
      return HttpServerResponse.unsafeJson({ error: verified.left.reason }, { status: 401 })
    }
    return yield* Effect.provideService(app, CurrentAgent, verified.right)
  })
