/** The options every command accepts (their defaults are applied in `settings.ts`). */
import * as Options from "@effect/cli/Options"
export { type Global, resolve, type Resolved } from "./settings.js"

/** `--codex-home`, `--base-url`, `--trust-host` (repeatable) and `--json`. */
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
  json: Options.boolean("json").pipe(Options.withDescription("print one JSON object on stdout"))
}

