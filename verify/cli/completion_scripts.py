"""The bash, zsh and fish completion scripts, written from `CommandSpec`s (verify/cli/completion_command.py walks the
parser into them; they are defined here, below it, so that the two modules do not import each other).

Each script carries the same tables (subcommands, options and what each option's value completes to, per command
path) and the same walk over the words typed so far: words that name a subcommand of the current path descend
into it; an option that takes a value skips that value (and `-c`/`--config` remembers it for cluster names).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PROG = "istio-vault-ca"


@dataclass(frozen=True)
class OptionSpec:
    """One option: its flags, a one-line description, and what its value completes to (None: takes no value)."""

    flags: tuple[str, ...]
    help: str
    value: str | None


@dataclass(frozen=True)
class CommandSpec:
    """One command of the tree (the top level is the empty path)."""

    path: tuple[str, ...]
    options: tuple[OptionSpec, ...]
    subcommands: tuple[tuple[str, str], ...]  # (name, one-line description), hidden ones left out
    positional: str | None  # what a positional argument completes to

    @property
    def name(self) -> str:
        return " ".join(self.path)


def _header(shell: str) -> str:
    return (
        f"# {shell} completion for istio-vault-ca, generated from its argument parser by `{PROG} completion {shell}`."
    )


def _quote(text: str) -> str:
    """A single-quoted POSIX shell word (bash and zsh)."""
    return "'" + text.replace("'", "'\\''") + "'"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _values(specs: Iterable[CommandSpec]) -> dict[str, list[str]]:
    """kind -> the `path|flag` keys whose option takes a value of that kind."""
    kinds: dict[str, list[str]] = {}
    for spec in specs:
        for option in spec.options:
            if option.value is not None:
                kinds.setdefault(option.value, []).extend(f"{spec.name}|{flag}" for flag in option.flags)
    return kinds


def _posix_case(function: str, argument: str, rows: list[tuple[list[str], str]]) -> list[str]:
    """A POSIX `case` function printing `output` for the first pattern list matching `argument`."""
    lines = [f"{function}() {{", f'    case "{argument}" in']
    for patterns, output in rows:
        lines.append(f"        {'|'.join(_quote(p) for p in patterns)}) {output};;")
    lines += ["    esac", "}", ""]
    return lines


def _tables(specs: list[CommandSpec], prefix: str, *, described: bool) -> list[str]:
    """The four table functions shared by bash and zsh. `described`: zsh's `name:description` lines."""

    def entries(pairs: Iterable[tuple[str, str]]) -> str:
        if described:
            return "printf '%s\\n' " + " ".join(_quote(f"{n}:{d.replace(':', chr(92) + ':')}") for n, d in pairs)
        return "echo " + _quote(" ".join(n for n, _ in pairs))

    subcommands = [([s.name], entries(s.subcommands)) for s in specs if s.subcommands]
    options = [([s.name], entries((f, o.help) for o in s.options for f in o.flags)) for s in specs]
    values = [(keys, f"echo {_quote(kind)}") for kind, keys in sorted(_values(specs).items())]
    positionals: dict[str, list[str]] = {}
    for spec in specs:
        if spec.positional is not None:
            positionals.setdefault(spec.positional, []).append(spec.name)
    return [
        *_posix_case(f"{prefix}_subcommands", "$1", subcommands),
        *_posix_case(f"{prefix}_options", "$1", options),
        *_posix_case(f"{prefix}_value", "$1|$2", values),
        *_posix_case(f"{prefix}_positional", "$1", [(p, f"echo {_quote(k)}") for k, p in sorted(positionals.items())]),
    ]


_BASH_BODY = r"""
# COMPREPLY for a value: $1 its kind, $2 the word being typed, $3 the config file or '', $4 the command.
_istio_vault_ca_values() {
    case "$1" in
        choice:*) mapfile -t COMPREPLY < <(compgen -W "${1#choice:}" -- "$2");;
        config)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$2"; compgen -f -X '!*.y*ml' -- "$2" | grep -E '\.ya?ml$');;
        file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$2");;
        dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$2");;
        cluster)
            local config="${3/#\~/$HOME}" names
            if [ -n "$config" ]; then
                names="$("$4" __complete clusters -c "$config" 2>/dev/null)"
            else
                names="$("$4" __complete clusters 2>/dev/null)"
            fi
            mapfile -t COMPREPLY < <(compgen -W "$names" -- "$2");;
    esac
}

_istio_vault_ca() {
    local cur="${COMP_WORDS[COMP_CWORD]}" path='' config='' word kind subs i=1
    COMPREPLY=()
    while [ "$i" -lt "$COMP_CWORD" ]; do
        word="${COMP_WORDS[i]}"
        case "$word" in
            -*)
                kind="$(_istio_vault_ca_value "$path" "$word")"
                if [ -n "$kind" ]; then
                    if [ "$kind" = config ]; then config="${COMP_WORDS[i+1]}"; fi
                    i=$((i + 1))
                fi;;
            *)
                subs=" $(_istio_vault_ca_subcommands "$path") "
                if [[ "$subs" == *" $word "* ]]; then path="${path:+$path }$word"; fi;;
        esac
        i=$((i + 1))
    done
    if [ "$COMP_CWORD" -gt 1 ]; then
        word="${COMP_WORDS[COMP_CWORD-1]}"
        if [[ "$word" == -* ]]; then
            kind="$(_istio_vault_ca_value "$path" "$word")"
            if [ -n "$kind" ]; then
                _istio_vault_ca_values "$kind" "$cur" "$config" "${COMP_WORDS[0]}"
                return 0
            fi
        fi
    fi
    if [[ "$cur" == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_istio_vault_ca_options "$path")" -- "$cur")
        return 0
    fi
    subs="$(_istio_vault_ca_subcommands "$path")"
    if [ -n "$subs" ]; then
        mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
        return 0
    fi
    kind="$(_istio_vault_ca_positional "$path")"
    if [ -n "$kind" ]; then _istio_vault_ca_values "$kind" "$cur" "$config" "${COMP_WORDS[0]}"; fi
    return 0
}

complete -F _istio_vault_ca istio-vault-ca
"""


def bash(specs: list[CommandSpec]) -> str:
    head = [
        _header("bash"),
        "# Load it with `source <(istio-vault-ca completion bash)` in ~/.bashrc, or save it as",
        "# ~/.local/share/bash-completion/completions/istio-vault-ca.",
        "",
    ]
    return "\n".join([*head, *_tables(specs, "_istio_vault_ca", described=False)]) + _BASH_BODY


_ZSH_BODY = r"""
# Offer the values of one kind: $1 kind, $2 the config file or '', $3 the command.
_istio_vault_ca_values() {
    local -a found
    case "$1" in
        choice:*) found=(${=${1#choice:}}); compadd -a found;;
        config) _files -g '*.(yaml|yml)';;
        file) _files;;
        dir) _files -/;;
        cluster)
            if [[ -n "$2" ]]; then
                found=(${(f)"$("$3" __complete clusters -c "${~2}" 2>/dev/null)"})
            else
                found=(${(f)"$("$3" __complete clusters 2>/dev/null)"})
            fi
            compadd -a found;;
    esac
}

_istio_vault_ca() {
    local path_='' config='' word kind i=2
    local -a subs names
    while (( i < CURRENT )); do
        word="${words[i]}"
        if [[ "$word" == -* ]]; then
            kind="$(_istio_vault_ca_value "$path_" "$word")"
            if [[ -n "$kind" ]]; then
                [[ "$kind" == config ]] && config="${words[i+1]}"
                (( i++ ))
            fi
        else
            subs=("${(@f)$(_istio_vault_ca_subcommands "$path_")}")
            names=("${(@)subs%%:*}")
            if (( ${names[(Ie)$word]} )); then path_="${path_:+$path_ }$word"; fi
        fi
        (( i++ ))
    done
    if (( CURRENT > 2 )) && [[ "${words[CURRENT-1]}" == -* ]]; then
        kind="$(_istio_vault_ca_value "$path_" "${words[CURRENT-1]}")"
        if [[ -n "$kind" ]]; then
            _istio_vault_ca_values "$kind" "$config" "${words[1]}"
            return
        fi
    fi
    if [[ "${words[CURRENT]}" == -* ]]; then
        subs=("${(@f)$(_istio_vault_ca_options "$path_")}")
        _describe -t options option subs
        return
    fi
    subs=("${(@f)$(_istio_vault_ca_subcommands "$path_")}")
    if [[ -n "${subs[1]}" ]]; then
        _describe -t commands command subs
        return
    fi
    kind="$(_istio_vault_ca_positional "$path_")"
    [[ -n "$kind" ]] && _istio_vault_ca_values "$kind" "$config" "${words[1]}"
}

if [[ "${funcstack[1]}" == _istio-vault-ca ]]; then
    _istio_vault_ca "$@"
else
    compdef _istio_vault_ca istio-vault-ca
fi
"""


def zsh(specs: list[CommandSpec]) -> str:
    head = [
        f"#compdef {PROG}",
        _header("zsh"),
        "# Load it with `source <(istio-vault-ca completion zsh)` after compinit in ~/.zshrc, or save it as",
        "# _istio-vault-ca in a directory of $fpath.",
        "",
    ]
    return "\n".join([*head, *_tables(specs, "_istio_vault_ca", described=True)]) + _ZSH_BODY


_FISH_BODY = r"""
# The command path typed so far (subcommands only; option values skipped).
function __istio_vault_ca_path
    set -l path_ ''
    set -l skip 0
    for word in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
        else if string match -q -- '-*' $word
            set -l kind (__istio_vault_ca_value "$path_" $word)
            test -n "$kind"; and set skip 1
        else if contains -- $word (__istio_vault_ca_subcommands "$path_")
            set path_ (string trim -- "$path_ $word")
        end
    end
    echo $path_
end

function __istio_vault_ca_at --argument-names want
    set -l here (__istio_vault_ca_path)
    test "$here" = "$want"
end

# Directories and *.yaml / *.yml files starting with the word being typed.
function __istio_vault_ca_yaml
    set -l token (commandline -ct)
    for found in $token*
        if test -d $found
            echo $found/
        else if string match -qr '\.ya?ml$' -- $found
            echo $found
        end
    end
end

# The config's cluster names, from the -c/--config given on the command line (or the default config).
function __istio_vault_ca_clusters
    set -l tokens (commandline -opc)
    set -l config
    for i in (seq 2 (count $tokens))
        if contains -- $tokens[$i] -c --config; and test $i -lt (count $tokens)
            set config $tokens[(math $i + 1)]
        end
    end
    if test -n "$config"
        $tokens[1] __complete clusters -c $config 2>/dev/null
    else
        $tokens[1] __complete clusters 2>/dev/null
    end
end
"""

_FISH_VALUE = {
    "config": "-x -a '(__istio_vault_ca_yaml)'",
    "file": "-r -F",
    "dir": "-x -a '(__fish_complete_directories)'",
    "cluster": "-x -a '(__istio_vault_ca_clusters)'",
    "any": "-x",
}


def _fish_kind(kind: str) -> str:
    if kind.startswith("choice:"):
        return f"-x -a {_fish_quote(kind.removeprefix('choice:'))}"
    return _FISH_VALUE[kind]


def fish(specs: list[CommandSpec]) -> str:
    lines = [_header("fish"), "# Save it as ~/.config/fish/completions/istio-vault-ca.fish.", ""]
    lines += ["function __istio_vault_ca_subcommands --argument-names path_", '    switch "$path_"']
    for spec in specs:
        if spec.subcommands:
            lines += [f"        case {_fish_quote(spec.name)}", *(f"            echo {n}" for n, _ in spec.subcommands)]
    lines += ["    end", "end", ""]
    lines += ["function __istio_vault_ca_value --argument-names path_ word", '    switch "$path_|$word"']
    for kind, keys in sorted(_values(specs).items()):
        lines += [f"        case {' '.join(_fish_quote(k) for k in keys)}", f"            echo {_fish_quote(kind)}"]
    lines += ["    end", "end", _FISH_BODY.rstrip("\n"), "", f"complete -c {PROG} -f"]
    for spec in specs:
        condition = f"-n {_fish_quote(f'__istio_vault_ca_at {_quote(spec.name)}')}"
        for name, text in spec.subcommands:
            lines.append(f"complete -c {PROG} {condition} -a {name} -d {_fish_quote(text)}")
        for option in spec.options:
            flags = " ".join(f"-s {f[1:]}" if len(f) == 2 else f"-l {f[2:]}" for f in option.flags)
            value = "" if option.value is None else " " + _fish_kind(option.value)
            lines.append(f"complete -c {PROG} {condition} {flags}{value} -d {_fish_quote(option.help)}")
        if spec.positional is not None and not spec.subcommands:
            lines.append(f"complete -c {PROG} {condition} {_fish_kind(spec.positional)}")
    return "\n".join(lines) + "\n"
