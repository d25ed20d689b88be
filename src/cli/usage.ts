/** The CLI's own failure: the command line (or its environment) used wrongly. The CLI exits 2 for it. */
import * as Schema from "effect/Schema"

/** A bad option value, a bad AGENT_IDENTITY_LOG_LEVEL, a secret given on argv. Not part of the library's AuthError. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}
