/**
 * `--help`, written from the table in `spec.ts`: the program's name in every usage line, every default,
 * which options are optional (in brackets), required or repeatable (`...`), and for a command only the
 * options that matter to it. Styled only when `colour` says so (`style.ts`).
 */
import { VERSION } from "../Domain/Settings.js"
import { accepted, COMMANDS, type CommandSpec, GLOBAL, type OptionSpec, optionNamed, PROGRAM } from "./spec.js"
import { style as makeStyle, type Style } from "./style.js"

/** Words of `text` (or the given pieces, kept whole) in lines of at most `width` characters. */
const wrap = (text: string | ReadonlyArray<string>, width: number): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of (typeof text === "string" ? text.split(/\s+/) : text).filter((w) => w.length > 0)) {
    if (line.length > 0 && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line.length === 0 ? word : `${line} ${word}`
    }
  }
  if (line.length > 0) lines.push(line)
  return lines
}

/** Two columns: names, then their text wrapped beside them. */
const table = (rows: ReadonlyArray<readonly [string, string]>, width: number, s: Style): Array<string> => {
  const left = Math.min(30, Math.max(...rows.map(([name]) => name.length)) + 2)
  return rows.flatMap(([name, text]) => {
    const lines = wrap(text, Math.max(30, width - left - 2))
    const first = name.length + 2 > left ? [`  ${s.bold(name)}`, ...lines.map((l) => `  ${" ".repeat(left)}${l}`)] : [
      `  ${s.bold(name)}${" ".repeat(left - name.length)}${lines[0] ?? ""}`,
      ...lines.slice(1).map((l) => `  ${" ".repeat(left)}${l}`)
    ]
    return first
  })
}

const synopsis = (option: OptionSpec): string => `--${option.name}${option.value === undefined ? "" : ` ${option.value}`}`

const describe = (option: OptionSpec): string => {
  const notes = [
    option.required === true ? "required" : undefined,
    option.repeatable === true ? "repeatable" : undefined,
    option.defaultText === undefined ? undefined : `default: ${option.defaultText}`
  ].filter((n) => n !== undefined)
  return notes.length === 0 ? option.description : `${option.description} (${notes.join("; ")})`
}

const usageOf = (option: OptionSpec): string => {
  const text = synopsis(option)
  return option.required === true ? text : `[${text}]${option.repeatable === true ? "..." : ""}`
}

const heading = (s: Style, text: string) => s.bold(text)

/** The program's help: its commands and the global options. */
export const rootHelp = (colour: boolean, width = 100): string => {
  const s = makeStyle(colour)
  const globals = GLOBAL.map((name) => optionNamed(name)!)
  return [
    ...wrap(`${PROGRAM} ${VERSION}: a cryptographic agent identity with the ChatGPT backend, shared with Codex's auth.json`, width)
      .map((l, i) => i === 0 ? s.bold(l) : l),
    "",
    `${heading(s, "Usage:")} ${PROGRAM} COMMAND [options]`,
    "",
    heading(s, "Commands:"),
    ...table(COMMANDS.map((c) => [c.name, c.summary] as const), width, s),
    "",
    heading(s, "Global options") + " (every command takes them, before or after its name; all optional):",
    ...table([
      ...globals.map((o) => [synopsis(o), describe(o)] as const),
      ["-h, --help", `show help (also \`${PROGRAM} help COMMAND\`)`],
      ["--version", "print the version"]
    ], width, s),
    "",
    ...wrap(
      `New here? \`${PROGRAM} demo\` runs the whole flow; \`${PROGRAM} serve\` starts a backend to try the commands by hand. ` +
        `\`${PROGRAM} COMMAND --help\` shows a command's options.`,
      width
    )
  ].join("\n")
}

/** One command's help: its usage, its arguments and the options that matter to it. */
export const commandHelp = (command: CommandSpec, colour: boolean, width = 100): string => {
  const s = makeStyle(colour)
  const options = command.options.map((name) => optionNamed(name)!)
  const usagePieces = [
    `${PROGRAM} ${command.name}`,
    ...command.args.map((a) => a.optional === true ? `[${a.name}]` : a.name),
    ...options.map(usageOf)
  ]
  const hidden = accepted(command).filter((name) => !command.options.includes(name))
  return [
    ...wrap(`${PROGRAM} ${command.name}: ${command.summary}`, width).map((l, i) => i === 0 ? s.bold(l) : l),
    "",
    `${heading(s, "Usage:")} ${wrap(usagePieces, width - 7).join(`\n${" ".repeat(7)}`)}`,
    ...(command.details === undefined ? [] : ["", ...wrap(command.details.join(" "), width)]),
    ...(command.args.length === 0 ? [] : [
      "",
      heading(s, "Arguments:"),
      ...table(command.args.map((a) => [a.name, a.optional === true ? `${a.description} (optional)` : a.description] as const), width, s)
    ]),
    "",
    heading(s, "Options:"),
    ...table([...options.map((o) => [synopsis(o), describe(o)] as const), ["-h, --help", "show this help"]], width, s),
    "",
    ...wrap(
      "Options may come before or after the command. [Brackets] mark an optional one, ... one that may be repeated." +
        (hidden.length > 0 ? ` It also takes ${hidden.map((h) => `--${h}`).join(", ")}, which change nothing here (see \`${PROGRAM} --help\`).` : "") +
        (command.refuses === undefined
          ? ""
          : ` It refuses ${Object.keys(command.refuses).map((r) => `--${r}`).join(", ")}: ${command.refusal ?? "they do not apply"}.`),
      width
    ),
    ...(command.examples === undefined ? [] : [
      "",
      heading(s, "Examples:"),
      ...command.examples.map((e) => `  ${e.startsWith("curl") ? e : `${PROGRAM} ${e}`}`)
    ])
  ].join("\n")
}
