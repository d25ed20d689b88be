/**
 * A parsed agent key. Its secret half is reachable only through `keyMaterial`, which only the library's
 * signing code calls; printing an `AgentKey` (string, JSON or inspect) shows only its public key.
 */
import * as Redacted from "effect/Redacted"
import { type Ed25519Key, encodePrivateKeyBase64, encodeSshPublicKey } from "../crypto/ed25519.js"

const material = Symbol.for("effect-agent-identity/AgentKey/material")

/** A parsed agent key. */
export class AgentKey {
  /** `ssh-ed25519 …`, as registered. */
  readonly publicKeySsh: string
  /** @internal */
  readonly [material]: Ed25519Key
  constructor(key: Ed25519Key) {
    this[material] = key
    this.publicKeySsh = encodeSshPublicKey(key.publicKey)
  }
  /** The raw 32-byte public key. */
  get publicKey(): Uint8Array {
    return this[material].publicKey
  }
  /** The stored form (PKCS#8 v2, base64), redacted. */
  get privateKey(): Redacted.Redacted<string> {
    return Redacted.make(encodePrivateKeyBase64(this[material]))
  }
  toString(): string {
    return `AgentKey(${this.publicKeySsh})`
  }
  toJSON(): unknown {
    return { _id: "AgentKey", publicKeySsh: this.publicKeySsh }
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString()
  }
}

/** The key material of an `AgentKey`, for this library's signers. @internal */
export const keyMaterial = (key: AgentKey): Ed25519Key => key[material]

