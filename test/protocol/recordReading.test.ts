/**
 * The `agent_identity` record has one reading: `AuthRead.decodeIdentityRecord` (no Schema, so the CLI's
 * `header` fast path can use it) reads every JSON value exactly as the record's Schema decodes it: the
 * same values, the same fields in the same order, and the same values refused.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { AgentIdentityRecord, decodeIdentityRecord } from "../../src/Domain/AuthDocument.js"

const bySchema = Schema.decodeUnknownEither(AgentIdentityRecord)

/** A decoded record with its key revealed, so that two readings compare by value (field order kept). */
const plain = (result: Either.Either<object, unknown>) =>
  Either.match(result, {
    onLeft: () => "refused",
    onRight: (record) =>
      Object.entries(record).map(([key, value]) => [key, Redacted.isRedacted(value) ? `redacted:${Redacted.value(value)}` : value])
  })

const FIELDS = [
  "agent_runtime_id", "agent_private_key", "account_id", "chatgpt_user_id", "email", "plan_type",
  "chatgpt_account_is_fedramp", "task_id", "workspace_id", "registered_at", "background_task_id"
] as const

// Each field absent, or mostly a value of its own type, sometimes null or any other JSON value.
const fieldValue = (name: string) =>
  fc.oneof(
    { weight: 6, arbitrary: name === "chatgpt_account_is_fedramp" ? fc.boolean() : fc.string() },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }
  )
const recordLike = fc.record(
  Object.fromEntries([...FIELDS, "unknown_field"].map((name) => [name, fieldValue(name)])) as Record<string, fc.Arbitrary<unknown>>,
  { requiredKeys: [] }
).map((fields) => {
  // Fields in a shuffled-by-content order: the reading must not depend on the order they are written in.
  const entries = Object.entries(fields)
  return Object.fromEntries(entries.sort(([a], [b]) => (a.length % 3) - (b.length % 3)))
})

describe("decodeIdentityRecord", () => {
  it("reads every record-like value as the Schema decodes it", () => {
    let accepted = 0
    fc.assert(
      fc.property(recordLike, (value) => {
        const expected = plain(bySchema(value))
        if (expected !== "refused") accepted++
        expect(plain(decodeIdentityRecord(value))).toEqual(expected)
      }),
      { numRuns: 2000 }
    )
    // Both outcomes were exercised: the property is not about refusals only.
    expect(accepted).toBeGreaterThan(10)
  })

  it("reads any JSON value as the Schema decodes it", () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
      expect(plain(decodeIdentityRecord(value))).toEqual(plain(bySchema(value)))
    }), { numRuns: 500 })
  })

  it("reads today's record and the seed's with their fields in the record's order, unknown ones left out", () => {
    const stored = {
      zz: 1,
      background_task_id: "task_b",
      registered_at: "2026-04-15T00:00:00Z",
      workspace_id: "account-1",
      agent_private_key: "a2V5",
      agent_runtime_id: "agent_1",
      chatgpt_user_id: null,
      task_id: null
    }
    const read = decodeIdentityRecord(stored)
    expect(plain(read)).toEqual([
      ["agent_runtime_id", "agent_1"],
      ["agent_private_key", "redacted:a2V5"],
      ["workspace_id", "account-1"],
      ["registered_at", "2026-04-15T00:00:00Z"],
      ["background_task_id", "task_b"]
    ])
    expect(plain(decodeIdentityRecord({ ...stored, chatgpt_account_is_fedramp: "true" }))).toBe("refused")
    expect(plain(decodeIdentityRecord({ ...stored, account_id: null }))).toBe("refused")
  })
})
