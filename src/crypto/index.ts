/**
 * The crypto core: pure, synchronous functions that produce exactly the bytes Codex and the ChatGPT
 * backend produce and expect. Failures are `Either` values carrying a `CryptoFailure`.
 */
export * from "./assertion.js"
export * from "./base64.js"
export * from "./ed25519.js"
export * from "./failure.js"
export * from "./native.js"
export * from "./sealedBox.js"
export * from "./time.js"
