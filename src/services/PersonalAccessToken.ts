/**
 * PersonalAccessToken: the account of a personal access token (`at-…`), which is a Bearer login of its
 * own: `GET {CODEX_AUTHAPI_BASE_URL}/v1/user-auth-credential/whoami` with the token as Bearer answers the
 * user, account, plan and FedRAMP flag. Codex asks at every login and load; so does `login`.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { credentialWhoamiUrl, isHeaderSafeToken } from "../Domain/Endpoints.js"
import { LoginUnavailableError } from "../Domain/Errors.js"
import { Settings } from "../Domain/Settings.js"
import { CredentialWhoami } from "../Domain/Wire.js"
import { type CallError, decodeJsonBody, send } from "../internal/transport.js"

/** The PersonalAccessToken service's operations. */
export interface Service {
  /**
   * The token's account (not retried, as Codex does not retry it). A token that is not one printable header
   * token is refused, unsent: `LoginUnavailableError(MalformedToken)`.
   */
  readonly whoami: (token: Redacted.Redacted<string>) => Effect.Effect<CredentialWhoami, CallError | LoginUnavailableError>
}

/** The PersonalAccessToken service. */
export class PersonalAccessToken extends Context.Tag("effect-agent-identity/PersonalAccessToken")<PersonalAccessToken, Service>() {}

/** The service on the ambient HttpClient. */
export const make = Effect.gen(function*() {
  const settings = yield* Settings
  const client = yield* HttpClient.HttpClient
  const url = credentialWhoamiUrl(settings.userAuthApiBaseUrl)
  const whoami: Service["whoami"] = (token) =>
    !isHeaderSafeToken(Redacted.value(token))
      ? Effect.fail(new LoginUnavailableError({ reason: "MalformedToken" }))
      : send(client, {
        operation: "credential",
        request: HttpClientRequest.get(url).pipe(
          HttpClientRequest.setHeaders({ authorization: `Bearer ${Redacted.value(token)}`, "user-agent": settings.userAgent })
        ),
        timeout: settings.timeouts.register,
        secrets: [token]
      }).pipe(Effect.flatMap(decodeJsonBody(CredentialWhoami, "credential", url)), Effect.withSpan("PersonalAccessToken.whoami"))
  return PersonalAccessToken.of({ whoami })
})

/** The service as a layer. */
export const layer: Layer.Layer<PersonalAccessToken, never, Settings | HttpClient.HttpClient> = Layer.effect(PersonalAccessToken, make)
