/**
 * Runs the CLI: exit 0 on success, 1 on failure with one stderr line `error: <Tag>: <message>`,
 * 2 on a usage error (ours: `error: UsageError: …`). Logs go to stderr and are off unless
 * AGENT_IDENTITY_LOG_LEVEL is set. SIGINT and SIGTERM interrupt the command at once, a wait for the
 * lock included, and the process then exits whatever native call may still be pending.
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as Command from "@effect/cli/Command"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { UsageError } from "./usage.js"
import { VERSION } from "../Domain/Settings.js"
import { app } from "./app.js"
import { logging } from "./logging.js"
import { escapingErrors, printDefect, printError } from "./output.js"

const environment = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

/** The exit code of a finished run; prints the one error line. */
export const exitCode = (exit: Exit.Exit<unknown, unknown>, interrupted: boolean): number => {
  if (Exit.isSuccess(exit)) return 0
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (ValidationError.isValidationError(error)) return ValidationError.isHelpRequested(error) ? 0 : 2
    printError(error)
    return error instanceof UsageError ? 2 : 1
  }
  if (Cause.isInterruptedOnly(exit.cause)) return interrupted ? 0 : 1
  printDefect(Cause.squash(exit.cause))
  return 1
}

/** Runs the CLI with `argv` (as `process.argv`) and sets the process's exit code. */
export const run = async (argv: ReadonlyArray<string>): Promise<void> => {
  const program = Command.run(app, { name: "agent-identity", version: VERSION })(argv).pipe(
    Effect.provide(Layer.merge(environment, logging)),
    (self) => Console.consoleWith((console) => Effect.withConsole(self, escapingErrors(console)))
  )
  const fiber = Effect.runFork(program)
  let interrupted = false
  const stop = () => {
    interrupted = true
    fiber.unsafeInterruptAsFork(fiber.id())
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  process.off("SIGINT", stop)
  process.off("SIGTERM", stop)
  process.exitCode = exitCode(exit, interrupted)
  // Asked to stop: a system call that cannot be cancelled (a stuck read) must not keep us alive.
  if (interrupted) process.exit()
}
