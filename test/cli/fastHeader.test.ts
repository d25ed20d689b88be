/**
 * The `header` fast path (src/cli/fastHeader.ts) prints, whenever it answers, exactly what the full CLI
 * prints for the same command line, environment, auth.json and second; and it leaves to the full CLI every
 * case it cannot answer that way (a Bearer header and its note, a warning, an error, a JWT login, …).
 *
 * The full path runs as the built CLI's `main` chunk in a child process whose clock is frozen at the second
 * the fast path signs at, so the two outputs compare byte for byte.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fastHeader } from "../../src/cli/fastHeader.js"
import * as C from "../../src/crypto/index.js"
import { chatgptAuthDocument, idToken } from "../../src/Domain/CodexLogin.js"
import { projectRoot } from "../utils/vectors.js"
import { cleanTemps, CLI, tempDir } from "./helpers.js"

afterAll(cleanTemps)

/** A second in 2026, fixed: both paths sign at it. */
const NOW = Date.UTC(2026, 10, 28, 9, 30, 15, 250)

const mainChunk = (): string => {
  const dir = path.join(projectRoot, "dist", "cli-chunks")
  const found = fs.readdirSync(dir).filter((name) => /^main-[A-Za-z0-9]+\.js$/.test(name))
  if (found.length !== 1) throw new Error(`expected one main chunk in ${dir}, found ${found.join(", ")}`)
  return path.join(dir, found[0]!)
}

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Node's arguments that freeze its clock at NOW before anything else runs. */
const frozenClock = ["--import", `data:text/javascript,Date.now=()=>${NOW}`]

const run = (nodeArgs: ReadonlyArray<string>, env: Record<string, string>): Promise<Ran> =>
  new Promise((resolve) => {
    execFile(process.execPath, [...nodeArgs], { env: { PATH: process.env["PATH"] ?? "", ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
  })

/** The full CLI (never the fast path): its `main` chunk's `run`, as the entry calls it. */
const full = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  run([
    ...frozenClock,
    "--input-type=module",
    "-e",
    `const m = await import(${JSON.stringify(mainChunk())}); await m.run(["node", "agent-identity", ...${JSON.stringify(args)}])`
  ], env)

const key = C.keyFromSeed(new Uint8Array(32).fill(9))
const otherKey = C.keyFromSeed(new Uint8Array(32).fill(10))

/** A record both Codex generations read, with a task in each generation's field. */
const record = (overrides: Record<string, unknown> = {}) => ({
  agent_runtime_id: "agent_fast1",
  agent_private_key: C.encodePrivateKeyBase64(key),
  account_id: "account-1",
  chatgpt_user_id: "user-1",
  email: "user@example.test",
  plan_type: "plus",
  chatgpt_account_is_fedramp: false,
  task_id: "task_current",
  workspace_id: "account-1",
  registered_at: "2026-04-15T00:00:00Z",
  background_task_id: "task_seed",
  ...overrides
})

const login = (options: { readonly isFedramp?: boolean; readonly userId?: string } = {}) =>
  chatgptAuthDocument({ accountId: "account-1", userId: options.userId ?? "user-1", email: "user@example.test", planType: "plus", ...options })

const home = (document: unknown, options: { readonly text?: string; readonly mode?: number } = {}): string => {
  const dir = tempDir()
  fs.writeFileSync(path.join(dir, "auth.json"), options.text ?? JSON.stringify(document, null, 2), { mode: options.mode ?? 0o600 })
  fs.chmodSync(path.join(dir, "auth.json"), options.mode ?? 0o600)
  return dir
}

/** Every file of a folder with its content and mode. */
const folder = (dir: string) =>
  fs.readdirSync(dir).sort().map((name) => {
    const file = path.join(dir, name)
    return { name, mode: fs.lstatSync(file).mode, content: fs.readFileSync(file, "utf8") }
  })

/** The common case: a ChatGPT login and its agent's record with a task in each generation's field. */
const plainHome = () => home({ ...login(), agent_identity: record() })

interface Case {
  readonly name: string
  readonly home: () => string
  readonly args?: ReadonlyArray<string>
  readonly env?: Record<string, string>
  /** Whether the fast path answers it (else it leaves it to the full CLI). */
  readonly fast: boolean
  /** No `--base-url` added: the case sets the base URL itself. */
  readonly noBase?: boolean
}

const BASE = ["--base-url", "https://chatgpt.com/backend-api"]

const CASES: ReadonlyArray<Case> = [
  { name: "today's protocol, text", home: plainHome, fast: true },
  { name: "today's protocol, --json", home: plainHome, args: ["--json"], fast: true },
  {
    name: "the seed's protocol, --json",
    home: plainHome,
    args: ["--json", "--protocol", "2026-04"],
    fast: true
  },
  {
    name: "the seed's protocol from the environment",
    home: plainHome,
    env: { AGENT_IDENTITY_PROTOCOL: "2026-04" },
    fast: true
  },
  {
    name: "a FedRAMP account, --json",
    home: () => home({ ...login({ isFedramp: true }), agent_identity: record({ chatgpt_account_is_fedramp: true }) }),
    args: ["--json"],
    fast: true
  },
  {
    name: "a seed record without today's fields (FedRAMP from the login)",
    home: () =>
      home({
        ...login({ isFedramp: true }),
        agent_identity: record({ account_id: undefined, plan_type: undefined, chatgpt_account_is_fedramp: undefined, email: undefined })
      }),
    args: ["--json", "--protocol", "2026-04"],
    fast: true
  },
  {
    name: "options after the command, --name=value, a base URL to normalise from the environment",
    home: plainHome,
    args: ["--protocol=2026-06", "--json"],
    env: { CHATGPT_BASE_URL: "  https://chatgpt.com/  " },
    noBase: true,
    fast: true
  },
  {
    name: "a loopback backend trusted with --trust-host",
    home: plainHome,
    args: ["--json", "--base-url", "http://127.0.0.1:8765/backend-api", "--trust-host", "127.0.0.1"],
    fast: true
  },
  {
    name: "a loopback backend trusted by $AGENT_IDENTITY_TRUSTED_HOSTS",
    home: plainHome,
    args: ["--base-url", "http://localhost:8765/backend-api"],
    env: { AGENT_IDENTITY_TRUSTED_HOSTS: " example.test , LOCALHOST " },
    fast: true
  },
  {
    name: "the forced workspace is the record's",
    home: plainHome,
    env: { AGENT_IDENTITY_FORCED_WORKSPACE_ID: "account-1" },
    fast: true
  },
  {
    name: "auth.json through a symbolic link",
    home: () => {
      const dir = plainHome()
      fs.renameSync(path.join(dir, "auth.json"), path.join(dir, "real.json"))
      fs.symlinkSync(path.join(dir, "real.json"), path.join(dir, "auth.json"))
      return dir
    },
    fast: true
  },
  // The full CLI's cases.
  { name: "an untrusted host (Bearer, and a note)", home: plainHome, args: ["--base-url", "http://127.0.0.1:1/backend-api"], fast: false },
  { name: "no task of this protocol (Bearer)", home: () => home({ ...login(), agent_identity: record({ task_id: null }) }), fast: false },
  { name: "no identity (Bearer)", home: () => home(login()), fast: false },
  { name: "a record of another account", home: () => home({ ...login(), agent_identity: record({ account_id: "account-2", workspace_id: "account-2" }) }), fast: false },
  { name: "a record of another user", home: () => home({ ...login({ userId: "user-2" }), agent_identity: record() }), fast: false },
  { name: "a key that does not decode", home: () => home({ ...login(), agent_identity: record({ agent_private_key: "bm90IGEga2V5" }) }), fast: false },
  { name: "an unsafe task id", home: () => home({ ...login(), agent_identity: record({ task_id: "task/../x" }) }), fast: false },
  { name: "a file others can read (a warning)", home: () => home({ ...login(), agent_identity: record() }, { mode: 0o644 }), fast: false },
  { name: "no auth.json", home: () => tempDir(), fast: false },
  { name: "a duplicate key", home: () => home(null, { text: `{"auth_mode":"chatgpt","auth_mode":"chatgpt"}` }), fast: false },
  { name: "not JSON", home: () => home(null, { text: "{" }), fast: false },
  { name: "an API key login", home: () => home({ auth_mode: "apikey", OPENAI_API_KEY: "sk-x", agent_identity: record() }), fast: false },
  { name: "a JWT in the identity slot", home: () => home({ ...login(), agent_identity: idToken({ accountId: "account-1" }) }), fast: false },
  { name: "$CODEX_ACCESS_TOKEN", home: plainHome, env: { CODEX_ACCESS_TOKEN: "at-123" }, fast: false },
  { name: "another forced workspace", home: plainHome, env: { AGENT_IDENTITY_FORCED_WORKSPACE_ID: "account-9" }, fast: false },
  { name: "agent identity disabled", home: plainHome, env: { AGENT_IDENTITY_MODE: "disabled" }, fast: false },
  { name: "--log-level", home: plainHome, args: ["--log-level", "debug"], fast: false },
  { name: "$AGENT_IDENTITY_LOG_LEVEL", home: plainHome, env: { AGENT_IDENTITY_LOG_LEVEL: "info" }, fast: false },
  { name: "an unknown protocol", home: plainHome, env: { AGENT_IDENTITY_PROTOCOL: "2027-01" }, fast: false },
  { name: "a JWKS base that is not a URL", home: plainHome, env: { CODEX_AGENT_IDENTITY_JWKS_BASE_URL: "jwks" }, fast: false },
  { name: "an AuthAPI base that is not a URL", home: plainHome, args: ["--authapi-base-url", "ftp://x"], fast: false },
  { name: "a usage error", home: plainHome, args: ["--jsn"], fast: false },
  { name: "--help", home: plainHome, args: ["--help"], fast: false },
  { name: "another command", home: plainHome, args: [], fast: false }
]

describe("the header fast path", () => {
  for (const testCase of CASES) {
    it(`${testCase.fast ? "answers" : "leaves to the full CLI"}: ${testCase.name}`, async () => {
      const dir = testCase.home()
      const command = testCase.name === "another command" ? "status" : "header"
      const ownBase = testCase.noBase === true || testCase.args?.includes("--base-url") === true
      const args = [command, "--codex-home", dir, ...(ownBase ? [] : BASE), ...(testCase.args ?? [])]
      const env = { HOME: tempDir(), ...testCase.env }
      const before = folder(dir)
      const fast = fastHeader(args, env, () => NOW)
      // It reads and never writes.
      expect(folder(dir)).toEqual(before)
      if (!testCase.fast) {
        expect(fast).toBeUndefined()
        return
      }
      expect(fast).toBeDefined()
      const expected = await full(args, env)
      expect(expected).toEqual({ code: 0, stdout: fast, stderr: "" })
    })
  }

  it("signs what the full CLI signs: an AgentAssertion for the record's task at the given second", () => {
    const dir = home({ ...login(), agent_identity: record() })
    const out = fastHeader(["header", "--codex-home", dir, ...BASE], { HOME: dir }, () => NOW)!
    const parsed = C.parseAgentAssertion(out.trimEnd())
    expect(parsed._tag).toBe("Right")
    if (parsed._tag !== "Right") return
    expect({ id: parsed.right.agentRuntimeId, task: parsed.right.taskId, at: parsed.right.timestamp })
      .toEqual({ id: "agent_fast1", task: "task_current", at: "2026-11-28T09:30:15Z" })
    expect(C.verifyAgentAssertion(out.trimEnd(), key.publicKey)._tag).toBe("Right")
    expect(C.verifyAgentAssertion(out.trimEnd(), otherKey.publicKey)._tag).toBe("Left")
  })

  it("is what the command runs: the built entry answers a plain header without loading the full CLI", async () => {
    const dir = home({ ...login(), agent_identity: record() })
    const loads = path.join(tempDir(), "loads.txt")
    // A module hook that writes down every module the process loads.
    const hook = `data:text/javascript,${encodeURIComponent(
      `import { register } from "node:module"; register(${
        JSON.stringify(`data:text/javascript,${
          encodeURIComponent(
            `import { appendFileSync } from "node:fs"; export async function load(url, context, next) { appendFileSync(${
              JSON.stringify(loads)
            }, url + "\\n"); return next(url, context) }`
          )
        }`)
      })`
    )}`
    const args = ["header", "--codex-home", dir, ...BASE]
    const fastRun = await run([...frozenClock, "--import", hook, CLI, ...args], { HOME: dir })
    expect(fastRun).toEqual({ code: 0, stdout: fastHeader(args, {}, () => NOW), stderr: "" })
    const loaded = fs.readFileSync(loads, "utf8")
    expect(loaded).toContain("dist/cli.js")
    expect(loaded).not.toMatch(/cli-chunks\/main-/)

    // A case it leaves: the same entry then loads the full CLI, which warns.
    fs.chmodSync(path.join(dir, "auth.json"), 0o644)
    fs.writeFileSync(loads, "")
    const fullRun = await run([...frozenClock, "--import", hook, CLI, ...args], { HOME: dir })
    expect(fullRun.code).toBe(0)
    expect(fullRun.stdout).toBe(fastRun.stdout)
    expect(fullRun.stderr).toMatch(/^warning: .* can be read by every user/)
    expect(fs.readFileSync(loads, "utf8")).toMatch(/cli-chunks\/main-/)
  })
})
