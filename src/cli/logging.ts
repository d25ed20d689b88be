/**
 * CLI logging: off unless AGENT_IDENTITY_LOG_LEVEL is set, always on stderr (stdout is for output),
 * each line escaped (log messages quote errors, which quote servers). A level that is not one of
 * Effect's is a usage error (exit 2), not a defect.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { UsageError } from "./usage.js"
import { escapeControls } from "../Domain/Text.js"

const LEVELS = LogLevel.allLevels.map((level) => level.label.toLowerCase()).join(", ")

export const logging: Layer.Layer<never, UsageError> = Layer.unwrapEffect(
  Effect.map(
    Config.option(Config.logLevel("AGENT_IDENTITY_LOG_LEVEL")).pipe(
      Effect.mapError(() => new UsageError({ reason: `AGENT_IDENTITY_LOG_LEVEL must be one of ${LEVELS} (any case)` }))
    ),
    (level) =>
      Layer.merge(
        Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.map(Logger.logfmtLogger, escapeControls))),
        Logger.minimumLogLevel(Option.getOrElse(level, () => LogLevel.None))
      )
  )
)
