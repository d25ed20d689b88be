/**
 * From `serve` to a working header, as a newcomer walks it (issue 14), as separate processes: the recipe
 * serve prints works when pasted into a shell, `header` says why it fell back to Bearer, and slow requests
 * show their progress on a terminal and say how many attempts were made when they fail.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile, spawn } from "node:child_process"
import * as http from "node:http"
import type * as net from "node:net"
import type { Service as Backend } from "../../src/backend/ReferenceBackend.js"
import { backendPerFile } from "../utils/backend.js"
import { CLI, cleanTemps, cli, codexHomeWith, tempDir } from "./helpers.js"
import { inTerminal } from "./terminal.js"

let backend: Backend
let baseUrl: string
let authApi: string
backendPerFile((started) => ({ backend, baseUrl, authApiBaseUrl: authApi } = started))
afterEach(cleanTemps)

const login = (): Promise<Record<string, any>> => Effect.runPromise(backend.issueLogin())
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

/** `serve` as a process with a clean environment; its text until the recipe is complete, and a way to stop it. */
const serve = async (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, [CLI, "serve", ...args], {
    env: { PATH: process.env["PATH"] ?? "", HOME: tempDir() },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let text = ""
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString()
      if (text.includes("Stop it with Ctrl-C.")) resolve()
    })
    child.once("exit", (code) => reject(new Error(`serve exited ${code}`)))
  })
  const stop = () =>
    new Promise<number | null>((resolve) => {
      child.once("exit", (code) => resolve(code))
      child.kill("SIGTERM")
    })
  return { text, stop }
}

/** The pasteable lines of serve's recipe: the indented block after "To get a working header". */
const recipeOf = (text: string): Array<string> => {
  const after = text.slice(text.indexOf("To get a working header"))
  const block = after.split("\n\n")[1]!
  return block.split("\n").map((line) => line.trim())
}

/** Runs `lines` in a fresh bash with a clean environment, as pasted into another terminal. */
const paste = (lines: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile("bash", ["-c", lines.join("\n")], { env: { PATH: process.env["PATH"] ?? "", HOME: tempDir() } }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }))
  )

describe("serve → recipe → header", () => {
  for (const args of [[], ["--protocol", "2026-04"]]) {
    it(`serve${args.map((a) => ` ${a}`).join("")} prints, after its URLs, a recipe that gets a working header in three commands`, async () => {
      const served = await serve(args)
      try {
        const lines = served.text.split("\n")
        expect(lines[0]).toMatch(/^reference backend listening on http:\/\/127\.0\.0\.1:\d+\/backend-api$/)
        const recipe = recipeOf(served.text)
        // The environment, then three commands: a login into the new CODEX_HOME, task, header with the trust flag.
        const current = args.length === 0
        const exports = recipe.filter((line) => line.startsWith("export "))
        expect(exports[0]).toBe("export CODEX_HOME=\"$(mktemp -d)\"")
        expect(exports[1]).toMatch(/^export CHATGPT_BASE_URL=http:\/\/127\.0\.0\.1:\d+\/backend-api$/)
        expect(exports[2]).toMatch(current ? /^export CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL=http:\/\/127\.0\.0\.1:\d+\/api\/accounts$/ : /^export AGENT_IDENTITY_PROTOCOL=2026-04$/)
        expect(exports).toHaveLength(3)
        const commands = recipe.slice(exports.length)
        expect(commands).toHaveLength(3)
        expect(commands[0]).toContain("/test/login")
        expect(commands[1]).toMatch(/ task$/)
        // Under 2026-06 the account rides beside the assertion: --json prints every header to send.
        expect(commands[2]).toMatch(current ? / header --json --trust-host 127\.0\.0\.1$/ : / header --trust-host 127\.0\.0\.1$/)

        const pasted = await paste(recipe)
        expect(pasted.code).toBe(0)
        const out = pasted.stdout.trim().split("\n")
        expect(out[0]).toMatch(/^registered task task_\S+ for agent agent_\S+$/)
        const headers: Record<string, string> = current ? JSON.parse(out[1]!)["headers"] : { Authorization: out[1]! }
        expect(headers["Authorization"]).toMatch(/^AgentAssertion [A-Za-z0-9_-]+$/)
        expect(pasted.stderr).toBe("")
        const servedBase = /CHATGPT_BASE_URL=(\S+)/.exec(exports[1]!)![1]!
        const whoami = await fetch(`${servedBase}/v1/whoami`, { headers })
        expect(whoami.status).toBe(200)
        expect(await whoami.json()).toMatchObject({ scheme: "AgentAssertion" })
      } finally {
        expect(await served.stop()).toBe(0)
      }
    })
  }

  it("the test routes answer a request with no body with 400 and a message", async () => {
    const served = await serve([])
    try {
      const base = /listening on (\S+)/.exec(served.text)![1]!
      const empty = await fetch(`${base}/test/agent-identity`, { method: "POST" })
      expect(empty.status).toBe(400)
      expect(await empty.json()).toEqual({ error: "a JSON object body with account_id and chatgpt_user_id (strings) is required" })
      const notAnObject = await fetch(`${base}/test/agent-identity`, { method: "POST", headers: { "content-type": "application/json" }, body: "[1]" })
      expect(notAnObject.status).toBe(400)
    } finally {
      await served.stop()
    }
  })
})

describe("header says why it chose Bearer", () => {
  it("untrusted host, no task yet, a task of the other protocol; no note when there is no identity or it signs", async () => {
    const doc = await login()
    const bare = codexHomeWith(doc)
    const registered = codexHomeWith(doc)
    const withTask = codexHomeWith(doc)
    const base = ["--base-url", baseUrl]
    expect((await cli(["register", "--codex-home", registered, ...base])).code).toBe(0)
    expect((await cli(["task", "--codex-home", withTask, ...base])).code).toBe(0)
    const [none, untrusted, noTask, otherProtocol, signed] = await Promise.all([
      cli(["header", "--codex-home", bare, ...base]),
      cli(["header", "--codex-home", withTask, ...base]),
      cli(["header", "--codex-home", registered, ...base, "--trust-host", "127.0.0.1"]),
      cli(["header", "--codex-home", withTask, ...base, "--trust-host", "127.0.0.1", "--protocol", "2026-06", "--authapi-base-url", authApi]),
      cli(["header", "--codex-home", withTask, ...base, "--trust-host", "127.0.0.1"])
    ])
    for (const bearer of [none, untrusted, noTask, otherProtocol]) {
      expect(bearer.code).toBe(0)
      expect(bearer.stdout).toBe(`Bearer ${doc.tokens.access_token}\n`)
    }
    expect(none.stderr).toBe("")
    const port = new URL(baseUrl).port
    expect(untrusted.stderr).toBe(
      "note: Bearer, not AgentAssertion: an AgentAssertion goes only to Codex's hosts over https or to a host given with --trust-host " +
        `(or $AGENT_IDENTITY_TRUSTED_HOSTS), and http://127.0.0.1:${port} is neither; add --trust-host 127.0.0.1 if this backend is yours\n`
    )
    expect(noTask.stderr).toMatch(/^note: Bearer, not AgentAssertion: agent agent_\S+ has no task yet; run `agent-identity task` first\n$/)
    expect(otherProtocol.stderr).toMatch(
      /^note: Bearer, not AgentAssertion: agent agent_\S+ has a task of protocol 2026-04 only, and this run speaks 2026-06; run `agent-identity task` to register one for 2026-06, or pass --protocol 2026-04\n$/
    )
    expect(signed.stdout).toMatch(/^AgentAssertion /)
    expect(signed.stderr).toBe("")
  })
})

describe("progress and attempts", () => {
  /** A backend that takes `delayMillis` to answer 503 (Retry-After: 0) to everything. */
  const busyServer = async (delayMillis: number) => {
    const server = http.createServer((request, response) => {
      request.resume()
      setTimeout(() => response.writeHead(503, { "retry-after": "0", "content-type": "application/json" }).end("{\"error\":\"busy\"}"), delayMillis)
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/backend-api`, close: () => server.close() }
  }

  it("on a terminal each slow request and each retry is shown on stderr; piped, only the error, which says how many attempts", async () => {
    const busy = await busyServer(1300)
    try {
      const home = codexHomeWith(await login())
      const args = ["register", "--codex-home", home, "--base-url", busy.url]
      const [terminal, piped] = await Promise.all([inTerminal(args), cli(args)])
      const biscuit = `biscuit (GET ${busy.url}/authenticate_app_v2)`
      const lines = terminal.stdout.trim().split("\n")
      expect(lines[0]).toBe(`… ${biscuit}: waiting for an answer, attempt 1 of 3, times out after 15 s`)
      expect(lines[1]).toMatch(new RegExp(`^… ${escape(biscuit)}: attempt 1 of 3 failed \\(status 503\\); trying again in \\d+ ms$`))
      expect(lines[2]).toBe(`… ${biscuit}: waiting for an answer, attempt 2 of 3, times out after 15 s`)
      expect(lines[4]).toBe(`… ${biscuit}: waiting for an answer, attempt 3 of 3, times out after 15 s`)
      expect(lines.at(-1)).toMatch(/gave up after 3 attempts in \d+\.\d s$/)
      expect(terminal.code).toBe(1)

      expect(piped.code).toBe(1)
      expect(piped.stderr).toMatch(
        new RegExp(`^error: HttpStatusError: biscuit request failed with status 503 from GET ${escape(busy.url)}/authenticate_app_v2: \\{"error":"busy"\\}; gave up after 3 attempts in \\d+\\.\\d s\\n$`)
      )
    } finally {
      busy.close()
    }
  })
})
