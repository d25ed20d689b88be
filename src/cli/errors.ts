/** The CLI's own failures besides a wrong command line (`UsageError`, in usage.ts): a server that cannot listen. */
import * as Schema from "effect/Schema"

/** `serve` or `proxy` could not listen where it was asked to (the address is in use, or not this machine's). */
export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  host: Schema.String,
  port: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `cannot listen on ${this.host.includes(":") ? `[${this.host}]` : this.host}:${this.port}: ${this.reason}`
  }
}

/**
 * Why a server cannot listen, from the system's code, saying which option changes it: `serve` has `--host` and
 * `--port`, `proxy` one `--listen HOST:PORT`.
 */
export const listenReason = (
  cause: unknown,
  options: { readonly port: string; readonly freePort: string; readonly host: string } = {
    port: "--port",
    freePort: "--port 0",
    host: "--host 127.0.0.1"
  }
): string => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : undefined
  switch (code) {
    case "EADDRINUSE":
      return `the port is in use (EADDRINUSE); choose another with ${options.port}, or ${options.freePort} for a free one`
    case "EACCES":
      return `permission denied (EACCES); ports below 1024 need privileges, choose another with ${options.port}`
    case "EADDRNOTAVAIL":
      return `the address is not one of this machine's (EADDRNOTAVAIL); ${options.host} listens on this machine only`
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `the host name does not resolve (${code})`
  }
  const message = cause instanceof Error ? cause.message : ""
  return message.length > 0 ? message : code ?? "the system refused without saying why"
}
