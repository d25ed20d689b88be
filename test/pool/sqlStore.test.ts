/**
 * The pool on a database store (SQLite file): the AuthManager of each account runs under the store's lease, so
 * the pool's per-account flows (registration, task, header, recovery) must finish with it, not wait on it.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Settings from "../../src/Domain/Settings.js"
import { IdentityPool, layer as poolLayer } from "../../src/pool/IdentityPool.js"
import * as Proxy from "../../src/pool/Proxy.js"
import { AccountStore } from "../../src/services/AccountStore.js"
import { layerSqlite } from "../../src/store/index.js"
import { newKey } from "../store/utils/store.js"
import { accountId, startUpstream, whoami } from "./helpers.js"

/** The reference backend, a SQLite store in a temp folder, and an IdentityPool on it. */
const startSqlFleet = Effect.gen(function*() {
  const upstream = yield* startUpstream()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pool-sql-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
  const context = Layer.mergeAll(
    layerSqlite({ filename: path.join(dir, "fleet.db"), key: Redacted.make(newKey()) }),
    Settings.layer({ baseUrl: upstream.baseUrl, authApiBaseUrl: upstream.authApiBaseUrl, trustedHosts: ["127.0.0.1"] }),
    NodeHttpClient.layer
  ).pipe(Layer.orDie)
  const built = yield* Layer.build(Layer.provideMerge(poolLayer(), context))
  return { upstream, built, accounts: yield* Effect.provide(AccountStore, built) }
})

describe("IdentityPool on a SQLite store", () => {
  it.scoped("headers for 3 accounts: one agent each, every header accepted by the backend", () =>
    Effect.gen(function*() {
      const { accounts, built, upstream } = yield* startSqlFleet
      for (let i = 0; i < 3; i++) yield* accounts.put(yield* upstream.backend.issueLogin({ accountId: accountId(i), userId: `user-${i}` }), "2026-06")
      const pool = yield* Effect.provide(IdentityPool, built)
      const headers = yield* Effect.forEach([0, 1, 2, 0, 1, 2], (i) => pool.authorizationHeaderOrBearer({ accountId: accountId(i) }), { concurrency: "unbounded" })
      for (const header of headers) {
        expect(Option.isSome(header)).toBe(true)
        const answer = yield* whoami(upstream.baseUrl, Option.getOrThrow(header))
        expect(answer.status).toBe(200)
      }
      const runtimes = new Set(headers.map((h) => Option.getOrThrow(Option.getOrThrow(h).task).agentRuntimeId))
      expect(runtimes.size).toBe(3)
    }), { timeout: 30_000 })

  // The lease's heartbeat once inherited the HTTP handler's uninterruptible region: the lease was never released
  // and the proxy's first request hung.
  it.scoped("the proxy on it: a request naming an account is signed, registered on first use, and answered", () =>
    Effect.gen(function*() {
      const { accounts, built, upstream } = yield* startSqlFleet
      yield* accounts.put(yield* upstream.backend.issueLogin({ accountId: accountId(0), userId: "user-0" }), "2026-06")
      const served = yield* Effect.provide(Proxy.serve(), built)
      const answer = yield* Effect.promise(() =>
        fetch(`${served.url}/backend-api/v1/whoami`, { headers: { "chatgpt-account-id": accountId(0) } }).then(async (r) => ({ status: r.status, body: await r.json() }))
      )
      expect(answer).toMatchObject({ status: 200, body: { scheme: "AgentAssertion" } })
    }), { timeout: 30_000 })
})
