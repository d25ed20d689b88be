/**
 * The database stores, on a SQLite file and on a real PostgreSQL (a throwaway cluster: test/store/utils/pg.ts):
 * the AccountStore's operations, a registration through an account's KeyStore, secrets encrypted at rest (the
 * raw files and table bytes searched for every secret), the typed errors of a wrong or missing key, rotation,
 * rows bound to their place, and import.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as C from "../../src/crypto/index.js"
import { agentIdentityLoginDocument, type AuthState, readState } from "../../src/Domain/AuthDocument.js"
import { start } from "../../src/backend/server.js"
import { AgentRuntimeId } from "../../src/Domain/Ids.js"
import { AuthManager } from "../../src/manager/AuthManager.js"
import { AccountStore } from "../../src/services/AccountStore.js"
import { importDocuments, layerFromUrl, layerPg, layerSqlite, StoreAdmin } from "../../src/store/index.js"
import { startPg, type Pg } from "./utils/pg.js"
import { accountAuth, findSecrets, newKey } from "./utils/store.js"

let pg: Pg
const dirs: Array<string> = []
beforeAll(async () => {
  pg = await startPg()
}, 120_000)
afterAll(() => {
  pg?.stop()
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

const tempFile = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-store-"))
  dirs.push(dir)
  return path.join(dir, "fleet.db")
}
let dbCounter = 0

interface Dialect {
  readonly name: "sqlite" | "postgres"
  /** A fresh store location. */
  readonly fresh: () => string
  /** Every byte the database holds for the store (files, or the table rows and the server's data files). */
  readonly rawBytes: (location: string) => Buffer
}

const sqlite: Dialect = {
  name: "sqlite",
  fresh: () => `sqlite:${tempFile()}`,
  rawBytes: (location) => {
    const file = location.slice("sqlite:".length)
    return Buffer.concat(
      [file, `${file}-wal`, `${file}-shm`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f))
    )
  }
}
const postgres: Dialect = {
  name: "postgres",
  fresh: () => pg.database(`store_${process.pid}_${++dbCounter}`),
  rawBytes: (location) => {
    const tables = ["logins", "identities", "jwt_tasks", "session_tasks", "audit", "leases"].map((t) => `agent_identity_${t}`)
    const rows = tables.map((t) =>
      execFileSync("psql", [location, "-Atqc", `SELECT row_to_json(t) FROM ${t} t`], { encoding: "utf8" })
    ).join("\n")
    execFileSync("psql", [location, "-qc", "CHECKPOINT"])
    // The server's own files, when the test started it: this database's folder and the write-ahead log.
    const dataDir = execFileSync("psql", [location, "-Atqc", "SHOW data_directory"], { encoding: "utf8" }).trim()
    const oid = execFileSync("psql", [location, "-Atqc", "SELECT oid FROM pg_database WHERE datname = current_database()"], { encoding: "utf8" })
      .trim()
    const files: Array<Buffer> = [Buffer.from(rows, "utf8")]
    if (process.env["AGENT_IDENTITY_TEST_PG_URL"] === undefined && fs.existsSync(dataDir)) {
      const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
          const full = path.join(dir, entry.name)
          if (entry.isDirectory()) walk(full)
          else if (entry.isFile()) files.push(fs.readFileSync(full))
        }
      }
      walk(path.join(dataDir, "base", oid))
      walk(path.join(dataDir, "pg_wal"))
    }
    return Buffer.concat(files)
  }
}

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

describe.each([sqlite, postgres])("the $name store", (dialect) => {
  it("holds many accounts: put, list, resolve, keyStore, sessions, remove; the document comes back as it went in", async () => {
    const key = newKey()
    const location = dialect.fresh()
    await run(Effect.gen(function*() {
      const { backend } = yield* start({})
      const store = yield* AccountStore
      const docs = yield* Effect.forEach(["acct-a", "acct-b"], (accountId) => backend.issueLogin({ accountId, userId: `user-${accountId}` }))
      for (const doc of docs) expect((yield* store.put(doc, "2026-06")).changed).toBe(true)
      expect((yield* store.put(docs[0]!, "2026-06")).changed).toBe(false)
      const list = yield* store.list
      expect(list.map((e) => [e.accountId, Option.getOrNull(e.userId), e.login, Option.getOrNull(e.agentRuntimeId)])).toEqual([
        ["acct-a", "user-acct-a", "ChatGpt", null],
        ["acct-b", "user-acct-b", "ChatGpt", null]
      ])
      const resolved = yield* store.resolve("acct-b")
      expect(Option.getOrNull(resolved.userId)).toBe("user-acct-b")
      expect((yield* Effect.either(store.resolve("acct-z")))).toMatchObject({ left: { _tag: "AccountNotFoundError", reason: "NotHeld" } })
      const ks = yield* store.keyStore(resolved)
      const state = yield* ks.read
      expect(state.login._tag).toBe("ChatGpt")
      // The login's document, key order included, round-trips.
      yield* ks.saveLogin(docs[1]!)
      yield* store.saveSessionTask(resolved, "conv-1", Option.some({ agentRuntimeId: "rt-1", taskId: "task-1" }))
      expect(yield* store.sessionTask(resolved, "conv-1")).toEqual(Option.some({ agentRuntimeId: "rt-1", taskId: "task-1" }))
      yield* store.saveSessionTask(resolved, "conv-1", Option.none())
      expect(yield* store.sessionTask(resolved, "conv-1")).toEqual(Option.none())
      expect(yield* store.remove(resolved)).toBe(true)
      expect(yield* store.remove(resolved)).toBe(false)
      expect((yield* store.list).map((e) => e.accountId)).toEqual(["acct-a"])
      expect((yield* Effect.either(store.keyStore(resolved)))).toMatchObject({ left: { _tag: "AccountNotFoundError" } })
    }).pipe(Effect.provide(layerFromUrl(location, { key: Redacted.make(key) }))))
  })

  it("an account removed and put again is read anew, even through a KeyStore taken before; a put keeps the stored identity", async () => {
    const location = dialect.fresh()
    await run(Effect.gen(function*() {
      const { backend } = yield* start({})
      const store = yield* AccountStore
      const tokenOf = (state: AuthState) => state.login._tag === "ChatGpt" ? Redacted.value(state.login.accessToken) : ""
      const first = yield* backend.issueLogin({ accountId: "acct-r", userId: "user-r" })
      const second = yield* backend.issueLogin({ accountId: "acct-r", userId: "user-r" })
      const key = (yield* store.put(first, "2026-06")).key
      const before = yield* store.keyStore(key)
      expect(tokenOf(yield* before.read)).toBe(tokenOf(Either.getOrThrow(readState(first))))
      expect(yield* store.remove(key)).toBe(true)
      yield* store.put(second, "2026-06")
      const secondToken = tokenOf(Either.getOrThrow(readState(second)))
      expect(tokenOf(yield* before.read)).toBe(secondToken)
      expect(tokenOf(yield* (yield* store.keyStore(key)).read)).toBe(secondToken)

      // The account's identity, then an older export of it carrying another one: the stored identity stays.
      const record = (runtime: string) => ({
        workspace_id: "acct-r",
        chatgpt_user_id: "user-r",
        agent_runtime_id: runtime,
        agent_private_key: C.encodePrivateKeyBase64(C.keyFromSeed(new Uint8Array(32).fill(runtime.length))),
        registered_at: "2026-11-28T00:00:00Z"
      })
      yield* (yield* store.keyStore(key)).saveLogin({ ...second, agent_identity: record("agent-new") })
      const reimport = yield* store.put({ ...second, agent_identity: record("agent-older") }, "2026-06")
      expect(reimport.changed).toBe(false)
      const slot = (yield* (yield* store.keyStore(key)).read).identity
      expect(slot._tag === "Record" && slot.record.agent_runtime_id).toBe("agent-new")
      // An Agent Identity JWT login is its slot: putting one replaces the login whole.
      const jwt = yield* backend.issueIdentityJwt({ accountId: "acct-r", userId: "user-r" })
      expect((yield* store.put(agentIdentityLoginDocument(Redacted.make(jwt)), "2026-06")).changed).toBe(true)
      expect((yield* (yield* store.keyStore(key)).read).login._tag).toBe("AgentIdentityJwt")
    }).pipe(Effect.provide(layerFromUrl(location, { key: Redacted.make(newKey()) }))))
  })

  it("registers through an account's KeyStore, audits it, and keeps nothing secret in plaintext anywhere in the database", async () => {
    const key = newKey()
    const location = dialect.fresh()
    const secrets: Record<string, string | Uint8Array> = {}
    await run(Effect.gen(function*() {
      const { authApiBaseUrl, backend, baseUrl } = yield* start({})
      const store = yield* AccountStore
      const admin = yield* StoreAdmin
      const login = yield* backend.issueLogin({ accountId: "acct-1", userId: "user-1" })
      const tokens = login["tokens"] as Record<string, string>
      secrets["access token"] = tokens["access_token"]!
      secrets["refresh token"] = tokens["refresh_token"]!
      secrets["id token"] = tokens["id_token"]!
      const jwt = yield* backend.issueIdentityJwt({ accountId: "acct-2", userId: "user-2" })
      secrets["identity JWT"] = jwt
      yield* store.put(login, "2026-06")
      const report = yield* importDocuments([{ name: "jwt.txt", text: jwt }], "2026-06")
      expect(report.map((r) => r.outcome)).toEqual(["imported"])
      const k = yield* store.resolve("acct-1")
      const ks = yield* store.keyStore(k)
      const task = yield* Effect.provide(Effect.flatMap(AuthManager, (auth) => auth.ensureTask), accountAuth(ks, baseUrl, authApiBaseUrl))
      const state = yield* ks.read
      if (state.identity._tag !== "Record") throw new Error("no record stored")
      const privateKey = Redacted.value(state.identity.record.agent_private_key)
      secrets["private key (base64)"] = privateKey
      secrets["private key (bytes)"] = Buffer.from(privateKey, "base64")
      secrets["task id"] = task.taskId
      const entry = (yield* store.list).find((e) => e.accountId === "acct-1")!
      expect(Option.getOrNull(entry.agentRuntimeId)).toBe(task.agentRuntimeId)
      const audit = yield* admin.auditEvents()
      expect(audit.map((e) => [e.action, e.accountId])).toEqual([["imported", "acct-2"], ["registered", "acct-1"]])
      expect(audit[1]!.detail).toBe(task.agentRuntimeId)
      // Another identity replacing this one is a renewal; removing it, a revocation (each with its runtime id).
      yield* ks.saveIdentity({ ...state.identity.record, agent_runtime_id: AgentRuntimeId.make("agent-replacement") })
      expect(yield* ks.removeIdentity).toBe(true)
      const later = (yield* admin.auditEvents(k)).map((e) => [e.action, e.detail])
      expect(later).toEqual([["registered", task.agentRuntimeId], ["renewed", "agent-replacement"], ["revoked", "identity agent-replacement removed"]])
      yield* ks.saveIdentity(state.identity.record)
      // A second process's view (a new store on the same database) reads the same identity.
    }).pipe(Effect.provide(layerFromUrl(location, { key: Redacted.make(key) }))))
    await run(Effect.gen(function*() {
      const store = yield* AccountStore
      const ks = yield* store.keyStore(yield* store.resolve("acct-1"))
      const state = yield* ks.read
      expect(state.identity._tag === "Record" && Redacted.value(state.identity.record.agent_private_key)).toBe(secrets["private key (base64)"])
    }).pipe(Effect.provide(layerFromUrl(location, { key: Redacted.make(key) }))))
    const raw = dialect.rawBytes(location)
    expect(raw.length).toBeGreaterThan(1000)
    // The search itself finds a secret written in plain (it cannot pass by searching the wrong bytes).
    expect(findSecrets(Buffer.concat([raw, Buffer.from(String(secrets["refresh token"]))]), secrets)).toEqual(["refresh token"])
    expect(findSecrets(raw, secrets)).toEqual([])
  })

  it("a missing or wrong key is a typed error naming no key; rotation re-seals every row; a row moved to another account does not open", async () => {
    const oldKey = newKey()
    const newKey_ = newKey()
    const location = dialect.fresh()
    const open = (key: string | undefined) => layerFromUrl(location, key === undefined ? {} : { key: Redacted.make(key) })
    await run(Effect.gen(function*() {
      const { backend } = yield* start({})
      const store = yield* AccountStore
      for (const accountId of ["acct-1", "acct-2"]) {
        yield* store.put(yield* backend.issueLogin({ accountId, userId: `u-${accountId}` }), "2026-06")
        yield* store.saveSessionTask(yield* store.resolve(accountId), "s", Option.some({ agentRuntimeId: "rt", taskId: `task-${accountId}` }))
      }
    }).pipe(Effect.provide(open(oldKey))))

    const missing = await Effect.runPromise(Effect.either(Layer.build(open(undefined)).pipe(
      Effect.scoped,
      Effect.withConfigProvider((await import("effect/ConfigProvider")).fromMap(new Map()))
    )))
    expect(Either.isLeft(missing) && missing.left).toMatchObject({ _tag: "StoreError", reason: "KeyMissing" })
    const wrong = await Effect.runPromise(Effect.either(Effect.scoped(Layer.build(open(newKey_)))))
    expect(Either.isLeft(wrong) && wrong.left).toMatchObject({ _tag: "StoreError", reason: "WrongKey" })
    expect(Either.isLeft(wrong) && wrong.left.message).not.toContain(newKey_)
    const invalid = await Effect.runPromise(Effect.either(Effect.scoped(Layer.build(open("bm90IGEga2V5")))))
    expect(Either.isLeft(invalid) && invalid.left).toMatchObject({ _tag: "StoreError", reason: "KeyInvalid" })

    // Rotation: the new key first, the old one still given; every sealed row re-sealed; then the old key can go.
    const report = await run(Effect.flatMap(StoreAdmin, (admin) => admin.rotate).pipe(Effect.provide(open(`${newKey_},${oldKey}`))))
    expect(report.resealed).toBe(4) // 2 logins and 2 session tasks
    const again = await run(Effect.flatMap(StoreAdmin, (admin) => admin.rotate).pipe(Effect.provide(open(`${newKey_},${oldKey}`))))
    expect(again.resealed).toBe(0)
    await run(Effect.gen(function*() {
      const store = yield* AccountStore
      const k = yield* store.resolve("acct-2")
      expect((yield* (yield* store.keyStore(k)).read).login._tag).toBe("ChatGpt")
      expect(yield* store.sessionTask(k, "s")).toEqual(Option.some({ agentRuntimeId: "rt", taskId: "task-acct-2" }))
      // Swap acct-1's sealed login into acct-2's row: the associated data binds it to acct-1, so it does not open.
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE agent_identity_logins SET secret = (SELECT secret FROM agent_identity_logins WHERE account_id = 'acct-1'), version = version + 1 WHERE account_id = 'acct-2'`
      const swapped = yield* Effect.either((yield* store.keyStore(k)).read)
      expect(Either.isLeft(swapped) && swapped.left).toMatchObject({ _tag: "KeyStoreError", reason: "Encryption" })
    }).pipe(Effect.provide(Layer.merge(open(newKey_), sqlClientOf(location)))))
  })

  it("the lease: a holder whose lease was taken over writes nothing (fenced); a lease held elsewhere times out as KeyStoreError Lock", async () => {
    const location = dialect.fresh()
    const key = newKey()
    await run(Effect.gen(function*() {
      const { backend } = yield* start({})
      const store = yield* AccountStore
      const sql = yield* SqlClient.SqlClient
      const first = yield* backend.issueLogin({ accountId: "acct-1", userId: "user-1" })
      const second = yield* backend.issueLogin({ accountId: "acct-1", userId: "user-1" })
      const k = (yield* store.put(first, "2026-06")).key
      const ks = yield* store.keyStore(k)
      const lost = yield* Effect.either(ks.exclusive(Effect.gen(function*() {
        // Another holder takes the lease, as after this one paused past its expiry.
        yield* Effect.orDie(sql`UPDATE agent_identity_leases SET holder = 'another-host/1/x'`)
        yield* ks.saveLogin(second)
      })))
      expect(Either.isLeft(lost) && lost.left).toMatchObject({ _tag: "KeyStoreError", reason: "Lock" })
      const tokens = (doc: Record<string, unknown>) => (doc["tokens"] as Record<string, string>)["access_token"]
      const state = yield* ks.read
      expect(state.login._tag === "ChatGpt" && Redacted.value(state.login.accessToken)).toBe(tokens(first))
      // The other holder's lease (not expired) keeps this one waiting until its lock timeout.
      const waited = yield* Effect.either(ks.exclusive(Effect.void))
      expect(Either.isLeft(waited) && waited.left).toMatchObject({ _tag: "KeyStoreError", reason: "Lock" })
      yield* Effect.orDie(sql`DELETE FROM agent_identity_leases`)
      yield* ks.exclusive(ks.saveLogin(second))
      const after = yield* ks.read
      expect(after.login._tag === "ChatGpt" && Redacted.value(after.login.accessToken)).toBe(tokens(second))
    }).pipe(Effect.provide(Layer.merge(layerFromUrl(location, { key: Redacted.make(key), lockTimeout: "300 millis" }), sqlClientOf(location)))))
  })

  it("import: a report per input (imported, unchanged, refused with a reason), nothing secret in it, idempotent when repeated, audited", async () => {
    const location = dialect.fresh()
    const key = newKey()
    await run(Effect.gen(function*() {
      const { backend } = yield* start({})
      const login = yield* backend.issueLogin({ accountId: "acct-1", userId: "user-1" })
      const jwt = yield* backend.issueIdentityJwt({ accountId: "acct-2", userId: "user-2" })
      const pat = yield* backend.issuePersonalAccessToken({ accountId: "acct-3", userId: "user-3" })
      const inputs = [
        { name: "a/auth.json", text: JSON.stringify(login, null, 2) },
        { name: "jwt.txt", text: `${jwt}\n` },
        { name: "again.json", text: JSON.stringify(login) },
        { name: "apikey.json", text: JSON.stringify({ OPENAI_API_KEY: "sk-secret-not-to-leak" }) },
        { name: "broken.json", text: `{"tokens": {"access_token": "${jwt}"` },
        { name: "pat.txt", text: pat },
        { name: "noise.txt", text: "hello world" }
      ]
      const first = yield* importDocuments(inputs, "2026-06")
      expect(first.map((r) => [r.name, r.outcome, Option.getOrNull(r.accountId)])).toEqual([
        ["a/auth.json", "imported", "acct-1"],
        ["jwt.txt", "imported", "acct-2"],
        ["again.json", "unchanged", "acct-1"],
        ["apikey.json", "refused", null],
        ["broken.json", "refused", null],
        ["pat.txt", "refused", null],
        ["noise.txt", "refused", null]
      ])
      expect(first.filter((r) => r.outcome === "refused").every((r) => Option.isSome(r.reason))).toBe(true)
      const second = yield* importDocuments(inputs, "2026-06")
      expect(second.map((r) => r.outcome)).toEqual(["unchanged", "unchanged", "unchanged", "refused", "refused", "refused", "refused"])
      const tokens = login["tokens"] as Record<string, string>
      const secrets = { access: tokens["access_token"]!, refresh: tokens["refresh_token"]!, id: tokens["id_token"]!, jwt, pat, apiKey: "sk-secret-not-to-leak" }
      const audit = yield* (yield* StoreAdmin).auditEvents()
      const shown = Buffer.from(JSON.stringify([first, second, audit]), "utf8")
      expect(findSecrets(shown, secrets)).toEqual([])
      expect(audit.filter((e) => e.action === "imported").map((e) => e.accountId)).toEqual(["acct-1", "acct-2"])
      expect(audit.filter((e) => e.action === "refused").length).toBe(8)
      expect((yield* (yield* AccountStore).list).map((e) => [e.accountId, e.login])).toEqual([["acct-1", "ChatGpt"], ["acct-2", "AgentIdentityJwt"]])
    }).pipe(Effect.provide(layerFromUrl(location, { key: Redacted.make(key) }))))
  })
})

/** A raw SqlClient on the store's database (to tamper with rows). */
const sqlClientOf = (location: string): Layer.Layer<SqlClient.SqlClient> =>
  location.startsWith("sqlite:")
    ? Layer.orDie(
      Layer.unwrapEffect(Effect.promise(() => import("@effect/sql-sqlite-node/SqliteClient")).pipe(
        Effect.map((m) => m.layer({ filename: location.slice("sqlite:".length) }))
      ))
    )
    : Layer.orDie(
      Layer.unwrapEffect(Effect.promise(() => import("@effect/sql-pg/PgClient")).pipe(
        Effect.map((m) => m.layer({ url: Redacted.make(location) }))
      ))
    )

describe("store locations", () => {
  it("layerFromUrl refuses what is neither sqlite:PATH nor postgres://, without echoing credentials", async () => {
    for (const url of ["mysql://u:pw@h/db", "sqlite:", "file.db"]) {
      const result = await Effect.runPromise(Effect.either(Effect.scoped(Layer.build(layerFromUrl(url, { key: Redacted.make(newKey()) })))))
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "StoreError", reason: "Location" })
      expect(Either.isLeft(result) && result.left.message).not.toContain("pw")
    }
  })

  it("layerPg on a closed port fails StoreError Database, and the message holds no password", async () => {
    const result = await Effect.runPromise(Effect.either(Effect.scoped(Layer.build(
      layerPg({ url: "postgres://u:hunter2-secret@127.0.0.1:1/db", key: Redacted.make(newKey()) })
    ))))
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "StoreError", reason: "Database" })
    expect(Either.isLeft(result) && result.left.message).not.toContain("hunter2")
  })

  it("layerSqlite creates the database file with mode 0600", async () => {
    const file = tempFile()
    await run(Effect.asVoid(Layer.build(layerSqlite({ filename: file, key: Redacted.make(newKey()) }))))
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
  })
})
