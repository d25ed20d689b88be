/**
 * Runs the CLI (spec/cli.md): exit 0 on success, 1 on failure with one stderr line `error: <Tag>: <message>`,
 * 2 on a usage error (which names the problem and the help to read). The command line is read and every
 * value checked (`parse.ts`) before auth.json or the network is touched; the commands are loaded on demand,
 * so `header` and `status` load no HTTP module. SIGINT and SIGTERM interrupt the command at once, a wait
 * for the lock included, and the process then exits whatever native call may still be pending.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Progress from "../Domain/Progress.js"
import { VERSION } from "../Domain/Settings.js"
import { escapeControls } from "../Domain/Text.js"
import { commandHelp, rootHelp } from "./help.js"
import { logging } from "./logging.js"
import { printDefect, printError } from "./output.js"
import * as Parse from "./parse.js"
import * as ProgressView from "./progress.js"
import { colourFor } from "./style.js"
import { UsageError } from "./usage.js"

const offline = () => import("./offline.js")
const online = () => import("./online.js")
const settings = () => import("./settings.js")

/** The program of a parsed command line. */
const program = (run: Parse.Run): Effect.Effect<void, unknown> =>
  Effect.gen(function*() {
    const { args, command, global } = run
    const { resolve, resolveProtocolOnly } = yield* Effect.promise(settings)
    const resolved = Effect.suspend(() => resolve(global, command.name, run.account))
    switch (command.name) {
      case "header":
      case "status":
      case "forget": {
        const m = yield* Effect.promise(offline)
        return yield* Effect.flatMap(resolved, m[command.name])
      }
      case "verify": {
        const m = yield* Effect.promise(offline)
        return yield* Effect.flatMap(resolved, (r) => m.verify(r, { header: args[0]!, publicKey: run.publicKey, maxSkewSeconds: run.maxSkewSeconds }))
      }
      case "register":
      case "task": {
        const m = yield* Effect.promise(online)
        return yield* Effect.flatMap(resolved, m[command.name])
      }
      case "login": {
        const m = yield* Effect.promise(online)
        return yield* Effect.flatMap(resolved, m.loginFromStdin)
      }
      case "import-jwt": {
        const m = yield* Effect.promise(online)
        return yield* Effect.flatMap(resolved, (r) => m.importJwt(r, Option.fromNullable(args[0])))
      }
      case "pool": {
        const m = yield* Effect.promise(() => import("./store.js"))
        return yield* Effect.flatMap(resolved, (r) =>
          args[0] === "import" ? m.poolImport(r, args.slice(1)) : args[0] === "list" ? m.poolList(r) : m.poolRevoke(r, args[1]!))
      }
      case "proxy": {
        const m = yield* Effect.promise(() => import("./proxy.js"))
        return yield* Effect.flatMap(resolved, (r) => m.proxy(r, { host: run.host, port: run.port }))
      }
      case "serve": {
        const m = yield* Effect.promise(online)
        return yield* Effect.flatMap(resolveProtocolOnly(global, command.name), (r) => m.serve(r, { host: run.host, port: run.port }))
      }
      case "demo": {
        const m = yield* Effect.promise(online)
        return yield* Effect.flatMap(resolveProtocolOnly(global, command.name), m.demo)
      }
      case "completions": {
        const { script } = yield* Effect.promise(() => import("./completions.js"))
        return yield* Effect.sync(() => void process.stdout.write(script(Parse.shell(args[0]!))))
      }
    }
    return yield* Effect.die(`no handler for ${command.name}`)
  })

/** The exit code of a finished run; prints the one error line. */
export const exitCode = (exit: Exit.Exit<unknown, unknown>, interrupted: boolean, note: (error: unknown) => string = () => ""): number => {
  if (Exit.isSuccess(exit)) return 0
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    printError(failure.value, note(failure.value))
    return failure.value instanceof UsageError ? 2 : 1
  }
  if (Cause.isInterruptedOnly(exit.cause)) return interrupted ? 0 : 1
  printDefect(Cause.squash(exit.cause))
  return 1
}

/** Runs the CLI with `argv` (as `process.argv`) and sets the process's exit code. */
export const run = async (argv: ReadonlyArray<string>): Promise<void> => {
  const parsed = Parse.parse(argv.slice(2))
  if (Either.isLeft(parsed)) {
    printError(parsed.left)
    process.exitCode = 2
    return
  }
  const request = parsed.right
  const width = process.stdout.isTTY === true && (process.stdout.columns ?? 0) > 0 ? Math.max(60, Math.min(120, process.stdout.columns)) : 100
  switch (request._tag) {
    case "Version":
      process.stdout.write(`${VERSION}\n`)
      return
    case "Help":
      process.stdout.write(
        `${request.command === undefined ? rootHelp(colourFor(process.stdout), width) : commandHelp(request.command, colourFor(process.stdout), width)}\n`
      )
      return
  }
  const tracker = ProgressView.make(process.stderr.isTTY === true ? (line) => process.stderr.write(`${line}\n`) : undefined, escapeControls)
  const main = program(request).pipe(Progress.withReporter(tracker.reporter), Effect.provide(logging(request.logLevel)))
  // The failure is reported by `exitCode`, not by the runtime's own log line for a failed fiber.
  const fiber = Effect.runFork(Effect.exit(main))
  let interrupted = false
  const stop = () => {
    interrupted = true
    fiber.unsafeInterruptAsFork(fiber.id())
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  const exit = Exit.flatten(await Effect.runPromise(Fiber.await(fiber)))
  process.off("SIGINT", stop)
  process.off("SIGTERM", stop)
  process.exitCode = exitCode(exit, interrupted, tracker.attemptsNote)
  // Asked to stop: a system call that cannot be cancelled (a stuck read) must not keep us alive.
  if (interrupted) process.exit()
}
