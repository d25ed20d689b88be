/**
 * CLI logging: off unless `--log-level` or AGENT_IDENTITY_LOG_LEVEL asks (the option wins), always on
 * stderr (stdout is for output), each line escaped (log messages quote errors, which quote servers). A
 * level that is not one of Effect's is a usage error (exit 2), not a defect.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { escapeControls } from "../Domain/Text.js"
import type { LOG_LEVELS } from "./spec.js"
import { UsageError } from "./usage.js"

const LEVELS = LogLevel.allLevels.map((level) => level.label.toLowerCase()).join(", ")

const fromName = (name: string): LogLevel.LogLevel => LogLevel.fromLiteral((name[0]!.toUpperCase() + name.slice(1)) as LogLevel.Literal)

/** The logger of a run: `level` from the command line (already checked), else the environment's. */
export const logging = (level: Option.Option<(typeof LOG_LEVELS)[number]>): Layer.Layer<never, UsageError> =>
  Layer.unwrapEffect(
    Effect.map(
      Option.match(level, {
        onSome: (name) => Effect.succeed(Option.some(fromName(name))),
        onNone: () =>
          Config.option(Config.logLevel("AGENT_IDENTITY_LOG_LEVEL")).pipe(
            Effect.mapError(() => new UsageError({ reason: `AGENT_IDENTITY_LOG_LEVEL must be one of ${LEVELS} (any case)` }))
          )
      }),
      (chosen) =>
        Layer.merge(
          Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.map(Logger.logfmtLogger, escapeControls))),
          Logger.minimumLogLevel(Option.getOrElse(chosen, () => LogLevel.None))
        )
    )
  )
