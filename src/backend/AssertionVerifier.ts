/**
 * AssertionVerifier: the server side of an AgentAssertion. Finds the agent's public key, checks the
 * signature (node:crypto, one key object per agent key), that the task belongs to that agent, and
 * that the timestamp is within the skew window (±1 s of slack for whole-second truncation). A client
 * sends the same header for a whole second (its signer caches it), so verified headers are
 * remembered until their timestamp leaves the window or their task is revoked. `authenticate` guards
 * HttpServer routes with it.
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
import { nativeVerifier } from "../crypto/native.js"
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
  /**
   * Drops every cached verification of a task: call it when the task is revoked, so that its
   * assertions are checked against the directory again (and refused) from the next request on.
   */
  readonly revokeTask: (taskId: string) => Effect.Effect<void>
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
  /**
   * How many verified header values to remember (default 8192; 0: none). A remembered header is
   * accepted again without a signature check or a directory lookup while its timestamp stays within
   * the skew window, until `revokeTask` drops it. The directory's other answers (an agent's key, a
   * task's owner) are taken as fixed for that time.
   */
  readonly cacheSize?: number | undefined
  /** node:crypto (default) or @noble/curves (portable); both verify strictly (see `crypto/native.ts`). */
  readonly implementation?: "node-crypto" | "noble" | undefined
}

interface Cached {
  readonly agent: VerifiedAgent
  /** The timestamp, in epoch seconds. */
  readonly seconds: number
}

/** A verifier over a directory. */
export const make = (options: Options): Service => {
  const maxSkew = options.maxSkewSeconds ?? 300
  const capacity = Math.max(0, options.cacheSize ?? 8192)
  const verifySignature = options.implementation === "noble" ? verify : nativeVerifier()
  const reject = (reason: string) => Effect.fail(new AssertionRejectedError({ reason }))

  // Header value -> what it verified as. Insertion order is roughly timestamp order, so the first
  // entries are the first to leave the skew window and the first evicted when the cache is full.
  const cache = new Map<string, Cached>()
  // Bumped by every revocation: a verification that started before one is not remembered.
  let revocations = 0

  const remember = (header: string, entry: Cached, startedAt: number) => {
    if (capacity === 0 || startedAt !== revocations) return
    if (cache.size >= capacity) cache.delete(cache.keys().next().value!)
    cache.set(header, entry)
  }

  const check = (header: string, now: number) =>
    Effect.gen(function*() {
      const startedAt = revocations
      const parsed = parseAgentAssertion(header)
      if (Either.isLeft(parsed)) return yield* reject(parsed.left.reason)
      const claims = parsed.right
      const publicKey = yield* options.directory.publicKey(claims.agentRuntimeId)
      if (Option.isNone(publicKey)) return yield* reject("unknown agent runtime id")
      if (!verifySignature(publicKey.value, agentAssertionPayload(claims), claims.signature)) {
        return yield* reject("signature does not verify")
      }
      const owner = yield* options.directory.taskOwner(claims.taskId)
      if (Option.isNone(owner) || owner.value !== claims.agentRuntimeId) {
        return yield* reject("the task does not belong to this agent")
      }
      const seconds = Either.getOrThrow(parseTimestamp(claims.timestamp))
      if (!withinSkew(seconds, now, maxSkew)) return yield* reject("timestamp is outside the accepted skew window")
      const agent: VerifiedAgent = { agentRuntimeId: claims.agentRuntimeId, taskId: claims.taskId, timestamp: claims.timestamp }
      remember(header, { agent, seconds }, startedAt)
      return agent
    })

  return {
    verify: (header) =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const hit = cache.get(header)
        if (hit !== undefined) {
          if (withinSkew(hit.seconds, now, maxSkew)) return Effect.succeed(hit.agent)
          cache.delete(header)
        }
        return check(header, now)
      }),
    revokeTask: (taskId) =>
      Effect.sync(() => {
        revocations++
        for (const [header, entry] of cache) if (entry.agent.taskId === taskId) cache.delete(header)
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
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    Effect.flatMap(AssertionVerifier, (verifier) =>
      Effect.matchEffect(verifier.verify(request.headers["authorization"] ?? ""), {
        onFailure: (error) => Effect.succeed(HttpServerResponse.unsafeJson({ error: error.reason }, { status: 401 })),
        onSuccess: (agent) => Effect.provideService(app, CurrentAgent, agent)
      })))
