/**
 * The command line as people expect it (issue 14, clig.dev), each rough edge as separate processes:
 * help, colour, option order, log levels, usage errors, --version, values checked before any file or
 * network, serve's port, demo's options, and the shell completions.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import type { Service as Backend } from "../../src/backend/ReferenceBackend.js"
import { backendPerFile } from "../utils/backend.js"
import { CLI, cleanTemps, cli, codexHomeWith, readAuth, tempDir } from "./helpers.js"
import { hasAnsi, inTerminal, shellQuote } from "./terminal.js"

let backend: Backend
let baseUrl: string
backendPerFile((started) => ({ backend, baseUrl } = started))
afterEach(cleanTemps)

const login = (): Promise<Record<string, any>> => Effect.runPromise(backend.issueLogin())
const COMMANDS = ["register", "task", "header", "status", "verify", "forget", "login", "import-jwt", "pool", "proxy", "serve", "demo", "completions"]

describe("help", () => {
  it("names the program, shows every default, marks optional, required and repeatable options, and only those that matter", async () => {
    const [header, verify, serve, root, helpVerify] = await Promise.all([
      cli(["header", "--help"]),
      cli(["verify", "--help"]),
      cli(["serve", "-h"]),
      cli(["--help"]),
      cli(["help", "verify"])
    ])
    for (const result of [header, verify, serve, root]) {
      expect(result.code).toBe(0)
      expect(result.stdout).not.toMatch(/--wizard|--completions|\$ (register|header|verify|serve)\b/)
      expect(hasAnsi(result.stdout)).toBe(false)
    }
    expect(header.stdout).toMatch(/^Usage: agent-identity header \[--codex-home DIR\] \[--base-url URL\] \[--trust-host HOST\]\.\.\./m)
    expect(header.stdout).toContain("(default: $CODEX_HOME, else ~/.codex)")
    expect(header.stdout).toMatch(/--trust-host HOST +.*\(repeatable; default: \$AGENT_IDENTITY_TRUSTED_HOSTS/s)
    // Only what matters to header: the AuthAPI is not among its options, and help says it is accepted anyway.
    expect(header.stdout).not.toMatch(/^ +--authapi-base-url/m)
    expect(header.stdout).toContain("It also takes --authapi-base-url, --jwks-base-url, which change nothing here")

    expect(verify.stdout).toMatch(/^Usage: agent-identity verify HEADER --public-key KEY \[--max-skew-seconds SECONDS\]/m)
    expect(verify.stdout).toMatch(/--public-key KEY +.*\(required\)/)
    expect(verify.stdout).toMatch(/--max-skew-seconds SECONDS +.*\n? *.*\(default: 300\)/)
    expect(verify.stdout).not.toMatch(/^ +--codex-home/m)
    expect(helpVerify.stdout).toBe(verify.stdout)

    expect(serve.stdout).toMatch(/--host HOST +the address to listen on \(default: 127\.0\.0\.1\)/)
    expect(serve.stdout).toMatch(/--port PORT +.*\(default: 0\)/)

    for (const command of COMMANDS) expect(root.stdout).toMatch(new RegExp(`^  ${command} +\\S`, "m"))
    expect(root.stdout).toMatch(/^Usage: agent-identity COMMAND \[options\]$/m)
    expect(root.stdout).toContain("--version")
    // No command at all: the program's help, as before.
    expect((await cli([])).stdout).toBe(root.stdout)
  })

  it("colour only on a terminal, and never with NO_COLOR or TERM=dumb", async () => {
    const [piped, terminal, noColor, dumb] = await Promise.all([
      cli(["status", "--help"]),
      inTerminal(["status", "--help"]),
      inTerminal(["status", "--help"], { NO_COLOR: "1" }),
      inTerminal(["status", "--help"], { TERM: "dumb" })
    ])
    expect(terminal.code).toBe(0)
    expect(hasAnsi(terminal.stdout)).toBe(true)
    expect(terminal.stdout).toContain("\u001b[1mUsage:\u001b[0m agent-identity status")
    for (const plain of [piped, noColor, dumb]) {
      expect(hasAnsi(plain.stdout)).toBe(false)
      expect(plain.stdout).toContain("Usage: agent-identity status")
    }
    // The error line too: red on a terminal, plain otherwise.
    const [errorTerminal, errorPiped] = await Promise.all([inTerminal(["statsu"]), cli(["statsu"])])
    expect(errorTerminal.stdout).toMatch(/^\u001b\[31merror:\u001b\[0m UsageError: /)
    expect(errorPiped.stderr).toMatch(/^error: UsageError: /)
  })
})

describe("the command line", () => {
  it("options may come before or after the command, as --name value or --name=value", async () => {
    const home = codexHomeWith(await login())
    const runs = await Promise.all([
      cli(["status", "--json", "--codex-home", home]),
      cli(["--json", "status", "--codex-home", home]),
      cli(["--codex-home", home, "--json", "status"]),
      cli(["--codex-home=" + home, "status", "--json"])
    ])
    for (const run of runs) {
      expect(run.code).toBe(0)
      expect(run.stdout).toBe(runs[0]!.stdout)
    }
    expect(JSON.parse(runs[0]!.stdout)["binding"]).not.toBeNull()
  })

  it("--log-level works before or after the command; a level that does not exist is a usage error", async () => {
    // A login with no id_token: header logs why it has no header, at warning level.
    const broken = codexHomeWith({ tokens: { access_token: "at-broken" } })
    const [after, before, silent, bad, badBefore, badEnv] = await Promise.all([
      cli(["header", "--codex-home", broken, "--log-level", "warning"]),
      cli(["--log-level", "WARNING", "header", "--codex-home", broken]),
      cli(["header", "--codex-home", broken]),
      cli(["status", "--log-level", "nonsense"]),
      cli(["--log-level", "nonsense", "status"]),
      cli(["status"], { AGENT_IDENTITY_LOG_LEVEL: "nonsense" })
    ])
    for (const logged of [after, before]) {
      expect(logged.code).toBe(1)
      expect(logged.stderr).toMatch(/level=WARN .*no authorization available/)
    }
    expect(silent.stderr).not.toContain("level=")
    for (const usage of [bad, badBefore]) {
      expect(usage.code).toBe(2)
      expect(usage.stderr).toBe(
        "error: UsageError: --log-level must be one of all, trace, debug, info, warning, error, fatal, none, not \"nonsense\"; " +
          "see `agent-identity status --help`\n"
      )
    }
    expect(badEnv.code).toBe(2)
    expect(badEnv.stderr).toMatch(/^error: UsageError: AGENT_IDENTITY_LOG_LEVEL must be one of all, trace, /)
  })

  it("usage errors exit 2 with one line that names the problem and the help to read (each kind once; every message: parse.test.ts)", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["serve", "--port", "abc"], "--port: \"abc\" is not an integer; see `agent-identity serve --help`"],
      [["serve", "--port", "99999"], "--port: 99999 is out of range (0 to 65535); see `agent-identity serve --help`"],
      [["header", "--jsn"], "unknown option --jsn (did you mean --json?); see `agent-identity header --help`"],
      [["verify", "--public-key", "k"], "verify needs HEADER, the Authorization value, `AgentAssertion <token>`; see `agent-identity verify --help`"],
      [["statsu"], "unknown command \"statsu\" (did you mean status?); see `agent-identity --help`"],
      [["demo", "--base-url", "http://127.0.0.1:1/x"], "demo does not take --base-url: demo runs against a reference backend of its own; see `agent-identity demo --help`"]
    ]
    const results = await Promise.all(cases.map(([args]) => cli(args)))
    for (const [index, [args, message]] of cases.entries()) {
      expect({ args, code: results[index]!.code, stderr: results[index]!.stderr }).toEqual({ args, code: 2, stderr: `error: UsageError: ${message}\n` })
      expect(results[index]!.stdout).toBe("")
    }
  })

  it("--version prints the version, wherever it is", async () => {
    const version = JSON.parse(fs.readFileSync(path.join(path.dirname(CLI), "..", "package.json"), "utf8"))["version"]
    for (const result of await Promise.all([cli(["--version"]), cli(["status", "--version"])])) {
      expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" })
    }
  })

  it("values are checked before auth.json or the network is touched; each error says where the value came from", async () => {
    const doc = await login()
    const home = codexHomeWith(doc)
    const folder = tempDir()
    // auth.json is a folder here: reading it would fail with a KeyStoreError.
    fs.mkdirSync(path.join(folder, "auth.json"))
    const before = await Effect.runPromise(backend.calls)
    const [flag, env, port] = await Promise.all([
      cli(["register", "--codex-home", home, "--base-url", "notaurl"]),
      cli(["register", "--codex-home", home], { CHATGPT_BASE_URL: "notaurl" }),
      cli(["register", "--codex-home", folder, "--trust-host", "a:1"])
    ])
    expect(flag.code).toBe(1)
    expect(flag.stderr).toBe(
      "error: SettingsError: setting baseUrl is not an http(s) URL (given with --base-url; see `agent-identity register --help`)\n"
    )
    expect(env.stderr).toBe("error: SettingsError: setting baseUrl is not an http(s) URL (from $CHATGPT_BASE_URL)\n")
    expect(port.code).toBe(2)
    expect(port.stderr).toMatch(/^error: UsageError: --trust-host takes a host without a port/)
    expect(readAuth(home)).toEqual(doc)
    expect(await Effect.runPromise(backend.calls)).toEqual(before)
  })

  it("import-jwt reads - as stdin wherever the options are", async () => {
    const doc = await login()
    const home = codexHomeWith(doc)
    const claims = JSON.parse(Buffer.from(doc.tokens.id_token.split(".")[1]!, "base64url").toString())["https://api.openai.com/auth"]
    const jwt = await Effect.runPromise(backend.issueIdentityJwt({ accountId: doc.tokens.account_id, userId: claims.chatgpt_user_id }))
    const result = await new Promise<{ code: number; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, [CLI, "import-jwt", "-", "--base-url", baseUrl, "--codex-home", home, "--json"], {
        env: { PATH: process.env["PATH"] ?? "", HOME: tempDir(), AGENT_IDENTITY_PROTOCOL: "2026-04" }
      }, (error, stdout) => resolve({ code: error === null ? 0 : Number(error.code), stdout }))
      child.stdin!.end(jwt)
    })
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ stored: true, account_id: doc.tokens.account_id })
    expect(readAuth(home)["agent_identity"]).toBe(jwt)
  })
})

describe("speed", () => {
  it("header and status load no HTTP module (every file they load, read for platform's HTTP client and server)", async () => {
    const home = codexHomeWith(await login())
    const list = path.join(tempDir(), "loaded.txt")
    const hooks = path.join(tempDir(), "hooks.mjs")
    fs.writeFileSync(hooks, [
      "import { appendFileSync } from \"node:fs\"",
      "export async function load(url, context, next) {",
      `  appendFileSync(${JSON.stringify(list)}, url + "\\n")`,
      "  return next(url, context)",
      "}"
    ].join("\n"))
    const register = `data:text/javascript,import{register}from"node:module";register(${encodeURIComponent(JSON.stringify(`file://${hooks}`))})`
    const run = (args: ReadonlyArray<string>) =>
      new Promise<number>((resolve) =>
        execFile(process.execPath, ["--import", register, CLI, ...args], { env: { PATH: process.env["PATH"] ?? "", HOME: tempDir() } }, (error) =>
          resolve(error === null ? 0 : Number(error.code)))
      )
    const http = /Symbol\.for\("@effect\/platform\/Http(Client|Server)/
    for (const args of [["header", "--codex-home", home], ["--json", "status", "--codex-home", home]]) {
      fs.writeFileSync(list, "")
      expect(await run(args)).toBe(0)
      const files = fs.readFileSync(list, "utf8").split("\n").filter((u) => u.startsWith("file://"))
      expect(files.length).toBeGreaterThan(1)
      expect(files.filter((u) => http.test(fs.readFileSync(new URL(u), "utf8")))).toEqual([])
    }
    // The same check finds the HTTP stack where it is loaded (register, here failing for want of a login).
    fs.writeFileSync(list, "")
    expect(await run(["register", "--codex-home", tempDir()])).toBe(1)
    const registerFiles = fs.readFileSync(list, "utf8").split("\n").filter((u) => u.startsWith("file://"))
    expect(registerFiles.some((u) => http.test(fs.readFileSync(new URL(u), "utf8")))).toBe(true)
  })
})

describe("serve and demo", () => {
  it("serve on a port in use: a ListenError that says so, not an empty message or a defect", async () => {
    const blocker = net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
    const port = (blocker.address() as net.AddressInfo).port
    try {
      const result = await cli(["serve", "--port", String(port)])
      expect(result.code).toBe(1)
      expect(result.stderr).toBe(
        `error: ListenError: cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE); choose another with --port, or --port 0 for a free one\n`
      )
    } finally {
      blocker.close()
    }
  })

  it("demo honours --protocol: the access-token steps only under 2026-06", async () => {
    const [current, seed] = await Promise.all([cli(["demo", "--protocol", "2026-06"]), cli(["--protocol", "2026-04", "demo"])])
    expect(current.code).toBe(0)
    expect(current.stdout).toContain("(protocol 2026-06)")
    expect(current.stdout).toMatch(/^9\. With no ChatGPT login at all, it registered task /m)
    expect(seed.code).toBe(0)
    expect(seed.stdout).toContain("(protocol 2026-04)")
    expect(seed.stdout).not.toMatch(/^8\. /m)
  })
})

describe("shell completions", () => {
  const bash = (script: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile("bash", ["-c", script], { env: { PATH: process.env["PATH"] ?? "", HOME: tempDir() } }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }))
    )

  it("bash: the script loads, registers agent-identity and completes commands, options and their values", async () => {
    const complete = (words: string) =>
      `COMP_WORDS=(agent-identity ${words}); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _agent_identity; echo "\${COMPREPLY[*]}"`
    const result = await bash([
      `source <(${shellQuote(process.execPath)} ${shellQuote(CLI)} completions bash)`,
      "complete -p agent-identity",
      complete("st"),
      complete("''"),
      complete("--json ''"),
      complete("serve --"),
      complete("--protocol ''"),
      complete("header --log-level w"),
      complete("completions ''")
    ].join(" && "))
    expect(result.stderr).toBe("")
    expect(result.stdout.split("\n")).toEqual([
      "complete -F _agent_identity agent-identity",
      "status",
      `${COMMANDS.join(" ")} help`,
      `${COMMANDS.join(" ")} help`,
      "--host --port --protocol --json --log-level --help",
      "2026-04 2026-06",
      "warning",
      "bash zsh fish",
      ""
    ])
  })

  it("zsh and fish: each script names every command and each command's options", async () => {
    const [zsh, fish] = await Promise.all([cli(["completions", "zsh"]), cli(["completions", "fish"])])
    expect(zsh.stdout.split("\n")[0]).toBe("#compdef agent-identity")
    expect(zsh.stdout).toContain("compdef _agent_identity agent-identity")
    for (const command of COMMANDS) {
      expect(zsh.stdout).toContain(`'${command}:`)
      expect(zsh.stdout).toContain(`        (${command})`)
      expect(fish.stdout).toContain(`complete -c agent-identity -n '__fish_use_subcommand' -a ${command} -d `)
    }
    expect(zsh.stdout).toMatch(/\(serve\)\n +_arguments -s '--host\[the address to listen on\]:HOST: '/)
    expect(zsh.stdout).toContain("'*--trust-host[")
    expect(zsh.stdout).toContain("'--protocol[the protocol generation to speak\\: 2026-04 or 2026-06]:VERSION:(2026-04 2026-06)'")
    expect(fish.stdout).toContain("complete -c agent-identity -n '__fish_seen_subcommand_from serve' -l port -x -d ")
    expect(fish.stdout).toContain("complete -c agent-identity -n '__fish_seen_subcommand_from completions' -a 'bash zsh fish'")
    expect(fish.stdout).toContain("-l codex-home -x -a '(__fish_complete_directories)'")
  })
})
