/**
 * The CLI on a database store (spec/cli.md, "Fleets"): `pool import` (files and stdin, a report, idempotent),
 * `pool list --json`, `register`/`task`/`header`/`status` on `--store` + `--account`, `pool revoke`; the store's key
 * from `$AGENT_IDENTITY_STORE_KEY` only, and no secret in any output or in the database file.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Redacted from "effect/Redacted"
import { start } from "../../src/backend/server.js"
import { layerFromUrl, StoreAdmin } from "../../src/store/index.js"
import { cleanTemps, cli, tempDir } from "../cli/helpers.js"
import { findSecrets, newKey } from "./utils/store.js"

afterAll(() => cleanTemps())

describe("agent-identity --store (SQLite)", () => {
  it.live("pool import, pool list, register/task/header/status on an account, pool revoke; no secret shown or stored in plain", () =>
    Effect.gen(function*() {
      const { authApiBaseUrl, backend, baseUrl } = yield* start({})
      const dir = tempDir()
      const db = path.join(dir, "fleet.db")
      const env = { AGENT_IDENTITY_STORE_KEY: newKey(), AGENT_IDENTITY_PROTOCOL: "2026-06" }
      const store = ["--store", `sqlite:${db}`]
      const run = (args: ReadonlyArray<string>, input?: string) => Effect.promise(() => cli([...args, ...store], env, input))
      const a = yield* backend.issueLogin({ accountId: "acct-a", userId: "user-a" })
      const b = yield* backend.issueLogin({ accountId: "acct-b", userId: "user-b" })
      const jwt = yield* backend.issueIdentityJwt({ accountId: "acct-c", userId: "user-c" })
      fs.writeFileSync(path.join(dir, "a.json"), JSON.stringify(a, null, 2))
      fs.writeFileSync(path.join(dir, "b.json"), JSON.stringify(b))
      fs.writeFileSync(path.join(dir, "tokens.txt"), `${jwt}\n\nnot-a-token\n`)
      const secrets: Record<string, string> = { jwt, key: env.AGENT_IDENTITY_STORE_KEY }
      for (const [name, doc] of [["a", a], ["b", b]] as const) {
        const tokens = doc["tokens"] as Record<string, string>
        secrets[`${name} access`] = tokens["access_token"]!
        secrets[`${name} refresh`] = tokens["refresh_token"]!
        secrets[`${name} id`] = tokens["id_token"]!
      }
      const outputs: Array<string> = []
      const ok = (args: ReadonlyArray<string>, input?: string) =>
        Effect.map(run(args, input), (r) => {
          outputs.push(r.stdout, r.stderr)
          expect(r.stderr, args.join(" ")).toBe("")
          expect(r.code, args.join(" ")).toBe(0)
          return r.stdout
        })

      const first = JSON.parse(yield* ok(["pool", "import", path.join(dir, "a.json"), "-", path.join(dir, "tokens.txt"), "--json"], JSON.stringify(b)))
      expect(first).toEqual({
        imported: 3,
        unchanged: 0,
        refused: [{ source: `${path.join(dir, "tokens.txt")}:3`, reason: "neither an auth.json document nor an Agent Identity JWT" }]
      })
      const again = JSON.parse(yield* ok(["pool", "import", path.join(dir, "a.json"), path.join(dir, "b.json"), path.join(dir, "tokens.txt"), "--json"]))
      expect(again).toMatchObject({ imported: 0, unchanged: 3 })

      const listed = JSON.parse(yield* ok(["pool", "list", "--json"]))
      const claims = JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as { agent_runtime_id: string }
      expect(listed.accounts).toEqual([
        { account_id: "acct-a", user_id: "user-a", login: "ChatGpt", agent_runtime_id: null, form: null, task_id: null },
        { account_id: "acct-b", user_id: "user-b", login: "ChatGpt", agent_runtime_id: null, form: null, task_id: null },
        { account_id: "acct-c", user_id: "user-c", login: "AgentIdentityJwt", agent_runtime_id: claims.agent_runtime_id, form: "jwt", task_id: null }
      ])

      const online = ["--account", "acct-a", "--base-url", baseUrl, "--authapi-base-url", authApiBaseUrl, "--trust-host", "127.0.0.1", "--json"]
      const registered = JSON.parse(yield* ok(["register", ...online]))
      expect(registered.reused).toBe(false)
      const task = JSON.parse(yield* ok(["task", ...online]))
      expect(task.agent_runtime_id).toBe(registered.agent_runtime_id)
      const header = JSON.parse(yield* ok(["header", ...online.filter((o) => o !== authApiBaseUrl && o !== "--authapi-base-url")]))
      expect(header.scheme).toBe("AgentAssertion")
      const status = JSON.parse(yield* ok(["status", "--account", "acct-a", "--base-url", baseUrl, "--json"]))
      expect(status.identity.agent_runtime_id).toBe(registered.agent_runtime_id)
      expect((yield* backend.calls).register).toBe(1)

      const afterRegister = JSON.parse(yield* ok(["pool", "list", "--json"]))
      expect(afterRegister.accounts[0]).toMatchObject({ account_id: "acct-a", agent_runtime_id: registered.agent_runtime_id, form: "record", task_id: task.task_id })
      expect(JSON.parse(yield* ok(["pool", "revoke", "acct-a", "--json"]))).toEqual({ account_id: "acct-a", revoked: true })
      expect(JSON.parse(yield* ok(["pool", "list", "--json"])).accounts[0]).toMatchObject({ account_id: "acct-a", form: null, agent_runtime_id: null })

      // The audit kept what happened to acct-a, secret-free.
      const audit = yield* Effect.scoped(Effect.flatMap(StoreAdmin, (admin) => admin.auditEvents()).pipe(
        Effect.provide(layerFromUrl(`sqlite:${db}`, { key: Redacted.make(env.AGENT_IDENTITY_STORE_KEY) }))
      ))
      expect(audit.filter((e) => e.accountId === "acct-a").map((e) => e.action)).toEqual(["imported", "registered", "revoked"])
      outputs.push(JSON.stringify(audit))

      // Without the key: a typed error, exit 1. With --account but no --store: a usage error.
      const noKey = yield* Effect.promise(() => cli(["pool", "list", ...store], { AGENT_IDENTITY_PROTOCOL: "2026-06" }))
      expect(noKey.code).toBe(1)
      expect(noKey.stderr).toMatch(/^error: StoreError: .*AGENT_IDENTITY_STORE_KEY is not set/)
      const usage = yield* Effect.promise(() => cli(["status", "--account", "acct-a"], env))
      expect(usage.code).toBe(2)

      expect(findSecrets(Buffer.from(outputs.join("\n")), secrets)).toEqual([])
      const raw = Buffer.concat([db, `${db}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)))
      expect(findSecrets(raw, secrets)).toEqual([])
    }).pipe(Effect.scoped), 120_000)

  it.live("a SQLite path with no database is an error for every command but pool import, and no file is made", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const env = { AGENT_IDENTITY_STORE_KEY: newKey(), AGENT_IDENTITY_PROTOCOL: "2026-06" }
      const missing = path.join(dir, "mistyped.db")
      for (const args of [["pool", "list"], ["pool", "revoke", "acct-a"], ["header", "--account", "acct-a"], ["status", "--account", "acct-a"]]) {
        const result = yield* Effect.promise(() => cli([...args, "--store", `sqlite:${missing}`], env))
        expect([result.code, result.stdout], args.join(" ")).toEqual([1, ""])
        expect(result.stderr, args.join(" ")).toBe(`error: StoreError: sqlite:${missing}: no database file here (a store is created by \`pool import\`)\n`)
        expect(fs.existsSync(missing), args.join(" ")).toBe(false)
      }
      // pool import makes the store (here with nothing to import but a refused line).
      fs.writeFileSync(path.join(dir, "empty.txt"), "not-a-token\n")
      const made = yield* Effect.promise(() => cli(["pool", "import", path.join(dir, "empty.txt"), "--store", `sqlite:${missing}`, "--json"], env))
      expect(made.code).toBe(0)
      expect(fs.existsSync(missing)).toBe(true)
      const listed = yield* Effect.promise(() => cli(["pool", "list", "--json", "--store", `sqlite:${missing}`], env))
      expect([listed.code, JSON.parse(listed.stdout)]).toEqual([0, { accounts: [] }])
    }), 60_000)
})
