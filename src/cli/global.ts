/** The options every command accepts (their defaults are applied in `settings.ts`). */
import * as Options from "@effect/cli/Options"
export { type Global, resolve, type Resolved } from "./settings.js"

/** `--codex-home`, `--base-url`, `--trust-host` (repeatable), `--json`, `--protocol`, `--authapi-base-url`, `--jwks-base-url`. */
export const options = {
  codexHome: Options.directory("codex-home", { exists: "either" }).pipe(
    Options.withDescription("where auth.json lives (default: $CODEX_HOME, else ~/.codex)"),
    Options.optional
  ),
  baseUrl: Options.text("base-url").pipe(
    Options.withDescription("ChatGPT backend base URL (default: $CHATGPT_BASE_URL, else https://chatgpt.com/backend-api)"),
    Options.optional
  ),
  trustHost: Options.text("trust-host").pipe(
    Options.withDescription("a host to which an AgentAssertion may be sent besides Codex's own (repeatable; also $AGENT_IDENTITY_TRUSTED_HOSTS)"),
    Options.repeated
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print one JSON object on stdout")),
  protocol: Options.text("protocol").pipe(
    Options.withDescription("the protocol generation, 2026-04 or 2026-06 (default: $AGENT_IDENTITY_PROTOCOL, else 2026-06)"),
    Options.optional
  ),
  authapiBaseUrl: Options.text("authapi-base-url").pipe(
    Options.withDescription(
      "2026-06: the AuthAPI base (default: $CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL, else the base URL's ChatGPT environment's)"
    ),
    Options.optional
  ),
  jwksBaseUrl: Options.text("jwks-base-url").pipe(
    Options.withDescription("2026-06: where the Agent Identity JWKS is served (default: $CODEX_AGENT_IDENTITY_JWKS_BASE_URL, else the base URL)"),
    Options.optional
  )
}

