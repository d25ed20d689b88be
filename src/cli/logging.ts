/**
 * CLI logging: off unless `--log-level` or AGENT_IDENTITY_LOG_LEVEL asks (the option wins), and always on
 * stderr (stdout is for output). A level that is not one of Effect's is a usage error (exit 2), not a defect.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { UsageError } from "./errors.js"
import { LOG_LEVELS } from "./spec.js"

const fromLabel = (label: string): LogLevel.LogLevel => LogLevel.fromLiteral((label[0]!.toUpperCase() + label.slice(1)) as LogLevel.Literal)

/** The logger of a run: `level` from the command line (a checked label), else the environment's. */
export const logging = (level: Option.Option<(typeof LOG_LEVELS)[number]>): Layer.Layer<never, UsageError> =>
  Layer.unwrapEffect(
    Effect.map(
      Option.match(level, {
        onSome: (label) => Effect.succeed(Option.some(fromLabel(label))),
        onNone: () =>
          Config.option(Config.logLevel("AGENT_IDENTITY_LOG_LEVEL")).pipe(
            Effect.mapError(() => new UsageError({ reason: `AGENT_IDENTITY_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")} (any case)` }))
          )
      }),
      (chosen) =>
        Layer.merge(
          Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)),
          Logger.minimumLogLevel(Option.getOrElse(chosen, () => LogLevel.None))
        )
    )
  )
