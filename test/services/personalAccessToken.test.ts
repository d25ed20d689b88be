/** PersonalAccessToken.whoami sends only a token that can be one header value. */
import * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Settings from "../../src/Domain/Settings.js"
import * as PersonalAccessToken from "../../src/services/PersonalAccessToken.js"
import { BASE, mockClient } from "../utils/mockHttp.js"

const whoamiBody = { chatgpt_user_id: "user-pat", chatgpt_account_id: "acct-pat", chatgpt_plan_type: "pro", chatgpt_account_is_fedramp: false }

describe("PersonalAccessToken.whoami", () => {
  it.effect("a token with CR/LF, a space or a control character is refused unsent: MalformedToken", () =>
    Effect.gen(function*() {
      const mock = mockClient(() => new Response(JSON.stringify(whoamiBody), { status: 200, headers: { "content-type": "application/json" } }))
      const layer = PersonalAccessToken.layer.pipe(
        Layer.provide(Layer.mergeAll(Settings.layer({ baseUrl: BASE }), Layer.succeed(HttpClient.HttpClient, mock.client)))
      )
      const pat = yield* Effect.provide(PersonalAccessToken.PersonalAccessToken, layer)
      for (const token of ["at-abc\r\nX-Injected: 1", "at-a b", "at-\u0000", ""]) {
        const error = yield* Effect.flip(pat.whoami(Redacted.make(token)))
        expect(error._tag === "LoginUnavailableError" && error.reason).toBe("MalformedToken")
      }
      expect(mock.seen.length).toBe(0)
      // The check lets a well-formed token through: the one request seen carries it.
      const answer = yield* pat.whoami(Redacted.make("at-good"))
      expect(answer).toMatchObject({ chatgpt_account_id: "acct-pat" })
      expect(mock.seen.map((s) => s.request.headers["authorization"])).toEqual(["Bearer at-good"])
    }))
})
