/**
 * Codex's timestamps (RFC 3339, whole seconds, UTC, `Z`, fraction truncated) and request ids
 * (`codex-agent-identity-` + base64url of 16 random bytes).
 */
import { randomBytes } from "@noble/hashes/utils.js"
import * as Either from "effect/Either"
import { encodeBase64Url } from "./base64.js"
import { type CryptoFailure, fail } from "./failure.js"

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/

let lastSecond = Number.NaN
let lastText = ""
let lastMinute = Number.NaN
let minutePrefix = ""
const SECONDS = Array.from({ length: 60 }, (_, s) => `${s < 10 ? "0" : ""}${s}Z`)

/** `YYYY-MM-DDTHH:MM:SSZ` for an epoch time in milliseconds, the fraction truncated. */
export const formatTimestamp = (epochMillis: number): string => {
  // Headers are signed many times a second: format each second once, and each minute's
  // `YYYY-MM-DDTHH:MM:` once (UTC minutes are whole: JavaScript time has no leap seconds).
  const second = Math.floor(epochMillis / 1000)
  if (second !== lastSecond) {
    const minute = Math.floor(second / 60)
    if (minute !== lastMinute) {
      minutePrefix = new Date(minute * 60_000).toISOString().slice(0, 17)
      lastMinute = minute
    }
    lastText = minutePrefix + SECONDS[second - minute * 60]!
    lastSecond = second
  }
  return lastText
}

/** Parses a strict Codex timestamp to epoch seconds; rejects fractions, offsets and impossible dates. */
export const parseTimestamp = (text: string): Either.Either<number, CryptoFailure> => {
  if (!TIMESTAMP.test(text)) return fail("InvalidTimestamp", "timestamp is not RFC 3339 whole seconds with Z")
  const millis = Date.parse(text)
  if (Number.isNaN(millis) || formatTimestamp(millis) !== text) return fail("InvalidTimestamp", "timestamp is not a real date")
  return Either.right(millis / 1000)
}

const REQUEST_ID_PREFIX = "codex-agent-identity-"

/** The request id for 16 given bytes. */
export const requestIdFromBytes = (bytes: Uint8Array): string => REQUEST_ID_PREFIX + encodeBase64Url(bytes)

/** A fresh request id: `codex-agent-identity-` + 22 base64url characters. */
export const newRequestId = (): string => requestIdFromBytes(randomBytes(16))

/** Whether `text` has the shape of a request id. */
export const isRequestId = (text: string): boolean => /^codex-agent-identity-[A-Za-z0-9_-]{21}[AQgw]$/.test(text)

/** Whether a whole-second timestamp is within `maxSkewSeconds` of now, with 1 s of slack for truncation. */
export const withinSkew = (timestampSeconds: number, nowMillis: number, maxSkewSeconds: number): boolean =>
  Math.abs(nowMillis / 1000 - timestampSeconds) <= maxSkewSeconds + 1
