import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as C from "../../src/crypto/index.js"
import { hex, loadVectors, toHex } from "../utils/vectors.js"

const vectors = loadVectors()
const utf8 = new TextEncoder()
let checked = 0
const check = (ok: boolean, what: string) => {
  expect(ok, what).toBe(true)
  checked++
}
const right = <A>(either: Either.Either<A, C.CryptoFailure>): A => {
  if (Either.isLeft(either)) throw new Error(`unexpected failure: ${either.left.reason}`)
  return either.right
}

describe("spec vectors, byte for byte", () => {
  it.each(vectors.seeds.map((v) => [v.name, v] as const))("seed %s", (_, v) => {
    const seed = hex(v.seed_hex)
    const key = C.keyFromSeed(seed)
    check(toHex(key.publicKey) === v.public_key_hex, "public key")

    // PKCS#8: we write v2 exactly as Codex does, and read both forms back to the same key.
    check(toHex(C.encodePkcs8V2(key)) === v.pkcs8_v2_der_hex, "pkcs8 v2 der")
    check(C.encodePrivateKeyBase64(key) === v.pkcs8_v2_base64, "pkcs8 v2 base64")
    check(toHex(C.encodePkcs8V1(key)) === v.pkcs8_der_hex, "pkcs8 v1 der")
    const v1 = right(C.decodePrivateKeyBase64(v.pkcs8_base64))
    const v2 = right(C.decodePrivateKeyBase64(v.pkcs8_v2_base64))
    check(v1.version === 1 && toHex(v1.seed) === v.seed_hex && toHex(v1.publicKey) === v.public_key_hex, "decode v1")
    check(v2.version === 2 && toHex(v2.seed) === v.seed_hex && toHex(v2.publicKey) === v.public_key_hex, "decode v2")

    // SSH public key, blob and fingerprint.
    check(toHex(C.sshPublicKeyBlob(key.publicKey)) === v.ssh_blob_hex, "ssh blob")
    check(C.encodeSshPublicKey(key.publicKey) === v.public_key_ssh, "ssh public key")
    check(toHex(right(C.parseSshPublicKey(v.public_key_ssh))) === v.public_key_hex, "ssh parse")
    check(C.sshFingerprint(key.publicKey) === v.ssh_fingerprint_sha256, "ssh fingerprint")

    // X25519 keys derived from the Ed25519 ones.
    check(toHex(C.x25519SecretFromSeed(seed)) === v.x25519_secret_hex, "x25519 secret")
    check(toHex(C.x25519PublicFromEd25519(key.publicKey)) === v.x25519_public_hex, "x25519 public")

    // Task registration signature and body.
    const task = v.task_registration
    check(new TextDecoder().decode(C.taskRegistrationPayload(task.agent_runtime_id, task.timestamp)) === task.signed_payload, "task payload")
    const taskSignature = C.signTaskRegistration(key, task.agent_runtime_id, task.timestamp)
    check(taskSignature === task.signature, "task signature")
    check(C.verifyTaskRegistration(key.publicKey, task.agent_runtime_id, task.timestamp, task.signature), "task verify")
    check(
      JSON.stringify({ signature: taskSignature, timestamp: task.timestamp }) === task.request_body_json,
      "task body"
    )

    // AgentAssertion: header, token, envelope, and the round trip through the strict parser.
    const a = v.agent_assertion
    const claims = { agentRuntimeId: a.agent_runtime_id, taskId: a.task_id, timestamp: a.timestamp }
    check(new TextDecoder().decode(C.agentAssertionPayload(claims)) === a.signed_payload, "assertion payload")
    check(C.encodeBase64(C.sign(key, utf8.encode(a.signed_payload))) === a.signature, "assertion signature")
    const header = C.buildAgentAssertion(key, claims)
    check(header === a.header, "assertion header")
    check(header === C.AGENT_ASSERTION_PREFIX + a.token, "assertion token")
    check(new TextDecoder().decode(right(C.decodeBase64Url(a.token))) === a.envelope_json, "assertion envelope")
    const parsed = right(C.verifyAgentAssertion(a.header, key.publicKey))
    check(
      parsed.agentRuntimeId === a.agent_runtime_id && parsed.taskId === a.task_id && parsed.timestamp === a.timestamp,
      "assertion verify"
    )

    // Sealed task ids open to their plaintext.
    for (const sealed of v.sealed_task_ids) {
      check(right(C.decodeBase64(sealed.ciphertext_base64)).length === sealed.ciphertext_len, "sealed length")
      check(right(C.openSealedTaskId(sealed.ciphertext_base64, key)) === sealed.plaintext, "sealed open")
    }
  })

  it.each(vectors.negative.pkcs8.map((v) => [v.name, v] as const))("rejects PKCS#8 %s", (_, v) => {
    const result = C.decodePrivateKeyBase64(v.pkcs8_base64)
    check(Either.isLeft(result) && result.left.kind === "InvalidPrivateKey", v.name)
    if (v.der_hex !== undefined) {
      const der = C.decodePkcs8(hex(v.der_hex))
      check(Either.isLeft(der) && der.left.kind === "InvalidPrivateKey", `${v.name} (der)`)
    }
  })

  it.each(vectors.negative.ssh_public_key.map((v) => [v.name, v] as const))("rejects ssh key %s", (_, v) => {
    const result = C.parseSshPublicKey(v.public_key_ssh)
    check(Either.isLeft(result) && result.left.kind === "InvalidPublicKey", v.name)
  })

  it.each(vectors.negative.sealed_box.vectors.map((v) => [v.name, v] as const))("rejects sealed box %s", (_, v) => {
    const recipient = vectors.seeds.find((s) => s.name === vectors.negative.sealed_box.recipient_seed)!
    const result = C.openSealedTaskId(v.ciphertext_base64, C.keyFromSeed(hex(recipient.seed_hex)))
    check(Either.isLeft(result) && result.left.kind === "Decrypt", v.name)
  })

  it.each(vectors.negative.agent_assertion.vectors.map((v) => [v.name, v] as const))("rejects assertion %s", (_, v) => {
    const publicKey = right(C.parseSshPublicKey(vectors.negative.agent_assertion.public_key_ssh))
    check(Either.isLeft(C.verifyAgentAssertion(v.header, publicKey)), v.name)
  })

  it("checked every vector", () => {
    const negatives = vectors.negative.pkcs8.length + vectors.negative.ssh_public_key.length +
      vectors.negative.sealed_box.vectors.length + vectors.negative.agent_assertion.vectors.length
    console.log(`vectors: ${vectors.seeds.length} seeds, ${negatives} negative entries, ${checked} checks`)
    expect(vectors.seeds.length).toBe(4)
    expect(negatives).toBe(33)
    // 22 checks per seed, plus 2 per sealed id; each negative once, PKCS#8 with DER twice.
    const pkcs8WithDer = vectors.negative.pkcs8.filter((v) => v.der_hex !== undefined).length
    const perSeed = vectors.seeds.reduce((n, s) => n + 22 + 2 * s.sealed_task_ids.length, 0)
    expect(checked).toBe(perSeed + negatives + pkcs8WithDer)
  })
})
