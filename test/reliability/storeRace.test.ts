/**
 * Issue 15's promises for the database stores, with real processes: (1) processes racing over many accounts on
 * one database (a SQLite file; a real PostgreSQL) make exactly one agent registration per account at the reference
 * backend, and every process ends up using the identity the store holds for each account; (2) a registrant
 * SIGKILLed while its registration is held by the backend leaves no duplicate, and another process completes once
 * its lease has expired. Counts come from the profile (test/utils/profile.ts): `npm run test:reliability` runs 8
 * processes over 100 accounts.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { start, type StartOptions } from "../../src/backend/server.js"
import { AccountStore } from "../../src/services/AccountStore.js"
import { layerFromUrl } from "../../src/store/index.js"
import { startPg, type Pg } from "../store/utils/pg.js"
import { newKey } from "../store/utils/store.js"
import { bundleEntry } from "./fixtures/bundleEntry.js"
import { counts, report, timeout } from "../utils/profile.js"

let children: { readonly script: string; readonly dir: string }
let pg: Pg
const dirs: Array<string> = []
beforeAll(async () => {
  ;[children, pg] = await Promise.all([bundleEntry("storeChildren", { external: ["better-sqlite3", "pg-native"] }), startPg()])
}, 180_000)
afterAll(() => {
  pg?.stop()
  for (const dir of [children?.dir, ...dirs]) if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true })
})

interface Line {
  readonly account?: string
  readonly runtimeId?: string
  readonly taskId?: string
  readonly started?: boolean
  readonly done?: boolean
  readonly error?: string
  readonly message?: string
}

const spawnChild = (key: string, location: string, baseUrl: string, authApiBaseUrl: string, accounts: ReadonlyArray<string>, leaseMs: number) => {
  const child = spawn(process.execPath, [children.script, "race", location, baseUrl, authApiBaseUrl, accounts.join(","), String(leaseMs)], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { PATH: process.env["PATH"] ?? "", AGENT_IDENTITY_STORE_KEY: key }
  })
  const lines: Array<Line> = []
  let buffer = ""
  const waiters: Array<{ readonly test: (l: Line) => boolean; readonly resolve: () => void }> = []
  child.stdout!.on("data", (d: Buffer) => {
    buffer += d.toString()
    let nl: number
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const text = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (!text.startsWith("{")) continue
      const parsed = JSON.parse(text) as Line
      lines.push(parsed)
      for (const w of waiters) if (w.test(parsed)) w.resolve()
    }
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const waitFor = (test: (l: Line) => boolean) =>
    lines.some(test) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ test, resolve }))
  return { child: child as ChildProcess, lines, exited, waitFor }
}

const seed = (location: string, key: string, accounts: ReadonlyArray<string>, options: StartOptions = {}) =>
  Effect.gen(function*() {
    const { authApiBaseUrl, backend, baseUrl } = yield* start(options)
    yield* Effect.scoped(Effect.gen(function*() {
      const store = yield* AccountStore
      for (const accountId of accounts) yield* store.put(yield* backend.issueLogin({ accountId, userId: `user-${accountId}` }), "2026-06")
    }).pipe(Effect.provide(layerFromUrl(location, { key: Redacted.make(key) }))))
    return { authApiBaseUrl, backend, baseUrl }
  })

const storedIdentities = (location: string, key: string) =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* AccountStore
    return new Map((yield* store.list).map((e) => [e.accountId, Option.getOrNull(e.agentRuntimeId)]))
  }).pipe(Effect.provide(layerFromUrl(location, { key: Redacted.make(key) }))))

const sqliteLocation = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-race-"))
  dirs.push(dir)
  return `sqlite:${path.join(dir, "fleet.db")}`
}

describe.each([
  { name: "sqlite", fresh: sqliteLocation },
  { name: "postgres", fresh: () => pg.database(`race_${process.pid}_${Date.now()}`) }
])("the $name store across processes", ({ fresh, name }) => {
  it.live(
    `${counts.storeRacers} processes racing over ${counts.storeAccounts} accounts: one agent registration per account, every process on the stored identity`,
    () =>
      Effect.gen(function*() {
        const key = newKey()
        const location = fresh()
        const accounts = Array.from({ length: counts.storeAccounts }, (_, i) => `acct-${String(i).padStart(3, "0")}`)
        const { authApiBaseUrl, backend, baseUrl } = yield* seed(location, key, accounts)
        const started = Date.now()
        const racers = Array.from({ length: counts.storeRacers }, () => spawnChild(key, location, baseUrl, authApiBaseUrl, accounts, 30_000))
        const codes = yield* Effect.promise(() => Promise.all(racers.map((r) => r.exited)))
        const elapsed = Date.now() - started
        const errors = racers.flatMap((r) => r.lines.filter((l) => l.error !== undefined))
        expect(errors).toEqual([])
        expect(codes).toEqual(racers.map(() => 0))
        const calls = yield* backend.calls
        const stored = yield* storedIdentities(location, key)
        report(
          `${name} store: ${counts.storeRacers} processes x ${counts.storeAccounts} accounts -> ${calls.register} agent registrations, ${calls.task} task registrations, ${
            yield* backend.agentCount
          } agents at the backend, in ${(elapsed / 1000).toFixed(1)} s`
        )
        expect(calls.register).toBe(counts.storeAccounts)
        expect(calls.task).toBe(counts.storeAccounts)
        expect(yield* backend.agentCount).toBe(counts.storeAccounts)
        for (const racer of racers) {
          const seen = racer.lines.filter((l) => l.account !== undefined)
          expect(seen.length).toBe(counts.storeAccounts)
          for (const line of seen) expect(line.runtimeId).toBe(stored.get(line.account!))
        }
        expect([...stored.values()].every((id) => id !== null)).toBe(true)
        expect(new Set(stored.values()).size).toBe(counts.storeAccounts)
      }).pipe(Effect.scoped),
    timeout(120_000, 600_000)
  )

  it.live("a registrant SIGKILLed mid-registration leaves no duplicate; another process completes once its lease expires", () =>
    Effect.gen(function*() {
      const key = newKey()
      const location = fresh()
      const leaseMs = 2000
      const held = yield* Deferred.make<void>()
      // The backend holds the first agent registration (never answers it); later ones are served.
      const { authApiBaseUrl, backend, baseUrl } = yield* seed(location, key, ["acct-kill"], {
        fault: (endpoint, n) =>
          endpoint === "register" && n === 0
            ? Option.some(Effect.zipRight(Deferred.succeed(held, undefined), Effect.never as Effect.Effect<HttpServerResponse.HttpServerResponse>))
            : Option.none()
      })
      const first = spawnChild(key, location, baseUrl, authApiBaseUrl, ["acct-kill"], leaseMs)
      yield* Deferred.await(held)
      const second = spawnChild(key, location, baseUrl, authApiBaseUrl, ["acct-kill"], leaseMs)
      yield* Effect.promise(() => second.waitFor((l) => l.started === true))
      const killedAt = Date.now()
      first.child.kill("SIGKILL")
      yield* Effect.promise(() => first.exited)
      yield* Effect.promise(() => second.exited)
      const completedAfter = Date.now() - killedAt
      const done = second.lines.find((l) => l.account === "acct-kill")
      const stored = yield* storedIdentities(location, key)
      const calls = yield* backend.calls
      report(
        `${name} store: registrant killed mid-registration; the other process completed ${completedAfter} ms after the kill (lease ${leaseMs} ms); ${calls.register} registration requests, ${
          yield* backend.agentCount
        } agent at the backend`
      )
      expect(second.lines.filter((l) => l.error !== undefined)).toEqual([])
      expect(done?.runtimeId).toBeDefined()
      expect(stored.get("acct-kill")).toBe(done!.runtimeId)
      // The held registration never completed; the second process's is the only agent.
      expect(calls.register).toBe(2)
      expect(yield* backend.agentCount).toBe(1)
    }).pipe(Effect.scoped), 60_000)
})
