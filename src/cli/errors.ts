/** The CLI's own failures: a wrong command line (exit 2), and a server that cannot listen. */
import * as Schema from "effect/Schema"

/** The command line was used wrongly (the CLI exits 2): an unknown option, a bad value, a missing argument. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** `serve` could not listen where it was asked to (the address is in use, or not this machine's). */
export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  host: Schema.String,
  port: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `cannot listen on ${this.host.includes(":") ? `[${this.host}]` : this.host}:${this.port}: ${this.reason}`
  }
}
