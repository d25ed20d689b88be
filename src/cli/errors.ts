/** The CLI's own failures besides a wrong command line (`UsageError`, in usage.ts): a server that cannot listen. */
import * as Schema from "effect/Schema"

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
