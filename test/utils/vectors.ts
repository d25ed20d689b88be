/** The spec's test vectors, read at run time from `../shared/vectors/agent-identity.json`. */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as path from "node:path"

/** The project root (this file is test/utils/vectors.ts). */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/** Where the shared vectors live, beside the project. */
export const vectorsPath = path.resolve(projectRoot, "../shared/vectors/agent-identity.json")

export interface SeedVector {
  readonly name: string
  readonly seed_hex: string
  readonly public_key_hex: string
  readonly pkcs8_base64: string
  readonly pkcs8_der_hex: string
  readonly pkcs8_v2_base64: string
  readonly pkcs8_v2_der_hex: string
  readonly public_key_ssh: string
  readonly ssh_blob_hex: string
  readonly ssh_fingerprint_sha256: string
  readonly x25519_secret_hex: string
  readonly x25519_public_hex: string
  readonly task_registration: {
    readonly agent_runtime_id: string
    readonly timestamp: string
    readonly signed_payload: string
    readonly signature: string
    readonly request_body_json: string
  }
  readonly agent_assertion: {
    readonly agent_runtime_id: string
    readonly task_id: string
    readonly timestamp: string
    readonly signed_payload: string
    readonly signature: string
    readonly envelope_json: string
    readonly token: string
    readonly header: string
  }
  readonly sealed_task_ids: ReadonlyArray<{
    readonly plaintext: string
    readonly ciphertext_base64: string
    readonly ciphertext_len: number
  }>
}

export interface Vectors {
  readonly seeds: ReadonlyArray<SeedVector>
  readonly negative: {
    readonly pkcs8: ReadonlyArray<{ readonly name: string; readonly pkcs8_base64: string; readonly der_hex?: string }>
    readonly ssh_public_key: ReadonlyArray<{ readonly name: string; readonly public_key_ssh: string }>
    readonly sealed_box: {
      readonly recipient_seed: string
      readonly vectors: ReadonlyArray<{ readonly name: string; readonly ciphertext_base64: string }>
    }
    readonly agent_assertion: {
      readonly public_key_ssh: string
      readonly vectors: ReadonlyArray<{ readonly name: string; readonly header: string }>
    }
  }
  readonly urls: {
    readonly normalize: ReadonlyArray<{
      readonly input: string
      readonly normalized: string
      readonly biscuit_url: string
      readonly register_url: string
      readonly task_register_url: string
    }>
    readonly trusted_by_default: ReadonlyArray<{ readonly base_url: string; readonly trusted: boolean }>
  }
}

/** Loads and returns the vectors file. */
export const loadVectors = (): Vectors => JSON.parse(readFileSync(vectorsPath, "utf8")) as Vectors

/** Hex to bytes. */
export const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, "hex"))

/** Bytes to hex. */
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
