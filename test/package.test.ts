/** The package's public entry points, imported by name from the built output as a user would. */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { projectRoot } from "./utils/vectors.js"

describe("package exports", () => {
  it("the services, errors, testing kit and crypto core import by package name", () => {
    const script = `
      import { KeyStore, BiscuitMinter, AgentRegistry, TaskRegistry, AssertionSigner, AuthManager, AuthError,
        InvalidKeyError, BindingMismatchError, HttpStatusError, TransportError, TimeoutError, ResponseDecodeError,
        DecryptError, LoginUnavailableError, KeyStoreError, ForeignIdentityFormatError, RuntimeIdError } from "effect-agent-identity"
      import * as Testing from "effect-agent-identity/testing"
      import * as Crypto from "effect-agent-identity/crypto"
      const tags = [KeyStore.KeyStore, BiscuitMinter.BiscuitMinter, AgentRegistry.AgentRegistry, TaskRegistry.TaskRegistry,
        AssertionSigner.AssertionSigner, AuthManager.AuthManager].map((t) => t.key)
      const errors = [InvalidKeyError, BindingMismatchError, HttpStatusError, TransportError, TimeoutError, ResponseDecodeError,
        DecryptError, LoginUnavailableError, KeyStoreError, ForeignIdentityFormatError, RuntimeIdError].map((e) => e._tag)
      console.log(JSON.stringify({ tags, errors, union: typeof AuthError, testing: typeof Testing.layerAuthManager,
        memory: typeof Testing.KeyStore.layerMemory, crypto: typeof Crypto.buildAgentAssertion }))`
    const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: projectRoot, encoding: "utf8" }))
    expect(out.tags).toEqual([
      "effect-agent-identity/KeyStore",
      "effect-agent-identity/BiscuitMinter",
      "effect-agent-identity/AgentRegistry",
      "effect-agent-identity/TaskRegistry",
      "effect-agent-identity/AssertionSigner",
      "effect-agent-identity/AuthManager"
    ])
    expect(out.errors.length).toBe(11)
    expect(out).toMatchObject({ union: "function", testing: "function", memory: "function", crypto: "function" })
  })
})
