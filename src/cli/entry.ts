#!/usr/bin/env node
/** The `agent-identity` command. */
import { run } from "./main.js"

await run(process.argv)
