/**
 * The command line as read by src/cli/parse.ts, in process (conventions.test.ts runs each kind of
 * mistake as a process once): where options may go, and the message of every usage error.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { parse } from "../../src/cli/parse.js"

const reasonOf = (args: ReadonlyArray<string>) => Either.match(parse(args), { onLeft: (e) => e.reason, onRight: (p) => p._tag })

describe("parse", () => {
  it("options before or after the command, in any order, --name value or --name=value; -- ends the options", () => {
    const forms = [
      ["status", "--json", "--codex-home", "/h", "--trust-host", "a", "--trust-host", "b"],
      ["--json", "status", "--codex-home=/h", "--trust-host", "a", "--trust-host=b"],
      ["--trust-host", "a", "--codex-home", "/h", "--trust-host", "b", "--json", "status"]
    ]
    for (const args of forms) {
      const parsed = Either.getOrThrow(parse(args))
      expect(parsed._tag === "Run" && [parsed.command.name, parsed.global]).toEqual([
        "status",
        {
          codexHome: Option.some("/h"),
          baseUrl: Option.none(),
          trustHost: ["a", "b"],
          json: true,
          protocol: Option.none(),
          authapiBaseUrl: Option.none(),
          jwksBaseUrl: Option.none(),
          store: Option.none()
        }
      ])
    }
    const verify = Either.getOrThrow(parse(["verify", "--public-key", "k", "--", "--not-an-option"]))
    expect(verify._tag === "Run" && verify.args).toEqual(["--not-an-option"])
    const stdin = Either.getOrThrow(parse(["import-jwt", "-", "--base-url", "http://x"]))
    expect(stdin._tag === "Run" && stdin.args).toEqual(["-"])
    const level = Either.getOrThrow(parse(["--log-level", "DEBUG", "status"]))
    expect(level._tag === "Run" && level.logLevel).toEqual(Option.some("debug"))
    const label = Either.getOrThrow(parse(["status", "--log-level", "Warn"]))
    expect(label._tag === "Run" && label.logLevel).toEqual(Option.some("warning"))
  })

  it("help and version win wherever they are; no command is the program's help", () => {
    expect(reasonOf(["register", "--bogus", "--help"])).toBe("Help")
    expect(reasonOf(["-h"])).toBe("Help")
    expect(reasonOf([])).toBe("Help")
    expect(reasonOf(["help", "serve"])).toBe("Help")
    expect(reasonOf(["status", "--version"])).toBe("Version")
  })

  it("every usage error names the problem and the help to read", () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["serve", "--port", "abc"], "--port: \"abc\" is not an integer; see `agent-identity serve --help`"],
      [["serve", "--port", "99999"], "--port: 99999 is out of range (0 to 65535); see `agent-identity serve --help`"],
      [["serve", "--port", "-1"], "--port: -1 is out of range (0 to 65535); see `agent-identity serve --help`"],
      [["serve", "--host", ""], "--host is empty; see `agent-identity serve --help`"],
      [["verify", "AgentAssertion x", "--public-key", "k", "--max-skew-seconds", "1.5"], "--max-skew-seconds: \"1.5\" is not an integer; see `agent-identity verify --help`"],
      [["verify", "AgentAssertion x", "--public-key", "k", "--max-skew-seconds", "-5"], "--max-skew-seconds: -5 is out of range (0 to 1000000000); see `agent-identity verify --help`"],
      [["verify", "--public-key", "k"], "verify needs HEADER, the Authorization value, `AgentAssertion <token>`; see `agent-identity verify --help`"],
      [["verify", "AgentAssertion x"], "verify needs --public-key KEY; see `agent-identity verify --help`"],
      [["header", "--no-such-option"], "unknown option --no-such-option; see `agent-identity header --help`"],
      [["header", "--jsn"], "unknown option --jsn (did you mean --json?); see `agent-identity header --help`"],
      [["header", "--port", "1"], "header has no option --port (it is an option of serve); see `agent-identity header --help`"],
      [["header", "--json=yes"], "--json takes no value; see `agent-identity header --help`"],
      [["header", "--codex-home"], "--codex-home needs a value (DIR); see `agent-identity header --help`"],
      [["header", "--codex-home", "--json"], "--codex-home needs a value (DIR); see `agent-identity header --help`"],
      [["header", "--codex-home", ""], "--codex-home is empty; see `agent-identity header --help`"],
      [["header", "--codex-home", "a", "--codex-home", "b"], "--codex-home is given 2 times; give it once; see `agent-identity header --help`"],
      [["header", "extra"], "unexpected argument \"extra\"; see `agent-identity header --help`"],
      [["header", "-x"], "unknown option -x (options are spelled with two dashes, as in --json); see `agent-identity header --help`"],
      [["header", "--trust-host", "https://example.com/"], "--trust-host takes a host, not a URL (did you mean example.com?); see `agent-identity header --help`"],
      [["header", "--trust-host", "127.0.0.1:8080"], "--trust-host takes a host without a port (did you mean 127.0.0.1?); see `agent-identity header --help`"],
      [["header", "--trust-host", "[::1]:8080"], "--trust-host takes a host without a port (did you mean [::1]?); see `agent-identity header --help`"],
      [["header", "--trust-host", "a b"], "--trust-host: \"a b\" is not a host name or address; see `agent-identity header --help`"],
      [["status", "--log-level", "loud"], "--log-level must be one of all, trace, debug, info, warning, error, fatal, none, not \"loud\"; see `agent-identity status --help`"],
      [["statsu"], "unknown command \"statsu\" (did you mean status?); see `agent-identity --help`"],
      [["--jsn"], "unknown option --jsn (did you mean --json?); see `agent-identity --help`"],
      [["help", "nothing"], "unknown command \"nothing\"; see `agent-identity --help`"],
      [["no-such-command"], "unknown command \"no-such-command\"; see `agent-identity --help`"],
      [["login"], "login needs --with-access-token; see `agent-identity login --help`"],
      [["completions"], "completions needs SHELL, bash, zsh or fish; see `agent-identity completions --help`"],
      [["completions", "tcsh"], "SHELL must be one of bash, zsh, fish, not \"tcsh\"; see `agent-identity completions --help`"],
      [["demo", "--codex-home", "/tmp"], "demo does not take --codex-home: demo uses a throwaway CODEX_HOME of its own, never yours; see `agent-identity demo --help`"],
      [["demo", "--trust-host", "x"], "demo does not take --trust-host: demo trusts its own backend only; see `agent-identity demo --help`"],
      [["pool", "list", "--store", "postgres://agent:hunter2@db/fleet"], "--store: a password on the command line is visible to every process on this machine; give it in $PGPASSWORD instead; see `agent-identity pool --help`"],
      [["proxy", "--listen", "127.0.0.1:80"], "proxy needs --store sqlite:PATH or postgres://… (the accounts it signs for); see `agent-identity proxy --help`"],
      [["proxy", "--store", "sqlite:f.db", "--listen", "0.0.0.0:8080"], "--listen: \"0.0.0.0\" is not a loopback address; the proxy signs for whoever reaches it; see `agent-identity proxy --help`"],
      [["proxy", "--store", "sqlite:f.db", "--listen", "8080"], "--listen takes HOST:PORT (e.g. 127.0.0.1:8080), not \"8080\"; see `agent-identity proxy --help`"],
      [["proxy", "--store", "sqlite:f.db", "--listen", "127.0.0.1:70000"], "--listen: 70000 is out of range (0 to 65535); see `agent-identity proxy --help`"]
    ]
    for (const [args, message] of cases) expect({ args, reason: reasonOf(args) }).toEqual({ args, reason: message })
  })

  it("what is accepted: IPv6 hosts, a port of 0 and 65535, every global option on every command except demo's refusals", () => {
    for (const args of [
      ["header", "--trust-host", "::1"],
      ["header", "--trust-host", "[::1]"],
      ["serve", "--port", "0"],
      ["serve", "--port", "65535"],
      ["verify", "AgentAssertion x", "--public-key", "k", "--codex-home", "/h", "--authapi-base-url", "http://x"],
      ["demo", "--protocol", "2026-04", "--json", "--log-level", "info"]
    ]) {
      expect({ args, reason: reasonOf(args) }).toEqual({ args, reason: "Run" })
    }
  })
})

describe("parse: --store, --account and pool", () => {
  const usageOf = (args: ReadonlyArray<string>) => {
    const parsed = parse(args)
    return Either.isLeft(parsed) ? parsed.left.reason : undefined
  }
  it("takes sqlite:PATH or postgres://…, needs --account where a command works on one account, and checks pool's arguments", () => {
    const ok = Either.getOrThrow(parse(["status", "--store", "sqlite:/tmp/f.db", "--account", "acct-1"]))
    expect(ok._tag === "Run" && [ok.global.store, ok.account]).toEqual([Option.some("sqlite:/tmp/f.db"), Option.some("acct-1")])
    const pool = Either.getOrThrow(parse(["pool", "import", "a.json", "b.json", "-", "--store", "postgres://u@h/db"]))
    expect(pool._tag === "Run" && pool.args).toEqual(["import", "a.json", "b.json", "-"])
    expect(usageOf(["status", "--store", "mysql://h/db", "--account", "a"])).toMatch(/^--store takes sqlite:PATH or postgres:/)
    expect(usageOf(["status", "--store", "sqlite:f.db"])).toMatch(/^status with --store needs --account ID/)
    expect(usageOf(["status", "--account", "a"])).toMatch(/^--account chooses an account of a store: give --store too/)
    expect(usageOf(["pool", "list"])).toMatch(/^pool needs --store/)
    expect(usageOf(["pool", "import", "--store", "sqlite:f.db"])).toMatch(/^pool import needs FILE/)
    expect(usageOf(["pool", "revoke", "--store", "sqlite:f.db"])).toMatch(/^pool revoke needs exactly one ACCOUNT/)
    expect(usageOf(["pool", "list", "extra", "--store", "sqlite:f.db"])).toMatch(/^unexpected argument "extra"/)
    expect(usageOf(["pool", "drop", "--store", "sqlite:f.db"])).toMatch(/^ACTION must be one of import, list, revoke/)
    expect(usageOf(["verify", "a", "b", "--public-key", "k"])).toMatch(/^unexpected argument "b"/)
    // Commands that write auth.json or bring their own state refuse a store.
    expect(usageOf(["login", "--with-access-token", "--store", "sqlite:f.db"])).toMatch(/^login does not take --store: a store takes logins with `pool import`/)
    expect(usageOf(["import-jwt", "--store", "sqlite:f.db"])).toMatch(/^import-jwt does not take --store/)
    expect(usageOf(["login", "--with-access-token", "--store", "sqlite:f.db", "--account", "a"])).toMatch(/^login does not take --store/)
  })
})
