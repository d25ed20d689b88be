/**
 * The fast path of `header` and `status`, the commands a script calls before each request: with only
 * the plain global options, they run without loading @effect/cli's parser. Anything else (`--help`,
 * `--opt=value`, an unknown option) returns false and the full CLI handles it, so behaviour is the same.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { UsageError } from "./usage.js"
import { logging } from "./logging.js"
import { printDefect, printError } from "./output.js"
import * as Offline from "./offline.js"
import { type Global, resolve } from "./settings.js"

const VALUED = new Set(["--codex-home", "--base-url", "--trust-host", "--protocol", "--authapi-base-url", "--jwks-base-url"])

/** The global options of `args`, when they are all plain; None otherwise. */
export const parsePlain = (args: ReadonlyArray<string>): Option.Option<Global> => {
  const single = new Map<string, string>()
  const trustHost: Array<string> = []
  let json = false
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--json") {
      if (json) return Option.none()
      json = true
      continue
    }
    const value = args[i + 1]
    if (!VALUED.has(arg) || value === undefined || value.startsWith("-")) return Option.none()
    i++
    if (arg === "--trust-host") trustHost.push(value)
    else if (!single.has(arg)) single.set(arg, value)
    else return Option.none()
  }
  const option = (name: string) => Option.fromNullable(single.get(name))
  return Option.some({
    codexHome: option("--codex-home"),
    baseUrl: option("--base-url"),
    trustHost,
    json,
    protocol: option("--protocol"),
    authapiBaseUrl: option("--authapi-base-url"),
    jwksBaseUrl: option("--jwks-base-url")
  })
}

/** Runs `header` or `status` directly when `argv` allows; false when the full CLI must handle it. */
export const runFast = async (argv: ReadonlyArray<string>): Promise<boolean> => {
  const [command, ...rest] = argv.slice(2)
  if (command !== "header" && command !== "status") return false
  const global = parsePlain(rest)
  if (Option.isNone(global)) return false
  const run = command === "header" ? Offline.header : Offline.status
  const exit = await Effect.runPromiseExit(Effect.flatMap(resolve(global.value), run).pipe(Effect.provide(logging)))
  if (Exit.isSuccess(exit)) return true
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) printError(failure.value)
  else printDefect(Cause.squash(exit.cause))
  process.exitCode = Option.isSome(failure) && failure.value instanceof UsageError ? 2 : 1
  return true
}
