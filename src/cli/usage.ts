/**
 * The CLI's own failure: the command line (or its environment) used wrongly. The CLI exits 2 for it. A
 * plain tagged `Error` (failed with `Effect.fail`): the command line is read (parse.ts) before any Effect
 * runtime is loaded, and on the `header` fast path (fastHeader.ts) none is.
 */

/** A bad option value, a bad AGENT_IDENTITY_LOG_LEVEL, a secret given on argv. Not part of the library's AuthError. */
export class UsageError extends Error {
  readonly _tag = "UsageError"
  override readonly name = "UsageError"
  readonly reason: string
  constructor(args: { readonly reason: string }) {
    super(args.reason)
    this.reason = args.reason
  }
}
