/**
 * The one failure value of the crypto core. Pure functions return `Either<A, CryptoFailure>`;
 * the service layer turns `kind` into the matching tagged error. `reason` never holds key material.
 */
import * as Data from "effect/Data"
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

/** A rejection by the crypto core, with a specific human-readable reason. */
export class CryptoFailure extends Data.TaggedError("CryptoFailure")<{
  readonly kind: CryptoFailureKind
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}

/** Shorthand for a failed `Either` carrying a `CryptoFailure`. */
export const fail = (kind: CryptoFailureKind, reason: string): Either.Either<never, CryptoFailure> =>
  Either.left(new CryptoFailure({ kind, reason }))
