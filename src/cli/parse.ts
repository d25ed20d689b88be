/**
 * The command line, read the way people expect (clig.dev): options before or after the command, in any
 * order, as `--name value` or `--name=value`; `--` ends the options; `-h`/`--help`, `help COMMAND` and
 * `--version` anywhere. Values are checked here, before any file or network is touched; every mistake is
 * a `UsageError` (exit 2) that names the problem and the help to read. Pure: no I/O.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { UsageError } from "./usage.js"
import type { Global } from "./settings.js"
import { accepted, COMMANDS, type CommandSpec, commandNamed, LOG_LEVELS, OPTIONS, optionNamed, PROGRAM, SHELLS } from "./spec.js"

/** What the command line asks for. */
export type Parsed =
  | { readonly _tag: "Help"; readonly command: CommandSpec | undefined }
  | { readonly _tag: "Version" }
  | Run

/** A command to run, with every value checked. */
export interface Run {
  readonly _tag: "Run"
  readonly command: CommandSpec
  readonly args: ReadonlyArray<string>
  readonly global: Global
  readonly logLevel: Option.Option<(typeof LOG_LEVELS)[number]>
  /** `serve`'s. */
  readonly host: string
  readonly port: number
  /** With `--store`: the account a command works on. */
  readonly account: Option.Option<string>
  /** `verify`'s. */
  readonly publicKey: string
  readonly maxSkewSeconds: number
}

/** The options given: each valued one with its values in order, each flag once. */
export interface Options {
  readonly values: ReadonlyMap<string, ReadonlyArray<string>>
  readonly flags: ReadonlySet<string>
}

/** The last value of an option, if given. */
export const value = (options: Options, name: string): string | undefined => options.values.get(name)?.at(-1)

/** A UsageError that says where to read more. */
export const usage = (command: CommandSpec | undefined, text: string): UsageError =>
  new UsageError({ reason: `${text}; see \`${PROGRAM}${command === undefined ? "" : ` ${command.name}`} --help\`` })

/** Levenshtein distance, for "did you mean". */
const distance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

const suggest = (word: string, candidates: ReadonlyArray<string>, prefix = ""): string => {
  const best = candidates
    .map((candidate) => ({ candidate, d: candidate.startsWith(word) && word.length >= 3 ? 0 : distance(word, candidate) }))
    .filter(({ candidate, d }) => d <= Math.min(2, Math.floor(candidate.length / 3)))
    .sort((x, y) => x.d - y.d)[0]
  return best === undefined ? "" : ` (did you mean ${prefix}${best.candidate}?)`
}

/** Text given by the user, quoted for an error line (cut: it may be long, or a secret pasted by mistake). */
export const quoted = (text: string): string => JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text)

/** Reads `args` (argv without node and the script). */
export const parse = (args: ReadonlyArray<string>): Either.Either<Parsed, UsageError> => {
  let commandName: string | undefined
  let help = false
  let version = false
  const positionals: Array<string> = []
  const values = new Map<string, Array<string>>()
  const flags = new Set<string>()
  const given: Array<string> = []
  let problem: ((command: CommandSpec | undefined) => UsageError) | undefined
  const fail = (make: (command: CommandSpec | undefined) => UsageError) => {
    problem ??= make
  }

  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") {
      for (const rest of args.slice(i + 1)) {
        if (commandName === undefined) commandName = rest
        else positionals.push(rest)
      }
      break
    }
    if (arg === "-h" || arg === "--help") {
      help = true
      continue
    }
    if (arg.startsWith("--")) {
      const equals = arg.indexOf("=")
      const name = arg.slice(2, equals < 0 ? undefined : equals)
      const inline = equals < 0 ? undefined : arg.slice(equals + 1)
      const option = optionNamed(name)
      if (option === undefined || name === "help") {
        fail((command) =>
          usage(command, `unknown option --${name}${suggest(name, command === undefined ? OPTIONS.map((o) => o.name) : [...accepted(command), "help"], "--")}`)
        )
        continue
      }
      if (name === "version") {
        version = true
        continue
      }
      if (option.value === undefined) {
        if (inline !== undefined) fail((command) => usage(command, `--${name} takes no value`))
        flags.add(name)
        given.push(name)
        continue
      }
      let text = inline
      if (text === undefined) {
        const next = args[i + 1]
        // A value may start with one dash (a negative number, `-` for stdin), never with two.
        if (next !== undefined && !next.startsWith("--")) {
          text = next
          i++
        }
      }
      if (text === undefined) {
        fail((command) => usage(command, `--${name} needs a value (${option.value})`))
        continue
      }
      values.set(name, [...(values.get(name) ?? []), text])
      given.push(name)
      continue
    }
    if (arg.startsWith("-") && arg !== "-") {
      fail((command) => usage(command, `unknown option ${arg} (options are spelled with two dashes, as in --json)`))
      continue
    }
    if (commandName === undefined) commandName = arg
    else positionals.push(arg)
  }

  if (version) return Either.right({ _tag: "Version" })
  if (commandName === "help") {
    const topic = positionals[0]
    if (topic === undefined) return Either.right({ _tag: "Help", command: undefined })
    const command = commandNamed(topic)
    return command === undefined
      ? Either.left(usage(undefined, `unknown command ${quoted(topic)}${suggest(topic, COMMANDS.map((c) => c.name))}`))
      : Either.right({ _tag: "Help", command })
  }
  const command = commandName === undefined ? undefined : commandNamed(commandName)
  if (commandName !== undefined && command === undefined) {
    if (help) return Either.right({ _tag: "Help", command: undefined })
    return Either.left(usage(undefined, `unknown command ${quoted(commandName)}${suggest(commandName, COMMANDS.map((c) => c.name))}`))
  }
  // Asked for help: the help, whatever else is wrong.
  if (help || command === undefined) {
    if (command === undefined && problem !== undefined && !help) return Either.left(problem(undefined))
    return Either.right({ _tag: "Help", command })
  }
  if (problem !== undefined) return Either.left(problem(command))

  const accepts = accepted(command)
  for (const name of new Set(given)) {
    const refused = command.refuses?.[name]
    if (refused !== undefined) return Either.left(usage(command, `${command.name} does not take --${name}: ${refused}`))
    if (!accepts.includes(name)) {
      const owners = COMMANDS.filter((c) => c.options.includes(name)).map((c) => c.name)
      return Either.left(usage(command, `${command.name} has no option --${name}${owners.length > 0 ? ` (it is an option of ${owners.join(", ")})` : ""}`))
    }
    const option = optionNamed(name)!
    const count = values.get(name)?.length ?? 0
    if (count > 1 && option.repeatable !== true) return Either.left(usage(command, `--${name} is given ${count} times; give it once`))
  }
  for (const name of command.options) {
    const option = optionNamed(name)!
    if (option.required === true && !values.has(name) && !flags.has(name)) {
      return Either.left(usage(command, `${command.name} needs --${name}${option.value === undefined ? "" : ` ${option.value}`}`))
    }
  }
  const required = command.args.filter((a) => a.optional !== true)
  if (positionals.length < required.length) {
    const missing = required[positionals.length]!
    return Either.left(usage(command, `${command.name} needs ${missing.name}, ${missing.description}`))
  }
  if (positionals.length > command.args.length && command.args.at(-1)?.variadic !== true) {
    return Either.left(usage(command, `unexpected argument ${quoted(positionals[command.args.length]!)}`))
  }
  for (const [index, arg] of command.args.entries()) {
    const text = positionals[index]
    if (text !== undefined && arg.choices !== undefined && !arg.choices.includes(text)) {
      return Either.left(usage(command, `${arg.name} must be one of ${arg.choices.join(", ")}, not ${quoted(text)}`))
    }
  }
  return check(command, { values, flags }, positionals)
}

/** The values of a command line, each checked; the global options as `settings.ts` takes them. */
const check = (command: CommandSpec, options: Options, args: ReadonlyArray<string>): Either.Either<Parsed, UsageError> =>
  Either.gen(function*() {
    const trustHost: Array<string> = []
    for (const text of options.values.get("trust-host") ?? []) trustHost.push(yield* host(command, "trust-host", text))
    const codexHome = value(options, "codex-home")
    if (codexHome !== undefined && codexHome.trim().length === 0) return yield* Either.left(usage(command, "--codex-home is empty"))
    const level = value(options, "log-level")
    const store = value(options, "store")
    if (store !== undefined && !/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(store.trim())) {
      return yield* Either.left(usage(command, "--store takes sqlite:PATH or postgres://user@host:port/database"))
    }
    if (store !== undefined && /^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(store.trim())) {
      return yield* Either.left(usage(
        command,
        "--store: a password on the command line is visible to every process on this machine; give it in $PGPASSWORD instead"
      ))
    }
    if (value(options, "account") !== undefined && store === undefined) {
      return yield* Either.left(usage(command, "--account chooses an account of a store: give --store too"))
    }
    if (store !== undefined && command.options.includes("account") && value(options, "account") === undefined) {
      return yield* Either.left(usage(command, `${command.name} with --store needs --account ID (pool list shows the accounts)`))
    }
    if (command.name === "pool") {
      const problem = args[0] === "import" && args.length < 2
        ? "pool import needs FILE... (- for stdin)"
        : args[0] === "list" && args.length > 1
        ? `unexpected argument ${quoted(args[1]!)}`
        : args[0] === "revoke" && args.length !== 2
        ? "pool revoke needs exactly one ACCOUNT"
        : store === undefined
        ? "pool needs --store sqlite:PATH or postgres://…"
        : undefined
      if (problem !== undefined) return yield* Either.left(usage(command, problem))
    }
    if (command.name === "proxy" && store === undefined) {
      return yield* Either.left(usage(command, "proxy needs --store sqlite:PATH or postgres://… (the accounts it signs for)"))
    }
    const listening = command.name === "proxy" ? yield* listen(command, value(options, "listen") ?? "127.0.0.1:0") : undefined
    const option = (name: string) => Option.fromNullable(value(options, name))
    return {
      _tag: "Run" as const,
      command,
      args,
      global: {
        codexHome: Option.fromNullable(codexHome),
        baseUrl: option("base-url"),
        trustHost,
        json: options.flags.has("json"),
        protocol: option("protocol"),
        authapiBaseUrl: option("authapi-base-url"),
        jwksBaseUrl: option("jwks-base-url"),
        store: option("store")
      },
      account: option("account"),
      logLevel: level === undefined ? Option.none() : Option.some(yield* logLevel(command, level)),
      host: listening?.host ?? (yield* host(command, "host", value(options, "host") ?? "127.0.0.1")),
      port: listening?.port ?? (yield* port(command, value(options, "port") ?? "0")),
      publicKey: value(options, "public-key") ?? "",
      maxSkewSeconds: yield* integer(command, "max-skew-seconds", value(options, "max-skew-seconds") ?? "300", 0, 1e9)
    }
  })

// Values: each check names the option and says what it expects.

/** A whole number from `min` to `max`. */
export const integer = (command: CommandSpec, name: string, text: string, min: number, max: number): Either.Either<number, UsageError> => {
  if (!/^-?\d+$/.test(text.trim())) return Either.left(usage(command, `--${name}: ${quoted(text)} is not an integer`))
  const n = Number(text.trim())
  return n < min || n > max
    ? Either.left(usage(command, `--${name}: ${n} is out of range (${min} to ${max})`))
    : Either.right(n)
}

/** `--listen HOST:PORT` (`[::1]:PORT` for IPv6): a loopback address, since whoever reaches the proxy is signed for. */
export const listen = (command: CommandSpec, text: string): Either.Either<{ readonly host: string; readonly port: number }, UsageError> => {
  const match = /^(\[[^\]]+\]|[^:[\]]+):(\d+)$/.exec(text.trim())
  if (match === null) return Either.left(usage(command, `--listen takes HOST:PORT (e.g. 127.0.0.1:8080), not ${quoted(text)}`))
  const address = match[1]!.replace(/^\[|\]$/g, "")
  if (!(address === "localhost" || address === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address))) {
    return Either.left(usage(command, `--listen: ${quoted(address)} is not a loopback address; the proxy signs for whoever reaches it`))
  }
  return Either.map(integer(command, "listen", match[2]!, 0, 65535), (p) => ({ host: address, port: p }))
}

/** A TCP port. */
export const port = (command: CommandSpec, text: string) => integer(command, "port", text, 0, 65535)

/** A host name or address: no scheme, no port, no path. */
export const host = (command: CommandSpec, name: string, text: string): Either.Either<string, UsageError> => {
  const trimmed = text.trim()
  if (trimmed.length === 0) return Either.left(usage(command, `--${name} is empty`))
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    let hostname = ""
    try {
      hostname = new URL(trimmed).hostname
    } catch {
      // Not a URL either: no suggestion.
    }
    return Either.left(usage(command, `--${name} takes a host, not a URL${hostname === "" ? "" : ` (did you mean ${hostname}?)`}`))
  }
  const bracketed = /^\[([^\]]+)\](:\d+)?$/.exec(trimmed)
  const colons = (trimmed.match(/:/g) ?? []).length
  if ((bracketed !== null && bracketed[2] !== undefined) || (bracketed === null && colons === 1)) {
    const bare = bracketed !== null ? `[${bracketed[1]}]` : trimmed.split(":")[0]
    return Either.left(usage(command, `--${name} takes a host without a port (did you mean ${bare}?)`))
  }
  if (/[\s/?#@]/.test(trimmed)) return Either.left(usage(command, `--${name}: ${quoted(text)} is not a host name or address`))
  return Either.right(trimmed)
}

/** Effect's own labels of two levels, accepted beside the names help lists. */
const LEVEL_LABELS: Readonly<Record<string, (typeof LOG_LEVELS)[number]>> = { warn: "warning", off: "none" }

/** A log level of Effect's, in any case: a name help lists, or Effect's label (`warn`, `off`). */
export const logLevel = (command: CommandSpec | undefined, text: string): Either.Either<(typeof LOG_LEVELS)[number], UsageError> => {
  const lower = text.trim().toLowerCase()
  const name = LEVEL_LABELS[lower] ?? lower
  return (LOG_LEVELS as ReadonlyArray<string>).includes(name)
    ? Either.right(name as (typeof LOG_LEVELS)[number])
    : Either.left(usage(command, `--log-level must be one of ${LOG_LEVELS.join(", ")}, not ${quoted(text)}`))
}

/** A shell completions are written for. */
export const shell = (text: string): (typeof SHELLS)[number] => text as (typeof SHELLS)[number]
