/**
 * BiscuitMinter: trades the user's access token for a short-lived "human biscuit" bound to one
 * request (method and exact URL): `GET {base}/authenticate_app_v2`, answer in `x-openai-authorization`.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Settings } from "../Domain/Settings.js"
import { newRequestId } from "../crypto/time.js"
import { LoginUnavailableError, ResponseDecodeError } from "../Domain/Errors.js"
import { biscuitUrl, isHeaderSafeToken } from "../Domain/Endpoints.js"
import { type CallError, send } from "../internal/transport.js"

/** The request a biscuit is minted for. */
export interface BiscuitTarget {
  readonly method: string
  readonly url: string
}

/** Errors of a mint; a 401 is an expired login. */
export type MintError = CallError | LoginUnavailableError

/** The BiscuitMinter's operations. */
export interface Service {
  readonly mint: (
    target: BiscuitTarget,
    accessToken: Redacted.Redacted<string>
  ) => Effect.Effect<Redacted.Redacted<string>, MintError>
}

/** The BiscuitMinter service. */
export class BiscuitMinter extends Context.Tag("effect-agent-identity/BiscuitMinter")<BiscuitMinter, Service>() {}

/** The minter on the ambient HttpClient. */
export const make = Effect.gen(function*() {
  const config = yield* Settings
  const client = yield* HttpClient.HttpClient
  const url = biscuitUrl(config.baseUrl)
  const mint: Service["mint"] = (target, accessToken) =>
    Effect.gen(function*() {
      // A token no header can carry is the login's fault, said as such (not a defect of the HTTP stack).
      if (!isHeaderSafeToken(Redacted.value(accessToken))) return yield* new LoginUnavailableError({ reason: "MalformedToken" })
      const request = HttpClientRequest.get(url).pipe(
        HttpClientRequest.setHeaders({
          authorization: `Bearer ${Redacted.value(accessToken)}`,
          "x-request-id": newRequestId(),
          "x-original-method": target.method,
          "x-original-url": target.url,
          "user-agent": config.userAgent
        })
      )
      const reply = yield* send(client, { operation: "biscuit", request, timeout: config.timeouts.biscuit, secrets: [accessToken] }).pipe(
        Effect.catchIf(
          (e) => e._tag === "HttpStatusError" && e.status === 401,
          () => Effect.fail(new LoginUnavailableError({ reason: "Expired" }))
        )
      )
      const biscuit = reply.headers["x-openai-authorization"]
      if (biscuit === undefined) {
        return yield* new ResponseDecodeError({ operation: "biscuit", url, reason: "the response did not include x-openai-authorization" })
      }
      if (!isHeaderSafeToken(biscuit)) {
        return yield* new ResponseDecodeError({ operation: "biscuit", url, reason: "x-openai-authorization is not visible ASCII" })
      }
      return Redacted.make(biscuit)
    }).pipe(Effect.withSpan("BiscuitMinter.mint", { captureStackTrace: false }))
  return BiscuitMinter.of({ mint })
})

/** The minter as a layer. */
export const layer: Layer.Layer<BiscuitMinter, never, Settings | HttpClient.HttpClient> = Layer.effect(BiscuitMinter, make)
