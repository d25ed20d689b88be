/**
 * The ChatGPT backend's addresses: base URL normalisation (Codex's newest rule), the one URL builder
 * per endpoint, runtime ids made safe for a URL path, and the hosts an AgentAssertion may go to. The rules
 * that need no error type live in `Urls` (re-exported here).
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { RuntimeIdError, SettingsError } from "./Errors.js"
import { toSafeJson } from "./Text.js"
import { trimTrailingSlashes, unsafeIdReason } from "./Urls.js"

export {
  authApiBaseFor,
  isHeaderSafeToken,
  isHeaderSafeValue,
  isHttpUrl,
  isTrustedBaseUrl,
  normalizeBaseUrl,
  normalizeHost,
  PRODUCTION_AUTHAPI,
  STAGING_AUTHAPI,
  trimTrailingSlashes,
  unsafeIdReason
} from "./Urls.js"

/**
 * Every path of the protocol, once: the URL builders below and the reference backend's routes use these.
 * `{base}` paths are the ChatGPT backend's, `{authapi}` paths the AuthAPI's; `:id` is the runtime id.
 */
export const PATHS = {
  /** `GET {base}`: the human-biscuit mint (2026-04). */
  biscuit: "/authenticate_app_v2",
  /** `POST {base}` (2026-04) or `{authapi}` (2026-06). */
  register: "/v1/agent/register",
  /** `POST {base}` (2026-04) or `{authapi}` (2026-06). */
  task: "/v1/agent/:id/task/register",
  /** `GET {base}`: the reference backend's protected route. */
  whoami: "/v1/whoami",
  /** `GET {authapi}`: a personal access token's account. */
  credentialWhoami: "/v1/user-auth-credential/whoami",
  /** `GET {jwks base}` for `/backend-api` bases. */
  jwksBackendApi: "/wham/agent-identities/jwks",
  /** `GET {jwks base}` otherwise. */
  jwks: "/agent-identities/jwks"
} as const

/** `GET {base}/authenticate_app_v2`: the human-biscuit mint. */
export const biscuitUrl = (base: string): string => `${trimTrailingSlashes(base)}${PATHS.biscuit}`

/** `POST {base}/v1/agent/register`. */
export const registerUrl = (base: string): string => `${trimTrailingSlashes(base)}${PATHS.register}`

/** An id from the server (`runtime` by default, or `task`), refused unless it is safe in a URL path segment and a header. */
export const validateRuntimeId = (id: string, kind: "runtime" | "task" = "runtime"): Either.Either<string, RuntimeIdError> => {
  const reason = unsafeIdReason(id)
  return reason === undefined
    ? Either.right(id)
    : Either.left(new RuntimeIdError({ reason, runtimeId: describeId(id), ...(kind === "task" ? { kind } : {}) }))
}

/** A task id (from the server, a stored record or a session), refused by the runtime id's rule. */
export const validateTaskId = (id: string): Either.Either<string, RuntimeIdError> => validateRuntimeId(id, "task")

/** `POST {authapi}/v1/agent/register` (2026-06). */
export const authApiRegisterUrl = (authApi: string): string => registerUrl(authApi)

/** Shown in errors: JSON-escaped (so control characters are visible) and cut to 80 characters. */
const describeId = (id: string): string => toSafeJson(id.length > 80 ? `${id.slice(0, 80)}…` : id)

/** `POST {authapi}/v1/agent/{id}/task/register` (2026-06), the id validated and percent-encoded. */
export const authApiTaskRegisterUrl = (authApi: string, agentRuntimeId: string): Either.Either<string, RuntimeIdError> =>
  taskRegisterUrl(authApi, agentRuntimeId)

/** `POST {base}/v1/agent/{id}/task/register`, the id validated and percent-encoded. */
export const taskRegisterUrl = (base: string, agentRuntimeId: string): Either.Either<string, RuntimeIdError> =>
  Either.map(
    validateRuntimeId(agentRuntimeId),
    (id) => `${trimTrailingSlashes(base)}${PATHS.task.replace(":id", encodeURIComponent(id))}`
  )

/** Fails, before any network I/O, when 2026-06 has no AuthAPI base for the base URL. */
export const requireAuthApi = (settings: {
  readonly baseUrl: string
  readonly authApiBaseUrl: Option.Option<string>
}): Either.Either<string, SettingsError> =>
  Option.match(settings.authApiBaseUrl, {
    onSome: Either.right,
    onNone: () =>
      Either.left(
        new SettingsError({
          option: "authApiBaseUrl",
          reason: `is required: the base URL ${settings.baseUrl} is not a ChatGPT production or staging environment ` +
            "(Agent Identity only supports those); give the AuthAPI base with --authapi-base-url or " +
            "CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL"
        })
      )
  })

/** `GET {base}/v1/whoami` on the reference backend: which credential it accepted. */
export const whoamiUrl = (base: string): string => `${trimTrailingSlashes(base)}${PATHS.whoami}`

/** `GET {authapi}/v1/user-auth-credential/whoami`: the account of a personal access token. */
export const credentialWhoamiUrl = (authApi: string): string =>
  `${trimTrailingSlashes(authApi)}${PATHS.credentialWhoami}`

/**
 * Where the Agent Identity JWKS is served. 2026-06: `{base}/wham/agent-identities/jwks` when the base
 * contains `/backend-api`, else `{base}/agent-identities/jwks`. 2026-04 (the first JWKS release) also
 * knew `/api/codex` bases and put others under `/api/codex`.
 */
export const jwksUrl = (base: string, protocol: "2026-04" | "2026-06" = "2026-06"): string => {
  const trimmed = trimTrailingSlashes(base)
  if (trimmed.includes("/backend-api")) return `${trimmed}${PATHS.jwksBackendApi}`
  if (protocol === "2026-06" || trimmed.includes("/api/codex")) return `${trimmed}${PATHS.jwks}`
  return `${trimmed}/api/codex${PATHS.jwks}`
}

