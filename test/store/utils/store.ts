/** Helpers of the store tests: keys, the account's AuthManager, and searching bytes for secrets. */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Layer from "effect/Layer"
import { randomBytes } from "node:crypto"
import * as Settings from "../../../src/Domain/Settings.js"
import * as Layers from "../../../src/manager/Layers.js"
import * as KeyStore from "../../../src/services/KeyStore.js"

/** A fresh store key: base64 of 32 random bytes. */
export const newKey = (): string => randomBytes(32).toString("base64")

/** The AuthManager of one account's KeyStore, over real HTTP to the reference backend. */
export const accountAuth = (store: KeyStore.Service, baseUrl: string, authApiBaseUrl: string) =>
  Layers.authManager.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        Layer.succeed(KeyStore.KeyStore, store),
        Settings.layer({ baseUrl, authApiBaseUrl, trustedHosts: ["127.0.0.1"], protocol: "2026-06" }),
        NodeHttpClient.layer
      )
    )
  )

/**
 * The byte strings a secret could be stored as: itself, and its base64 and base64url forms at each of the three
 * alignments (the edges trimmed, so a secret inside a longer base64 text is found too).
 */
export const needles = (secret: string | Uint8Array): ReadonlyArray<Buffer> => {
  const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret)
  const out: Array<Buffer> = [bytes]
  for (const shift of [0, 1, 2]) {
    const part = bytes.subarray(shift)
    for (const encoding of ["base64", "base64url"] as const) {
      const text = part.toString(encoding).replace(/=+$/, "")
      if (text.length > 12) out.push(Buffer.from(text.slice(4, -4), "utf8"))
    }
  }
  return out
}

/** The names of the secrets found in `haystack` (none, when nothing leaked). */
export const findSecrets = (haystack: Buffer, secrets: Readonly<Record<string, string | Uint8Array>>): ReadonlyArray<string> =>
  Object.entries(secrets).filter(([, secret]) => needles(secret).some((needle) => haystack.includes(needle))).map(([name]) => name)
