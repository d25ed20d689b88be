import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as E from "../../src/Domain/Endpoints.js"
import { loadVectors } from "../utils/vectors.js"

const vectors = loadVectors()

describe("endpoints", () => {
  it.each(vectors.urls.normalize.map((v) => [v.input, v] as const))("normalises %s and builds its URLs", (_, v) => {
    const base = E.normalizeBaseUrl(v.input)
    expect(base).toBe(v.normalized)
    expect(E.biscuitUrl(base)).toBe(v.biscuit_url)
    expect(E.registerUrl(base)).toBe(v.register_url)
    expect(Either.getOrThrow(E.taskRegisterUrl(base, "agent-123"))).toBe(v.task_register_url)
  })

  it.each(vectors.urls.trusted_by_default.map((v) => [v.base_url, v] as const))("trust of %s", (_, v) => {
    expect(E.isTrustedBaseUrl(v.base_url)).toBe(v.trusted)
  })

  it("added hosts are trusted on any scheme; userinfo and unparseable URLs never are", () => {
    expect(E.isTrustedBaseUrl("http://127.0.0.1:8080/backend-api", ["127.0.0.1"])).toBe(true)
    expect(E.isTrustedBaseUrl("http://[::1]:8080/backend-api", ["::1"])).toBe(true)
    expect(E.isTrustedBaseUrl("http://LocalHost:1/x", ["localhost"])).toBe(true)
    expect(E.isTrustedBaseUrl("https://chatgpt.com@evil.example/backend-api")).toBe(false)
    expect(E.isTrustedBaseUrl("https://user:pw@chatgpt.com/backend-api")).toBe(false)
    expect(E.isTrustedBaseUrl("http://chatgpt.com/backend-api")).toBe(false)
    expect(E.isTrustedBaseUrl("https://chatgpt.com./backend-api")).toBe(false)
    expect(E.isTrustedBaseUrl("not a url")).toBe(false)
  })

  it("runtime ids: safe ones are percent-encoded into the path, unsafe ones refused", () => {
    expect(Either.getOrThrow(E.taskRegisterUrl("http://h/b", "agent_Ab-9.~"))).toBe("http://h/b/v1/agent/agent_Ab-9.~/task/register")
    expect(Either.getOrThrow(E.taskRegisterUrl("http://h/b", "a%b:c"))).toBe("http://h/b/v1/agent/a%25b%3Ac/task/register")
    for (const id of ["", ".", "..", "a/b", "a\\b", "a?b", "a#b", "a b", "a\tb", "a\u0085b", "a\u007fb", "x".repeat(257)]) {
      const result = E.taskRegisterUrl("http://h/b", id)
      expect(Either.isLeft(result) && result.left._tag).toBe("RuntimeIdError")
    }
    expect(Either.isRight(E.validateRuntimeId("x".repeat(256)))).toBe(true)
  })
})
