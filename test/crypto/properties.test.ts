/** fast-check properties: round trips, and one flipped bit is always rejected. */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { ed25519 } from "@noble/curves/ed25519.js"
import * as fc from "fast-check"
import * as C from "../../src/crypto/index.js"

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 })
const idArb = fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 })
const timestampArb = fc
  .integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59) })
  .map((millis) => C.formatTimestamp(millis))

const flipBit = (bytes: Uint8Array, bit: number): Uint8Array => {
  const out = Uint8Array.from(bytes)
  out[bit >> 3]! ^= 1 << (bit & 7)
  return out
}

describe("properties", () => {
  it("base64 and base64url round-trip and refuse each other's spelling (padding, alphabet)", () => {
    let alphabetCases = 0
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const b64 = C.encodeBase64(bytes)
      const url = C.encodeBase64Url(bytes)
      expect(Buffer.from(Either.getOrThrow(C.decodeBase64(b64)))).toEqual(Buffer.from(bytes))
      expect(Buffer.from(Either.getOrThrow(C.decodeBase64Url(url)))).toEqual(Buffer.from(bytes))
      if (bytes.length % 3 !== 0) {
        expect(Either.isLeft(C.decodeBase64(b64.replace(/=+$/, "")))).toBe(true)
        expect(Either.isLeft(C.decodeBase64Url(url + "="))).toBe(true)
      }
      if (/[+/]/.test(b64)) {
        alphabetCases++
        expect(Either.isLeft(C.decodeBase64Url(b64.replace(/=+$/, "")))).toBe(true)
        expect(Either.isLeft(C.decodeBase64(url.padEnd(b64.length, "=")))).toBe(true)
      }
    }))
    expect(alphabetCases).toBeGreaterThan(0)
  })

  it("PKCS#8 v1 and v2 round-trip to the same key", () => {
    fc.assert(fc.property(seedArb, (seed) => {
      const key = C.keyFromSeed(seed)
      const v2 = Either.getOrThrow(C.decodePrivateKeyBase64(C.encodePrivateKeyBase64(key)))
      const v1 = Either.getOrThrow(C.decodePkcs8(C.encodePkcs8V1(key)))
      expect(Buffer.from(v2.seed)).toEqual(Buffer.from(seed))
      expect(Buffer.from(v1.publicKey)).toEqual(Buffer.from(key.publicKey))
      expect([v1.version, v2.version]).toEqual([1, 2])
    }))
  })

  it("signing from an expanded key is byte-identical to noble's sign, for any key and message", () => {
    fc.assert(fc.property(seedArb, fc.uint8Array({ maxLength: 300 }), (seed, message) => {
      const key = C.keyFromSeed(seed)
      expect(Buffer.from(C.signExpanded(C.expandKey(key), message))).toEqual(Buffer.from(C.sign(key, message)))
    }), { numRuns: 300 })
  })

  it("the public key OpenSSL derives is noble's, for any seed", () => {
    fc.assert(fc.property(seedArb, (seed) => {
      expect(Buffer.from(C.publicKeyFromSeed(seed))).toEqual(Buffer.from(ed25519.getPublicKey(seed)))
    }), { numRuns: 300 })
  })

  it("SSH public keys round-trip", () => {
    fc.assert(fc.property(seedArb, (seed) => {
      const key = C.keyFromSeed(seed)
      const parsed = Either.getOrThrow(C.parseSshPublicKey(C.encodeSshPublicKey(key.publicKey)))
      expect(Buffer.from(parsed)).toEqual(Buffer.from(key.publicKey))
    }))
  })

  it("assertions round-trip through the strict parser and verify", () => {
    fc.assert(fc.property(seedArb, idArb, idArb, timestampArb, (seed, agentRuntimeId, taskId, timestamp) => {
      const key = C.keyFromSeed(seed)
      const header = C.buildAgentAssertion(key, { agentRuntimeId, taskId, timestamp })
      const parsed = Either.getOrThrow(C.verifyAgentAssertion(header, key.publicKey))
      expect({ ...parsed, signature: undefined }).toEqual({ agentRuntimeId, taskId, timestamp, signature: undefined })
    }), { numRuns: 200 })
  })

  it("the envelope is exactly JSON.stringify of the four fields in byte order, for any strings", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), timestampArb, (agentRuntimeId, taskId, timestamp) => {
      const signature = new Uint8Array(64).fill(agentRuntimeId.length & 0xff)
      const header = C.agentAssertionFromSignature({ agentRuntimeId, taskId, timestamp }, signature)
      const token = Either.getOrThrow(C.decodeBase64Url(header.slice(C.AGENT_ASSERTION_PREFIX.length)))
      expect(new TextDecoder().decode(token)).toBe(
        JSON.stringify({ agent_runtime_id: agentRuntimeId, signature: C.encodeBase64(signature), task_id: taskId, timestamp })
      )
      expect(Buffer.from(C.agentAssertionPayload({ agentRuntimeId, taskId, timestamp })))
        .toEqual(Buffer.from(new TextEncoder().encode(`${agentRuntimeId}:${taskId}:${timestamp}`)))
    }), { numRuns: 300 })
  })

  it("a template writes the same payload and header as the functions above, for any strings", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), fc.array(timestampArb, { minLength: 1, maxLength: 3 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (agentRuntimeId, taskId, timestamps, signature) => {
      const template = C.agentAssertionTemplate(agentRuntimeId, taskId)
      for (const timestamp of timestamps) {
        expect(Buffer.from(template.payload(timestamp))).toEqual(Buffer.from(C.agentAssertionPayload({ agentRuntimeId, taskId, timestamp })))
        expect(template.header(timestamp, signature)).toBe(C.agentAssertionFromSignature({ agentRuntimeId, taskId, timestamp }, signature))
      }
    }), { numRuns: 300 })
  })

  it("flipping any one bit of an assertion token is rejected", () => {
    fc.assert(fc.property(seedArb, fc.nat(), (seed, bitSeed) => {
      const key = C.keyFromSeed(seed)
      const header = C.buildAgentAssertion(key, { agentRuntimeId: "agent-123", taskId: "task-123", timestamp: "2026-04-20T20:08:39Z" })
      const token = Either.getOrThrow(C.decodeBase64Url(header.slice(C.AGENT_ASSERTION_PREFIX.length)))
      const tampered = C.AGENT_ASSERTION_PREFIX + C.encodeBase64Url(flipBit(token, bitSeed % (token.length * 8)))
      expect(Either.isLeft(C.verifyAgentAssertion(tampered, key.publicKey))).toBe(true)
    }), { numRuns: 300 })
  })

  it("flipping any one bit of a sealed box is rejected", () => {
    fc.assert(fc.property(seedArb, fc.string({ minLength: 1, maxLength: 40 }), fc.nat(), (seed, taskId, bitSeed) => {
      const key = C.keyFromSeed(seed)
      const box = Either.getOrThrow(C.decodeBase64(C.sealTaskId(taskId, key.publicKey)))
      const tampered = flipBit(box, bitSeed % (box.length * 8))
      const result = C.openSealedTaskId(C.encodeBase64(tampered), key)
      expect(Either.isLeft(result) && result.left.kind === "Decrypt").toBe(true)
    }), { numRuns: 300 })
  })

  it("node:crypto signs byte-identically to noble and verifies exactly what noble's strict mode verifies", () => {
    fc.assert(fc.property(seedArb, fc.uint8Array({ maxLength: 300 }), fc.nat(), (seed, message, bitSeed) => {
      const key = C.keyFromSeed(seed)
      const signature = C.signNative(key, message)
      expect(Buffer.from(signature)).toEqual(Buffer.from(C.sign(key, message)))
      expect(C.verifyNative(key.publicKey, message, signature)).toBe(true)
      const tampered = flipBit(signature, bitSeed % 512)
      expect(C.verifyNative(key.publicKey, message, tampered)).toBe(C.verify(key.publicKey, message, tampered))
      const cached = C.nativeVerifier(2)
      expect([cached(key.publicKey, message, signature), cached(key.publicKey, message, tampered)])
        .toEqual([true, C.verify(key.publicKey, message, tampered)])
    }), { numRuns: 300 })
  })

  it("node:crypto verification refuses what strict mode refuses: S >= L, non-canonical and small-order keys", () => {
    const key = C.keyFromSeed(new Uint8Array(32).fill(9))
    const message = new TextEncoder().encode("agent-123:task-123:2026-04-20T20:08:39Z")
    const signature = C.signNative(key, message)
    // S + L: the same point equation, a non-canonical scalar.
    let s = 0n
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]!)
    s += ed25519.Point.Fn.ORDER
    const largeS = Uint8Array.from(signature)
    for (let i = 32; i < 64; i++) {
      largeS[i] = Number(s & 0xffn)
      s >>= 8n
    }
    const verifiers = [C.verifyNative, C.nativeVerifier()]
    for (const verify of verifiers) {
      expect(verify(key.publicKey, message, signature)).toBe(true)
      expect(verify(key.publicKey, message, largeS)).toBe(false)
      expect(verify(key.publicKey, message, signature.subarray(0, 63))).toBe(false)
      expect(verify(key.publicKey.subarray(0, 31), message, signature)).toBe(false)
    }
    expect(C.verify(key.publicKey, message, largeS)).toBe(false)
    // Every point of small order (both signs of x), and y >= p: noble's strict mode refuses them as keys,
    // and so must we, whatever the signature (the identity key makes R = SB a "valid" signature for any M).
    const order8 = ed25519.Point.fromHex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
    const torsion = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => order8.multiplyUnsafe(BigInt(i)))
    const smallKeys = torsion.flatMap((point) => {
      const bytes = point.toBytes()
      const flipped = Uint8Array.from(bytes)
      flipped[31]! ^= 0x80
      return [bytes, flipped]
    })
    const nonCanonical = [0, 1, 2, 18].map((n) => {
      const bytes = new Uint8Array(32).fill(0xff)
      bytes[0] = 0xed + n
      bytes[31] = 0x7f
      return bytes
    })
    const identitySignature = Uint8Array.from([...ed25519.Point.BASE.multiply(5n).toBytes(), 5, ...new Uint8Array(31)])
    for (const publicKey of [...smallKeys, ...nonCanonical]) {
      for (const sig of [signature, identitySignature]) {
        expect(C.verify(publicKey, message, sig)).toBe(false)
        for (const verify of verifiers) expect(verify(publicKey, message, sig)).toBe(false)
      }
    }
    expect(smallKeys.filter((k) => !C.acceptablePublicKey(k)).length).toBe(16)
    expect(nonCanonical.some((k) => C.acceptablePublicKey(k))).toBe(false)
  })

  it("the node:crypto sealed-box opener opens what noble seals and refuses any flipped bit", () => {
    fc.assert(fc.property(seedArb, fc.string({ minLength: 1, maxLength: 40 }), fc.nat(), (seed, taskId, bitSeed) => {
      const key = C.keyFromSeed(seed)
      const sealed = C.sealTaskId(taskId, key.publicKey)
      expect(C.openSealedTaskIdNative(sealed, key)).toEqual(Either.right(taskId))
      const box = Either.getOrThrow(C.decodeBase64(sealed))
      const result = C.openSealedTaskIdNative(C.encodeBase64(flipBit(box, bitSeed % (box.length * 8))), key)
      expect(Either.isLeft(result) && result.left.kind === "Decrypt").toBe(true)
    }), { numRuns: 200 })
  })

  it("timestamps are whole seconds, truncated, and parse back", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 0, 1) }), (millis) => {
      const text = C.formatTimestamp(millis)
      expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
      expect(Either.getOrThrow(C.parseTimestamp(text))).toBe(Math.floor(millis / 1000))
    }))
    // Seconds after one another (the same minute, the next, the same second again) as Date writes them.
    fc.assert(fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 0, 1) }), fc.array(fc.integer({ min: -90_000, max: 90_000 }), { maxLength: 8 }), (start, steps) => {
      let millis = start
      for (const step of [0, ...steps]) {
        millis = Math.max(0, millis + step)
        expect(C.formatTimestamp(millis)).toBe(new Date(Math.floor(millis / 1000) * 1000).toISOString().slice(0, 19) + "Z")
      }
    }), { numRuns: 300 })
    expect(Either.isLeft(C.parseTimestamp("2026-02-30T00:00:00Z"))).toBe(true)
    expect(Either.isLeft(C.parseTimestamp("2026-04-20T20:08:39.5Z"))).toBe(true)
    expect(Either.isLeft(C.parseTimestamp("2026-04-20T20:08:39+00:00"))).toBe(true)
  })

  it("request ids have Codex's shape", () => {
    expect(C.requestIdFromBytes(new Uint8Array(16).fill(0xab))).toBe("codex-agent-identity-q6urq6urq6urq6urq6urqw")
    fc.assert(fc.property(fc.constant(null), () => {
      const id = C.newRequestId()
      expect(id.length).toBe(43)
      expect(C.isRequestId(id)).toBe(true)
    }), { numRuns: 50 })
  })
})
