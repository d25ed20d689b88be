/**
 * `agent-identity proxy` as a process (spec/cli.md, "Fleets"): 50 accounts imported into a SQLite store, then
 * 50 requests at once through the proxy, one per account: each is signed with its own account's identity (the
 * reference backend's whoami names the agent's account), each account registers one agent.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { start } from "../../src/backend/server.js"
import { cleanTemps, CLI, cli, tempDir } from "../cli/helpers.js"
import { newKey } from "./utils/store.js"

afterAll(() => cleanTemps())

const ACCOUNTS = 50

describe("agent-identity proxy", () => {
  it.scopedLive(`serves ${ACCOUNTS} accounts at once, each request signed with its own account's identity`, () =>
    Effect.gen(function*() {
      const { authApiBaseUrl, backend, baseUrl } = yield* start({})
      const dir = tempDir()
      const env = {
        AGENT_IDENTITY_STORE_KEY: newKey(),
        AGENT_IDENTITY_PROTOCOL: "2026-06",
        CHATGPT_BASE_URL: baseUrl,
        CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL: authApiBaseUrl
      }
      const store = ["--store", `sqlite:${path.join(dir, "fleet.db")}`]
      const files: Array<string> = []
      for (let i = 0; i < ACCOUNTS; i++) {
        const file = path.join(dir, `login-${i}.json`)
        fs.writeFileSync(file, JSON.stringify(yield* backend.issueLogin({ accountId: `acct-${i}`, userId: `user-${i}` })))
        files.push(file)
      }
      const imported = yield* Effect.promise(() => cli(["pool", "import", ...files, ...store, "--json"], env))
      expect(imported.code).toBe(0)
      expect(JSON.parse(imported.stdout)).toMatchObject({ imported: ACCOUNTS, refused: [] })

      const child = spawn(process.execPath, [CLI, "proxy", ...store, "--listen", "127.0.0.1:0", "--trust-host", "127.0.0.1", "--json"], {
        env: { PATH: process.env["PATH"] ?? "", HOME: dir, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGTERM")))
      let stderr = ""
      child.stderr.on("data", (chunk) => (stderr += String(chunk)))
      const banner = yield* Effect.promise(() =>
        new Promise<Record<string, string>>((resolve, reject) => {
          let out = ""
          child.stdout.on("data", (chunk) => {
            out += String(chunk)
            if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]!))
          })
          child.on("exit", (code) => reject(new Error(`proxy exited ${code}: ${stderr}`)))
        })
      )
      expect(banner["base_url"]).toBe(`${banner["url"]}/backend-api`)

      const answers = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: ACCOUNTS }, (_, i) =>
          fetch(`${banner["base_url"]}/v1/whoami`, { headers: { "chatgpt-account-id": `acct-${i}` } }).then(async (r) => ({
            status: r.status,
            body: await r.json() as Record<string, string>
          }))))
      )
      for (const [i, answer] of answers.entries()) {
        expect(answer).toMatchObject({ status: 200, body: { scheme: "AgentAssertion", account_id: `acct-${i}` } })
      }
      expect(new Set(answers.map((a) => a.body["agent_runtime_id"])).size).toBe(ACCOUNTS)
      const calls = yield* backend.calls
      expect(calls.register).toBe(ACCOUNTS)
      // A request naming no account, or one the store does not hold, is refused with a JSON reason.
      const refused = yield* Effect.promise(() =>
        Promise.all([{}, { "chatgpt-account-id": "acct-unknown" }].map((headers) =>
          fetch(`${banner["base_url"]}/v1/whoami`, { headers }).then(async (r) => [r.status, (await r.json() as { error: { code: string } }).error.code])
        ))
      )
      expect(refused).toEqual([[400, "missing_account"], [404, "account_not_found"]])
      expect(stderr).toBe("")
    }), { timeout: 120_000 })
})
