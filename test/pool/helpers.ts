/**
 * Fleet fixtures: the reference backend on loopback (with extra upstream routes when a test needs them), a memory
 * AccountStore holding `accounts` logins it issued (`account-0` … with `user-0` …), and an IdentityPool on them.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createServer } from "node:http"
import * as AssertionVerifier from "../../src/backend/AssertionVerifier.js"
import * as ReferenceBackend from "../../src/backend/ReferenceBackend.js"
import * as Settings from "../../src/Domain/Settings.js"
import { type AuthorizationHeader, requestHeaders } from "../../src/manager/Identity.js"
import * as IdentityPool from "../../src/pool/IdentityPool.js"
import * as AccountStore from "../../src/services/AccountStore.js"

/** `account-${i}` */
export const accountId = (i: number) => `account-${i}`

/**
 * The reference backend on 127.0.0.1 with `routes` added beside its own; `verifier` checks assertions against
 * its agents and tasks (no cache: a revoked task is refused at once).
 */
export const startUpstream = (
  options: ReferenceBackend.Options & {
    readonly routes?: (verifier: AssertionVerifier.Service) => HttpRouter.HttpRouter<never, never>
  } = {}
) =>
  Effect.gen(function*() {
    const { directory, router, service } = yield* ReferenceBackend.make({ recordRequests: 5000, ...options })
    const verifier = AssertionVerifier.make({ directory, cacheSize: 0 })
    const all = options.routes === undefined ? router : HttpRouter.concat(router, options.routes(verifier))
    const server = yield* NodeHttpServer.make(() => createServer(), { host: "127.0.0.1", port: 0 })
    yield* HttpServer.serveEffect(all).pipe(Effect.provideService(HttpServer.HttpServer, server))
    const address = server.address
    const origin = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`
    return { origin, baseUrl: `${origin}/backend-api`, authApiBaseUrl: `${origin}/api/accounts`, backend: service, verifier }
  })

/** A fleet: the upstream, `accounts` logins in a memory store, and a pool (protocol 2026-06 unless told). */
export const startFleet = (
  options: {
    readonly accounts: number
    readonly protocol?: Settings.Protocol
    readonly pool?: IdentityPool.Options
    readonly trustedHosts?: ReadonlyArray<string>
  } & Parameters<typeof startUpstream>[0]
) =>
  Effect.gen(function*() {
    const upstream = yield* startUpstream(options)
    const protocol = options.protocol ?? "2026-06"
    const store = yield* AccountStore.makeMemory
    for (let i = 0; i < options.accounts; i++) {
      const document = yield* upstream.backend.issueLogin({ accountId: accountId(i), userId: `user-${i}` })
      yield* store.put(document, protocol)
    }
    const context = Layer.mergeAll(
      Layer.succeed(AccountStore.AccountStore, store),
      Settings.layer({ baseUrl: upstream.baseUrl, authApiBaseUrl: upstream.authApiBaseUrl, trustedHosts: options.trustedHosts ?? ["127.0.0.1"], protocol }),
      NodeHttpClient.layer
    ).pipe(Layer.orDie)
    const built = yield* Layer.build(Layer.provideMerge(IdentityPool.layer(options.pool), context))
    return { ...upstream, protocol, store, context: built }
  })

/** GET `/v1/whoami` at the backend with a header: its status and JSON answer. */
export const whoami = (baseUrl: string, header: AuthorizationHeader) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(HttpClientRequest.get(`${baseUrl}/v1/whoami`).pipe(HttpClientRequest.setHeaders(requestHeaders(header))))
    return { status: response.status, body: (yield* response.json) as Record<string, unknown> }
  }).pipe(Effect.provide(NodeHttpClient.layer), Effect.orDie)

/** The header's task, which a test knows is there. */
export const taskOf = (header: Option.Option<AuthorizationHeader>) => Option.getOrThrow(Option.getOrThrow(header).task)
