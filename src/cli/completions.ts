/**
 * Shell completion scripts for bash, zsh and fish, written from the table in `spec.ts`: commands, the
 * options that matter to each (globals also before the command), and values where there is a known set
 * (`--protocol`, `--log-level`, a shell) or a kind (a directory for `--codex-home`).
 */
import { COMMANDS, type CommandSpec, GLOBAL, type OptionSpec, optionNamed, PROGRAM, type SHELLS } from "./spec.js"

const FUNCTION = `_${PROGRAM.replace(/-/g, "_")}`
const valued = () => [...new Set([...GLOBAL, ...COMMANDS.flatMap((c) => c.options)])].map((n) => optionNamed(n)!).filter((o) => o.value !== undefined)
const optionsOf = (command: CommandSpec) => command.options.map((n) => optionNamed(n)!)
const globals = () => GLOBAL.map((n) => optionNamed(n)!)

const bash = (): string => {
  const valueCases = valued().map((o) => {
    const reply = o.choices !== undefined
      ? `COMPREPLY=( $(compgen -W "${o.choices.join(" ")}" -- "$cur") )`
      : o.complete === "directory"
      ? `COMPREPLY=( $(compgen -d -- "$cur") )`
      : "COMPREPLY=()"
    return `    --${o.name}) ${reply}; return ;;`
  })
  const commandCases = COMMANDS.map((c) => {
    const words = [...optionsOf(c).map((o) => `--${o.name}`), "--help"].join(" ")
    const arg = c.args[0]
    const positional = arg?.choices !== undefined
      ? `      if [[ "$cur" != -* ]]; then COMPREPLY=( $(compgen -W "${arg.choices.join(" ")}" -- "$cur") ); return; fi\n`
      : ""
    return `    ${c.name})\n${positional}      opts="${words}" ;;`
  })
  return [
    `# bash completion for ${PROGRAM}: \`source <(${PROGRAM} completions bash)\`, or save it as`,
    `# ~/.local/share/bash-completion/completions/${PROGRAM}`,
    `${FUNCTION}() {`,
    `  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" command="" opts="" i`,
    `  case "$prev" in`,
    ...valueCases,
    `  esac`,
    `  for (( i=1; i < COMP_CWORD; i++ )); do`,
    `    case "\${COMP_WORDS[i]}" in`,
    `      ${valued().map((o) => `--${o.name}`).join("|")}) (( i++ )) ;;`,
    `      -*) ;;`,
    `      *) command="\${COMP_WORDS[i]}"; break ;;`,
    `    esac`,
    `  done`,
    `  case "$command" in`,
    `    "")`,
    `      if [[ "$cur" == -* ]]; then opts="${[...globals().map((o) => `--${o.name}`), "--help", "--version"].join(" ")}"`,
    `      else opts="${[...COMMANDS.map((c) => c.name), "help"].join(" ")}"; fi ;;`,
    `    help) opts="${COMMANDS.map((c) => c.name).join(" ")}" ;;`,
    ...commandCases,
    `  esac`,
    `  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )`,
    `}`,
    `complete -F ${FUNCTION} ${PROGRAM}`,
    ""
  ].join("\n")
}

/** Text inside a single-quoted zsh `_arguments` spec. */
const zshText = (text: string) => text.replace(/\\/g, "\\\\").replace(/'/g, "'\\''").replace(/([[\]:])/g, "\\$1")

const zshOption = (o: OptionSpec): string => {
  const value = o.value === undefined
    ? ""
    : `:${o.value}:${o.choices !== undefined ? `(${o.choices.join(" ")})` : o.complete === "directory" ? "_files -/" : " "}`
  return `'${o.repeatable === true ? "*" : ""}--${o.name}[${zshText(o.description)}]${value}'`
}

const zsh = (): string => {
  const commandCases = COMMANDS.map((c) => {
    const args = c.args.map((a, i) =>
      `'${a.optional === true ? ":" : ""}${i + 1}:${a.name}:${a.choices !== undefined ? `(${a.choices.join(" ")})` : " "}'`
    )
    return [`        (${c.name})`, `          _arguments -s ${[...optionsOf(c).map(zshOption), "'(- *)--help[show help]'", ...args].join(" \\\n            ")} ;;`]
      .join("\n")
  })
  return [
    `#compdef ${PROGRAM}`,
    `# zsh completion for ${PROGRAM}: save it as _${PROGRAM} in a directory of $fpath (then run compinit),`,
    `# or \`source <(${PROGRAM} completions zsh)\` after compinit.`,
    `${FUNCTION}() {`,
    `  local context state state_descr line`,
    `  typeset -A opt_args`,
    `  local -a commands`,
    `  commands=(`,
    ...COMMANDS.map((c) => `    '${c.name}:${zshText(c.summary)}'`),
    `    'help:show the help of a command'`,
    `  )`,
    `  _arguments -C ${[...globals().map(zshOption), "'(- *)--help[show help]'", "'(- *)--version[print the version]'"].join(" \\\n    ")} \\`,
    `    '1: :->command' '*:: :->args'`,
    `  case $state in`,
    `    (command) _describe -t commands command commands ;;`,
    `    (args)`,
    `      case $words[1] in`,
    `        (help) _describe -t commands command commands ;;`,
    ...commandCases,
    `      esac ;;`,
    `  esac`,
    `}`,
    `if [[ $zsh_eval_context[-1] == loadautofunc ]]; then`,
    `  ${FUNCTION} "$@"`,
    `else`,
    `  compdef ${FUNCTION} ${PROGRAM}`,
    `fi`,
    ""
  ].join("\n")
}

/** Text inside a single-quoted fish string. */
const fishText = (text: string) => `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`

const fishOption = (condition: string, o: OptionSpec): string => {
  const value = o.value === undefined
    ? ""
    : o.choices !== undefined
    ? ` -x -a ${fishText(o.choices.join(" "))}`
    : o.complete === "directory"
    ? " -x -a '(__fish_complete_directories)'"
    : " -x"
  return `complete -c ${PROGRAM} -n ${fishText(condition)} -l ${o.name}${value} -d ${fishText(o.description)}`
}

const fish = (): string => {
  const names = COMMANDS.map((c) => c.name).join(" ")
  return [
    `# fish completion for ${PROGRAM}: \`${PROGRAM} completions fish | source\`, or save it as`,
    `# ~/.config/fish/completions/${PROGRAM}.fish`,
    `complete -c ${PROGRAM} -f`,
    ...COMMANDS.map((c) => `complete -c ${PROGRAM} -n '__fish_use_subcommand' -a ${c.name} -d ${fishText(c.summary)}`),
    `complete -c ${PROGRAM} -n '__fish_use_subcommand' -a help -d 'show the help of a command'`,
    `complete -c ${PROGRAM} -n '__fish_seen_subcommand_from help' -a ${fishText(names)}`,
    ...globals().map((o) => fishOption("__fish_use_subcommand", o)),
    `complete -c ${PROGRAM} -s h -l help -d 'show help'`,
    `complete -c ${PROGRAM} -n '__fish_use_subcommand' -l version -d 'print the version'`,
    ...COMMANDS.flatMap((c) => [
      ...optionsOf(c).map((o) => fishOption(`__fish_seen_subcommand_from ${c.name}`, o)),
      ...c.args.flatMap((a) =>
        a.choices === undefined ? [] : [`complete -c ${PROGRAM} -n ${fishText(`__fish_seen_subcommand_from ${c.name}`)} -a ${fishText(a.choices.join(" "))}`]
      )
    ]),
    ""
  ].join("\n")
}

/** The completion script of `shell`. */
export const script = (shell: (typeof SHELLS)[number]): string => shell === "bash" ? bash() : shell === "zsh" ? zsh() : fish()
