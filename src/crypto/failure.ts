/**
 * The one failure value of the crypto core. Pure functions return `Either<A, CryptoFailure>`;
 * the service layer turns `kind` into the matching tagged error. `reason` never holds key material.
 * A plain tagged `Error`, not a `Data` one: the crypto core loads no Effect runtime (the CLI's `header`
 * fast path signs with it before any is loaded), only the `Either` it returns.
 */
import * as Either from "effect/Either"

/** What went wrong, coarse enough to pick a tagged error from. */
export type CryptoFailureKind =
  | "InvalidBase64"
  | "InvalidPrivateKey"
  | "InvalidPublicKey"
  | "InvalidSignature"
  | "InvalidAssertion"
  | "InvalidTimestamp"
  | "Decrypt"

/** A rejection by the crypto core, with a specific human-readable reason (its `message`). */
export class CryptoFailure extends Error {
  readonly _tag = "CryptoFailure"
  override readonly name = "CryptoFailure"
  readonly kind: CryptoFailureKind
  readonly reason: string
  constructor(args: { readonly kind: CryptoFailureKind; readonly reason: string }) {
    super(args.reason)
    this.kind = args.kind
    this.reason = args.reason
  }
}

/** Shorthand for a failed `Either` carrying a `CryptoFailure`. */
export const fail = (kind: CryptoFailureKind, reason: string): Either.Either<never, CryptoFailure> =>
  Either.left(new CryptoFailure({ kind, reason }))
