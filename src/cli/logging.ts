/** CLI logging: off unless AGENT_IDENTITY_LOG_LEVEL is set, and always on stderr (stdout is for output). */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"

export const logging = Layer.unwrapEffect(
  Effect.map(
    Config.option(Config.logLevel("AGENT_IDENTITY_LOG_LEVEL")),
    (level) =>
      Layer.merge(
        Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)),
        Logger.minimumLogLevel(Option.getOrElse(level, () => LogLevel.None))
      )
  )
).pipe(Layer.orDie)

/** One line, whatever the message holds. */
export const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, " ").trim()

/** Prints `error: <Tag>: <message>` for a failure value. */
export const printError = (error: unknown) => {
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Error"
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`error: ${tag}: ${oneLine(message)}\n`)
}
