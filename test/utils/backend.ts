/** Test helpers: the reference backend on 127.0.0.1 and an AuthManager wired to it over real HTTP. */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll } from "vitest"
import { start, type StartOptions } from "../../src/backend/server.js"
import * as Config from "../../src/Domain/Settings.js"
import type { AuthDocument } from "../../src/Domain/AuthDocument.js"
import * as KeyStore from "../../src/services/KeyStore.js"
import * as Layers from "../../src/manager/Layers.js"

/**
 * Starts the backend (scoped), recording its requests for the test, and issues a login for
 * account-123 / user-123 unless told otherwise.
 */
export const startBackend = (options: StartOptions & { readonly accountId?: string; readonly userId?: string } = {}) =>
  Effect.gen(function*() {
    const { baseUrl, backend } = yield* start({ recordRequests: true, ...options })
    const document = yield* backend.issueLogin({ accountId: options.accountId ?? "account-123", userId: options.userId ?? "user-123" })
    return { baseUrl, backend, document }
  })

/** A started backend and its first login, as a service, so tests can share one through `layer`/`it.layer`. */
export class TestBackend extends Context.Tag("test/TestBackend")<
  TestBackend,
  Effect.Effect.Success<ReturnType<typeof startBackend>>
>() {}

/** One backend for every test under the layer, stopped when they are done. */
export const layerTestBackend = (options: Parameters<typeof startBackend>[0] = {}) => Layer.scoped(TestBackend, startBackend(options))

/** An AuthManager over real HTTP to `baseUrl`, with a memory KeyStore holding `document` (or a given KeyStore layer); protocol 2026-04 unless given. */
export const liveAuthLayer = (options: {
  readonly baseUrl: string
  readonly document?: AuthDocument
  readonly keyStore?: Layer.Layer<KeyStore.KeyStore>
  readonly settings?: Config.Options
}) =>
  Layers.authManager.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        options.keyStore ?? KeyStore.layerMemory(options.document),
        Config.layer({ baseUrl: options.baseUrl, trustedHosts: ["127.0.0.1"], protocol: "2026-04", ...options.settings }),
        NodeHttpClient.layer
      )
    )
  )

/** Runs `body` (a promise-based test) against a reference backend started for it, stopped after, whatever happens. */
export const withBackend = async <A>(options: StartOptions, body: (ctx: Effect.Effect.Success<ReturnType<typeof start>>) => Promise<A>) => {
  const scope = Effect.runSync(Scope.make())
  try {
    return await body(await Effect.runPromise(start(options).pipe(Scope.extend(scope))))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/**
 * One reference backend for a whole test file of promise-based tests: started before its tests (each start
 * handed to `onStart`, which keeps what the file uses), stopped after them.
 */
export const backendPerFile = (onStart: (started: Effect.Effect.Success<ReturnType<typeof start>>) => void, options: StartOptions = {}) => {
  const scope = Effect.runSync(Scope.make())
  beforeAll(async () => onStart(await Effect.runPromise(start(options).pipe(Scope.extend(scope)))))
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))
}
